"""Make ``--help`` read like a manual page; what to write after each option is declared
with it (``metavar=``), and the setting behind a default is named in ENV_DEFAULTS.

Typer labels a flag and an argument with its Python type (``<bool>``, ``<list[Path]>``)
whatever is declared; ``tidy`` drops those labels, appends to an option's help which
setting gives its default and what it is now (read as every command reads its settings:
the environment, then USAGELENS_CONFIG_FILE), and lets a docstring wrap as paragraphs.
It runs when the command line starts, never at import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import typer

from usagelens.config import Settings, describe_duration, load_settings
from usagelens.domain.errors import UsageLensError

__all__ = ["ENV_DEFAULTS", "tidy"]

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
    settings = _settings()
    for name, command in _commands(group):
        if command.help:
            command.help = _paragraphs(command.help)
        context = typer.Context(command, info_name=name)
        helper = command.get_help_option(context)
        for param in [*command.params, *([helper] if helper is not None else [])]:
            _tidy_param(name, param, settings)
    return group


def _settings() -> Settings | None:
    try:
        return load_settings()
    except UsageLensError:
        return None  # the command itself will say what is wrong


def _commands(group: Any, name: str = "usagelens") -> Iterator[tuple[str, Any]]:
    yield name, group
    for sub_name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, sub_name)


def _tidy_param(command: str, param: Any, settings: Settings | None) -> None:
    if getattr(param, "param_type_name", None) == "argument":
        param.display_type_rich = lambda ctx: None  # its name in capitals says enough
    elif getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""
    setting = ENV_DEFAULTS.get((command, param.name))
    if setting is not None and getattr(param, "help", None) is not None:
        param.help = f"{param.help}; default from {setting} ({_now(setting, settings)})"


def _now(setting: str, settings: Settings | None) -> str:
    """Say a setting's value now, or that it is not set and what the built-in default is."""
    field = setting.removeprefix("USAGELENS_").lower()
    if settings is not None and field in settings.model_fields_set:
        return f"now {_shown(getattr(settings, field))}"
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    if default is None:
        return "not set: " + ("all" if setting == "USAGELENS_WINDOW" else "none")
    return f"not set: {_shown(default) or 'none'}"


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, timedelta):
        return describe_duration(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _paragraphs(text: str) -> str:
    """Join a docstring's lines into paragraphs; an example starts a paragraph of its own."""
    text = re.sub(r"\s+Example: ", "\n\nExample: ", text.strip())
    blocks = re.split(r"\n\s*\n", text)
    return "\n\n".join(" ".join(line.strip() for line in b.splitlines()) for b in blocks)
