"""What the governance commands share: the acting user and the tables of gates and transitions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.markup import escape
from rich.table import Table

from cxops.cli._output import console
from cxops.config import Settings, get_settings

__all__ = ["gates_table", "governance", "print_gates"]


@contextmanager
def governance(settings: Settings | None = None) -> Iterator[tuple[Any, Any]]:
    """The governance service on the configured metadata store, and the local user (CXOPS_ACTOR)."""
    from cxops.governance.service import Governance

    settings = settings or get_settings()
    with Governance.from_settings(settings) as gov:
        yield gov, gov.actor(settings.actor)


def gates_table(gates: Iterable[dict[str, Any]], title: str = "") -> Table:
    table = Table("gate", "check", "required", "actual", "result", title=title or None)
    for gate in gates:
        verdict = "[green]pass[/]" if gate["passed"] else "[bold red]FAIL[/]"
        table.add_row(
            gate["gate"], escape(gate["check"]), escape(gate["required"]), escape(gate["actual"]), verdict
        )
    return table


def print_gates(gates: list[dict[str, Any]], title: str = "") -> None:
    console.print(gates_table(gates, title))
    for gate in gates:
        if not gate["passed"] and gate.get("fix"):
            console.print(f"  [red]✗[/] {gate['gate']}: {escape(gate['fix'])}")
