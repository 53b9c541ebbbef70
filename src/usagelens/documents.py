"""Decode YAML and JSON documents (price lists, policies) the way the module writes them.

YAML mapping keys are kept exactly as written: an unquoted ``0080:`` or ``6690:`` is the
string ``"0080"`` / ``"6690"``, never a number (and never an octal one).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from usagelens.domain.errors import InvalidInput, PriceListError
from usagelens.domain.prices import PriceList, price_list_from_document


class _RawKeyLoader(yaml.SafeLoader):
    """A safe YAML loader whose scalar mapping keys stay the strings they were written as."""


def _construct_mapping(loader: _RawKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key: Any = key_node.value
        else:
            key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be scalars", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_RawKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_document(data: bytes | str, *, what: str = "document") -> object:
    """Decode a YAML or JSON document; JSON is tried first when it looks like JSON."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{what} is not valid UTF-8 (offset {exc.start})") from None
    text = data.strip().removeprefix("\ufeff")
    if not text:
        raise InvalidInput(f"{what} is empty")
    if text[0] in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # flow-style YAML is still YAML
        except (RecursionError, ValueError):
            raise InvalidInput(_TOO_BIG.format(what=what)) from None
    try:
        return yaml.load(text, Loader=_RawKeyLoader)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{what} is neither valid YAML nor JSON: {_one_line(exc)}") from None
    except (RecursionError, ValueError):
        raise InvalidInput(_TOO_BIG.format(what=what)) from None


_TOO_BIG = "{what} is nested too deeply or holds a number too long to read"


def load_price_list(data: bytes | str) -> PriceList:
    """Decode and validate a price list in YAML or JSON."""
    try:
        document = load_document(data, what="price list")
    except InvalidInput as exc:
        raise PriceListError(str(exc)) from None
    return price_list_from_document(document)


def _one_line(exc: yaml.YAMLError) -> str:
    """Say where and what a YAML error is on one line (line and column from 1, no
    PyYAML's ``"<unicode string>"`` for the text's name: the caller names the file)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        context = f" ({exc.context})" if exc.context else ""
        return f"{where}: {exc.problem}{context}"
    return " ".join(str(exc).replace('in "<unicode string>", ', "").split())


class _QuotingDumper(yaml.SafeDumper):
    """A safe dumper that quotes number-like strings, so that any YAML reader keeps them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _NUMBER_LIKE.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_NUMBER_LIKE = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?:[.:][0-9_]*)*(?:[eE][-+]?[0-9]+)?|0[xXoObB][0-9a-fA-F_]+)"
)
_QuotingDumper.add_representer(str, _represent_str)


def dump_yaml(document: object) -> str:
    """Render a document as YAML, quoting keys that a YAML reader could take for numbers."""
    return yaml.dump(document, Dumper=_QuotingDumper, allow_unicode=True, sort_keys=False)
