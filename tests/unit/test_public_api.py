"""The package's public surface is what we mean to export, and the domain stays pure."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import usagelens

DOMAIN = Path(usagelens.__file__).parent / "domain"


def test_exported_names() -> None:
    assert sorted(usagelens.__all__) == ["Handlers", "UsageLensError", "__version__", "build"]


def test_domain_imports_only_the_standard_library() -> None:
    paths = sorted(DOMAIN.rglob("*.py"))
    assert len(paths) > 10
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                allowed = top in sys.stdlib_module_names or name.startswith("usagelens.domain")
                assert allowed or top == "__future__", f"{path.relative_to(DOMAIN)} imports {name}"
