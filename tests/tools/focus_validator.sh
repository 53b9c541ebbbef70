#!/usr/bin/env bash
# Build the FinOps Foundation's focus-validator 2.2.1 (FOCUS 1.2 rules) in its own virtual
# environment, for the FOCUS export's tests; its dependencies (pandas, duckdb, polars,
# pyarrow, ...) stay out of the product's .venv. Usage: focus_validator.sh DIR [PYTHON]
#
# Its package asks for Python >= 3.12 but runs on 3.11 once one f-string (a backslash inside
# an f-string expression, in the `ignore_keys` join) is rewritten as a plain concatenation;
# pyarrow needs numpy >= 2 beside it, which its pin (^1.26) refuses, so numpy is installed
# after it. A stamp file makes a second run a no-op.
set -euo pipefail
dir=${1:?usage: focus_validator.sh DIR [PYTHON]}
python=${2:-python3}
version=2.2.1
stamp="$dir/.installed-$version"
[ -f "$stamp" ] && exit 0

rm -rf "$dir"
"$python" -m venv "$dir"
pip=("$dir/bin/python" -m pip --disable-pip-version-check --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${pip[@]}" download --no-deps --no-binary :all: --ignore-requires-python \
    "focus-validator==$version" -d "$work"
tar -xzf "$work/focus_validator-$version.tar.gz" -C "$work"
src="$work/focus_validator-$version"
"$dir/bin/python" - "$src/focus_validator/config_objects/focus_to_duckdb_converter.py" <<'PY'
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
old = """f"'{k.replace('\\"', '\\"\\"')}'" for k in ignore_keys"""
new = """"'" + k.replace('"', '""') + "'" for k in ignore_keys"""
if old not in text:
    sys.exit(f"focus-validator: the line to patch is not in {path}")
open(path, "w", encoding="utf-8").write(text.replace(old, new))
PY
"${pip[@]}" install --ignore-requires-python "$src"
"${pip[@]}" install "numpy>=2"
"$dir/bin/python" -c "import focus_validator.main"
touch "$stamp"
