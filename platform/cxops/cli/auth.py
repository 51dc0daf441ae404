"""`cxops auth ...`: API tokens. Acts as CXOPS_ACTOR on the local store, or, when CXOPS_API_URL is set, as
the holder of CXOPS_API_TOKEN through the platform API; either way the actor needs `auth.manage`, and the
same refusal prints the same message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from cxops.cli._output import console, err_console
from cxops.config import get_settings

if TYPE_CHECKING:
    from cxops.api.client import PlatformClient
    from cxops.governance.identity import Actor
    from cxops.governance.service import Governance

app = typer.Typer(
    help="Issue, list and revoke platform API tokens (needs auth.manage).", no_args_is_help=True
)


class _Remote:
    """Token administration through the platform API."""

    def __init__(self, client: PlatformClient) -> None:
        self.client = client

    def issue(self, user: str, name: str, days: int | None) -> tuple[str, Any]:
        issued = self.client.issue_token(user, name, days)
        return issued.token, issued.record

    def list(self) -> list[Any]:
        return list(self.client.list_tokens())

    def revoke(self, token_id: int, reason: str) -> Any:
        return self.client.revoke_token(token_id, reason=reason)


class _Embedded:
    """Token administration on the local store, as the configured actor."""

    def __init__(self, gov: Governance, actor: Actor) -> None:
        self.gov, self.actor = gov, actor

    def issue(self, user: str, name: str, days: int | None) -> tuple[str, Any]:
        from cxops.api import token_admin

        return token_admin.issue(self.gov, self.actor, user=user, name=name, expires_in_days=days)

    def list(self) -> list[Any]:
        from cxops.api import token_admin

        return list(token_admin.tokens(self.gov, self.actor))

    def revoke(self, token_id: int, reason: str) -> Any:
        from cxops.api import token_admin

        return token_admin.revoke(self.gov, self.actor, token_id, reason=reason)


@contextmanager
def _admin() -> Iterator[_Remote | _Embedded]:
    from cxops.api.client import client_from_settings

    client = client_from_settings(get_settings())
    if client is not None:
        with client:
            yield _Remote(client)
        return
    from cxops.governance.service import Governance

    settings = get_settings()
    with Governance.from_settings(settings) as gov:
        yield _Embedded(gov, gov.actor(settings.actor))


def _when(moment: datetime | None, empty: str = "-") -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else empty


def _state(token: Any) -> str:
    if token.revoked_at is not None:
        return "[red]revoked[/]"
    return "[green]active[/]" if token.active else "[yellow]expired[/]"


@app.command("issue")
def issue(
    user: str = typer.Option(..., "--user", "-u", help="Whose token: a user named in policies/roles.yaml."),
    name: str = typer.Option(..., "--name", "-n", help="What it is for, e.g. 'ci' or 'laptop'."),
    expires_in_days: int = typer.Option(None, "--expires-in-days", min=1, help="Default: never expires."),
) -> None:
    """Issue a token and print it; it is shown this once (only its hash is stored).

    Example: cxops auth issue --user maya --name laptop --expires-in-days 90
    """
    with _admin() as admin:
        token, record = admin.issue(user, name, expires_in_days)
    expires = _when(record.expires_at, "never")
    err_console.print(f"issued token {record.id} '{record.name}' for {record.user}, expires {expires}")
    err_console.print(
        "[bold yellow]warning:[/] this is the only time the token is shown; store it now "
        "(e.g. export CXOPS_API_TOKEN=...). A lost token cannot be recovered: revoke it and issue a new one"
    )
    # The token alone on stdout, so `TOKEN=$(cxops auth issue ...)` captures it.
    typer.echo(token)


@app.command("list")
def list_tokens(as_json: bool = typer.Option(False, "--json", help="Print the records as JSON.")) -> None:
    """Every token issued, active or not (never the tokens themselves; the prefix identifies one)."""
    with _admin() as admin:
        records = admin.list()
    if as_json:
        fields = ("id", "name", "user", "prefix", "created_by", "created_at", "expires_at", "revoked_at")
        rows = [{**{f: getattr(r, f) for f in fields}, "active": r.active} for r in records]
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("id", "user", "name", "prefix", "issued by", "issued", "expires", "state")
    for r in records:
        table.add_row(
            str(r.id),
            r.user,
            r.name,
            f"{r.prefix}…",
            r.created_by,
            _when(r.created_at),
            _when(r.expires_at, "never"),
            _state(r),
        )
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: int = typer.Argument(..., help="The token's id (`cxops auth list`)."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why; recorded in the audit log."),
) -> None:
    """Revoke a token at once; requests with it are refused from now on.

    Example: cxops auth revoke 3 --reason "laptop lost"
    """
    with _admin() as admin:
        record = admin.revoke(token_id, reason)
    console.print(f"token {record.id} '{record.name}' of {record.user} revoked at {_when(record.revoked_at)}")
