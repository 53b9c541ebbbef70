"""Make ``--help`` read like a manual page rather than a function signature.

Typer labels every option with its Python type (``<str>``, ``<list[Path]>``, ``<bool>``
on a flag). ``tidy`` replaces those with names of what to write (``WHEN``, ``FILE``…),
shows nothing after a flag, tells which setting supplies an option's default and what it
is set to now, and lets a command's docstring wrap as one paragraph on any terminal.
It runs when the command line starts, never at import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import typer

from usagelens.config import Settings

__all__ = ["ENV_DEFAULTS", "METAVARS", "tidy"]

METAVARS = {
    "since": "WHEN", "until": "WHEN", "end": "WHEN",
    "url": "URL", "database": "URL", "source": "SOURCE",
    "output": "FILE", "file": "FILE", "files": "FILE...",
    "host": "HOST", "port": "PORT", "simulator_port": "PORT",
    "workers": "N", "concurrency": "N", "requests": "N", "retries": "N",
    "branch": "N", "branches": "N", "width": "COLUMNS",
    "timeout": "SECONDS", "delay": "SECONDS",
    "refresh_every": "PERIOD", "older_than": "AGE",
    "format": "FORMAT", "method": "METHOD", "form": "KEY=VALUE",
    "header": "'NAME: VALUE'", "json_body": "JSON", "drop": "ORIGIN",
}  # fmt: skip
"""What to write after an option, by parameter name (else the name in capitals)."""

ENV_DEFAULTS = {
    ("serve", "refresh_every"): "USAGELENS_REFRESH_EVERY",
    ("collect", "source"): "USAGELENS_SOURCES",
    ("collect", "branch"): "USAGELENS_BRANCHES",
    ("collect", "retries"): "USAGELENS_SOURCE_RETRIES",
    ("collect", "timeout"): "USAGELENS_SOURCE_TIMEOUT",
    ("prune", "older_than"): "USAGELENS_RETENTION",
    ("report", "since"): "USAGELENS_WINDOW",
    ("diff", "since"): "USAGELENS_WINDOW",
}
"""(command, parameter) → the setting that gives the option's default when it is left out."""


def tidy(group: Any) -> Any:
    """Rewrite the help of a click group built by Typer, and of every command in it."""
    for name, command in _commands(group):
        if command.help:
            command.help = _paragraphs(command.help)
        context = typer.Context(command, info_name=name)
        helper = command.get_help_option(context)
        for param in [*command.params, *([helper] if helper is not None else [])]:
            _tidy_param(name, param)
    return group


def _commands(group: Any, name: str = "usagelens") -> Iterator[tuple[str, Any]]:
    yield name, group
    for sub_name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, sub_name)


def _tidy_param(command: str, param: Any) -> None:
    if getattr(param, "param_type_name", None) == "argument":
        param.display_type_rich = lambda ctx: None  # its name in capitals says enough
    elif getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""
    elif param.metavar is None and param.name:
        param.metavar = METAVARS.get(param.name, param.name.upper())
    setting = ENV_DEFAULTS.get((command, param.name))
    if setting is not None and getattr(param, "help", None) is not None:
        value = os.environ.get(setting)
        now = f"now {value}" if value else f"not set: {_built_in(setting)}"
        param.help = f"{param.help}; default from {setting} ({now})"


def _built_in(setting: str) -> str:
    """Tell a setting's built-in default in words."""
    field = Settings.model_fields[setting.removeprefix("USAGELENS_").lower()]
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "all" if setting == "USAGELENS_WINDOW" else "none"
    if isinstance(default, list):
        return ",".join(map(str, default)) or "none"
    return str(default)


def _paragraphs(text: str) -> str:
    """Join a docstring's lines into paragraphs; an example starts a paragraph of its own."""
    text = re.sub(r"\s+Example: ", "\n\nExample: ", text.strip())
    blocks = re.split(r"\n\s*\n", text)
    return "\n\n".join(" ".join(line.strip() for line in b.splitlines()) for b in blocks)
