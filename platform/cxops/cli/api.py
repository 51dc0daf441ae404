"""`cxops api ...`: run the platform API."""

from __future__ import annotations

import typer

from cxops.cli._output import console, err_console
from cxops.config import get_settings

app = typer.Typer(help="The platform API: governance over HTTP, with bearer tokens.", no_args_is_help=True)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@app.callback()
def _group() -> None:
    """The platform API: governance over HTTP, with bearer tokens."""


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8700, help="TCP port."),
) -> None:
    """Serve the platform API until Ctrl-C; OpenAPI docs at /docs. Callers need a token (`cxops auth issue`).

    Example: cxops api serve --port 8700
    """
    from cxops.api.server import serve as run

    settings = get_settings()
    if host not in _LOOPBACK:
        err_console.print(
            f"[yellow]warning:[/] serving plain HTTP on {host}; bearer tokens cross the network in every "
            "request, so put a TLS proxy in front"
        )
    console.print(f"CXOps API on http://{host}:{port} (docs at /docs), store {settings.metadata_url}")
    run(settings, host, port)
