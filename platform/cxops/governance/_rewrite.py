"""Remove rows from files without ever leaving one half-written.

Every file of a rewrite is locked (the lock `cxops.features` ingestion takes, so an ingestion running at
the same time cannot bring removed rows back), every new version is written to a temporary file first, and
only when all are written do they replace the originals (`os.replace`, atomic). A failure before that
leaves every original as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cxops.features._offline import _locked

__all__ = ["rewrite_lines", "rewrite_parquet"]

ParquetDrop = Callable[[Path, pa.Table], np.ndarray]
"""(file, its table) -> boolean mask of the rows to remove."""
LineDrop = Callable[[Path, str], bool]


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _existing(paths: Iterable[Path]) -> list[Path]:
    return sorted(path for path in {Path(p) for p in paths} if path.is_file())


@contextmanager
def _all_locked(paths: list[Path]) -> Iterator[None]:
    with ExitStack() as stack:
        for path in paths:  # sorted by the caller: one order for every writer, so no two deadlock
            stack.enter_context(_locked(path))
        yield


def _replace_all(new: dict[Path, Callable[[Path], None]]) -> None:
    """Write each file's new content to its temporary file, then move them all into place."""
    written: list[Path] = []
    try:
        for path, write in new.items():
            tmp = _temporary(path)
            written.append(tmp)
            write(tmp)
    except BaseException:
        for tmp in written:
            tmp.unlink(missing_ok=True)
        raise
    for path in new:
        os.replace(_temporary(path), path)


def rewrite_parquet(paths: Iterable[Path], drop: ParquetDrop, *, dry_run: bool = False) -> dict[Path, int]:
    """Remove the rows `drop` selects from each parquet file (schema and metadata kept); rows removed per
    file that had any. Missing files are skipped."""
    files = _existing(paths)
    with _all_locked(files):
        kept: dict[Path, pa.Table] = {}
        removed: dict[Path, int] = {}
        for path in files:
            table = pq.read_table(path)
            mask = np.asarray(drop(path, table), dtype=bool)
            if mask.any():
                removed[path] = int(mask.sum())
                kept[path] = table.filter(pa.array(~mask))
        if not dry_run and kept:
            _replace_all({path: lambda tmp, t=table: pq.write_table(t, tmp) for path, table in kept.items()})
    return removed


def rewrite_lines(paths: Iterable[Path], drop: LineDrop, *, dry_run: bool = False) -> dict[Path, int]:
    """Remove the lines `drop` selects from each text file; lines removed per file that had any."""
    files = _existing(paths)
    with _all_locked(files):
        kept: dict[Path, str] = {}
        removed: dict[Path, int] = {}
        for path in files:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            remaining = [line for line in lines if not drop(path, line)]
            if len(remaining) < len(lines):
                removed[path] = len(lines) - len(remaining)
                kept[path] = "".join(remaining)
        if not dry_run and kept:
            _replace_all(
                {
                    path: lambda tmp, text=text: tmp.write_text(text, encoding="utf-8")
                    for path, text in kept.items()
                }
            )
    return removed
