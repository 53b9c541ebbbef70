"""``usagelens load``: fire N requests at C in flight and report what came back."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from usagelens.cli.common import (
    app,
    err,
    fail,
)
from usagelens.loadgen import Answer, Request, parse_form, parse_header, run_load


@app.command()
def load(
    url: Annotated[str, typer.Argument(help="URL to send every request to")],
    requests: Annotated[
        int, typer.Option("-n", "--requests", min=1, help="how many", metavar="N")
    ] = 1,
    concurrency: Annotated[
        int, typer.Option("-c", "--concurrency", min=1, help="in flight", metavar="N")
    ] = 1,
    method: Annotated[
        str, typer.Option("--method", "-X", help="HTTP method", metavar="METHOD")
    ] = "GET",
    form: Annotated[
        list[str] | None,
        typer.Option("--form", "-F", help="form field key=value (repeatable)", metavar="KEY=VALUE"),
    ] = None,
    json_body: Annotated[
        str | None, typer.Option("--json", help="JSON body", metavar="JSON")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="'Name: value' (repeatable)", metavar="'NAME: VALUE'"),
    ] = None,
    print_answers: Annotated[
        bool, typer.Option("--print", help="print each answer's JSON body instead of a summary")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds per request", metavar="SECONDS")] = 30.0,
) -> None:
    """Fire N requests with at most C in flight; print each answer or latency percentiles.

    Example: usagelens load http://127.0.0.1:8000/healthz -n 200 -c 20
    """
    try:
        headers = [parse_header(h) for h in header or []]
        fields = [pair for item in form or [] for pair in parse_form(item)]
        body = json.loads(json_body) if json_body is not None else None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    if fields and body is not None:
        raise fail("--form and --json cannot be combined", 2)
    method = method.upper()
    if method == "GET" and (fields or body is not None):
        method = "POST"
    request = Request(url, method, headers, fields, body)

    progress = None
    if not print_answers and err.is_terminal:
        from rich.progress import Progress

        progress = Progress(console=err, transient=True)
    task = progress.add_task("requests", total=requests) if progress else None

    def on_answer(answer: Answer) -> None:
        if print_answers:
            typer.echo(_answer_text(answer))
        elif progress is not None and task is not None:
            progress.advance(task)

    if progress:
        progress.start()
    try:
        summary = asyncio.run(
            run_load(request, count=requests, concurrency=concurrency, timeout=timeout,
                     on_answer=on_answer)
        )  # fmt: skip
    finally:
        if progress:
            progress.stop()
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(summary.statuses.items()))
    lines = [
        f"{len(summary.answers)} requests in {summary.elapsed:.3f} s "
        f"({summary.throughput:.1f} req/s), concurrency {concurrency}",
        f"status: {statuses}",
        "latency: " + ", ".join(
            f"{name} {summary.latency(q) * 1000:.1f} ms"
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        ),
    ]  # fmt: skip
    for line in lines:
        (err.print if print_answers else typer.echo)(line)
    if any(a.status is None or a.status >= 400 for a in summary.answers):
        raise typer.Exit(1)


def _answer_text(answer: Answer) -> str:
    if answer.status is None:
        return json.dumps({"request": answer.index, "error": answer.error})
    try:
        return json.dumps(json.loads(answer.body), ensure_ascii=False)
    except ValueError:
        return answer.body.decode("utf-8", "replace")
