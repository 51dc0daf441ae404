"""What the governance commands share: the acting user and the tables of gates and transitions."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.markup import escape
from rich.table import Table

from cxops.cli._output import console
from cxops.config import Settings, get_settings

__all__ = ["gates_table", "governance", "platform", "print_gates"]


@contextmanager
def governance(settings: Settings | None = None) -> Iterator[tuple[Any, Any]]:
    """The governance service on the configured metadata store, and the local user (CXOPS_ACTOR)."""
    from cxops.governance.service import Governance

    settings = settings or get_settings()
    with Governance.from_settings(settings) as gov:
        yield gov, gov.actor(settings.actor)


class _Embedded:
    """Governance with the local user bound: the same calls as `PlatformClient`, on the local store."""

    def __init__(self, gov: Any, actor: Any) -> None:
        self._gov, self._actor = gov, actor

    def __getattr__(self, name: str) -> Any:
        return functools.partial(getattr(self._gov, name), self._actor)


@contextmanager
def platform(settings: Settings | None = None) -> Iterator[Any]:
    """The platform API as the holder of CXOPS_API_TOKEN when CXOPS_API_URL is set (production mode), else
    the local metadata store as CXOPS_ACTOR (embedded mode): the calls and their errors are the same."""
    from cxops.api.client import client_from_settings

    settings = settings or get_settings()
    client = client_from_settings(settings)
    if client is not None:
        with client:
            yield client
        return
    with governance(settings) as (gov, actor):
        yield _Embedded(gov, actor)


def _row(gate: Any) -> dict[str, Any]:
    return gate if isinstance(gate, dict) else gate.model_dump()


def gates_table(gates: Iterable[dict[str, Any]], title: str = "") -> Table:
    table = Table("gate", "check", "required", "actual", "result", title=title or None)
    for gate in map(_row, gates):
        verdict = "[green]pass[/]" if gate["passed"] else "[bold red]FAIL[/]"
        table.add_row(
            gate["gate"], escape(gate["check"]), escape(gate["required"]), escape(gate["actual"]), verdict
        )
    return table


def print_gates(gates: Iterable[Any], title: str = "") -> None:
    rows = [_row(gate) for gate in gates]
    console.print(gates_table(rows, title))
    for gate in rows:
        if not gate["passed"] and gate.get("fix"):
            console.print(f"  [red]✗[/] {gate['gate']}: {escape(gate['fix'])}")
