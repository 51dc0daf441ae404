"""Console output shared by the commands: progress lines, tables, errors."""

from __future__ import annotations

from rich.console import Console

__all__ = ["console", "err_console", "step"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def step(message: str) -> None:
    console.print(f"[bold cyan]==>[/] {message}")
