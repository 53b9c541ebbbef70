"""The ``usagelens`` command line, one module per area; every command talks to a
``Client`` (the local store, or a server with ``--url``)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from usagelens import __version__, clihelp
from usagelens.cli import (  # noqa: F401  (each registers its commands)
    admin,
    data,
    load,
    recommendations,
    reports,
    serve,
)
from usagelens.cli.common import ENGINES, app, err, exit_with
from usagelens.domain.errors import UsageLensError
from usagelens.storage.errors import DATABASE_ERRORS, classify


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"usagelens {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """usagelens: what each team's infrastructure uses, what it costs, what to cut.

    Settings come from USAGELENS_* variables (and USAGELENS_CONFIG_FILE); see the README.
    """


def main(args: list[str] | None = None) -> None:
    """Run the command line: every error ends it with one line and exit code 1.

    Domain errors print their message; database errors are classified as the API
    classifies them (``storage.errors``); anything else is an internal error, shown as
    one line too (``USAGELENS_LOG_LEVEL=debug`` adds the traceback).
    """
    try:
        clihelp.tidy(typer.main.get_command(app))(args=args, prog_name="usagelens")
    except UsageLensError as exc:
        exit_with(str(exc))
    except DATABASE_ERRORS as exc:
        exit_with(str(classify(exc)))
    except Exception as exc:
        if os.environ.get("USAGELENS_LOG_LEVEL", "").lower() == "debug":
            err.print_exception()
        exit_with(f"internal error ({type(exc).__name__}: {exc}); run again with "
                   "USAGELENS_LOG_LEVEL=debug to see where")  # fmt: skip
    finally:
        while ENGINES:
            ENGINES.pop().dispose()


__all__ = ["app", "main"]
