"""The HTML drift report of one model version: the tests per feature, the data-quality findings, the
distributions as embedded PNG figures, and the earlier windows of the same version; text is escaped."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from cxops.monitoring.report import write_drift_report


class _Page(HTMLParser):
    """Tables as lists of rows of cell texts, images by alt text, and every text node."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: dict[str, str] = {}
        self.cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "img":
            values = dict(attrs)
            self.images[values["alt"] or ""] = values["src"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    directory = tmp_path / "drift"
    directory.mkdir()
    (directory / "monitor.json").write_text(
        json.dumps({"format": 1, "p_value": 0.05, "reference_rows": 1000})
    )
    return directory


def _result(**changes: Any) -> dict[str, Any]:
    result = {
        "seq": 12,
        "id": "r-12",
        "model": "churn",
        "version": "7",
        "created_at": "2026-12-07T17:00:00Z",
        "verdict": "drift",
        "window": {"start": "2026-12-07T16:00:00Z", "end": "2026-12-07T17:00:00Z", "rows": 300},
        "detector": "TabularDrift",
        "threshold": 0.0125,
        "features": [
            {
                "name": "tenure",
                "test": "ks",
                "statistic": 0.31,
                "p_value": 1.2e-9,
                "drift": True,
                "reference": {"edges": [0, 12, 24, 72], "counts": [300, 200, 500]},
                "current": {"edges": [0, 12, 24, 72], "counts": [150, 60, 90]},
            },
            {
                "name": "Contract",
                "test": "chi2",
                "statistic": 2.5,
                "p_value": 0.29,
                "drift": False,
                "reference": {
                    "categories": ["Month-to-month", "One year", "Two year"],
                    "counts": [55, 25, 20],
                },
                "current": {
                    "categories": ["Month-to-month", "One year", "Two year"],
                    "counts": [170, 70, 60],
                },
            },
            {"name": "<b>Partner</b>", "test": "chi2", "statistic": 0.1, "p_value": 0.8, "drift": False},
        ],
        "drifted_features": ["tenure"],
        "quality": {
            "failed": False,
            "reasons": ["tenure: 2 values <0 or >120"],
            "invalid_fraction": 0.0067,
            "violations": {
                "tenure": {
                    "missing": 0,
                    "null": 0,
                    "out_of_range": 2,
                    "unknown_category": 0,
                    "wrong_type": 0,
                },
                "Contract": {
                    "missing": 0,
                    "null": 0,
                    "out_of_range": 0,
                    "unknown_category": 0,
                    "wrong_type": 0,
                },
            },
        },
    }
    return result | changes


def test_the_report_shows_each_features_test_and_the_data_quality_findings(
    bundle: Path, tmp_path: Path
) -> None:
    out = write_drift_report(_result(), bundle, tmp_path / "reports" / "churn.html")
    assert out == tmp_path / "reports" / "churn.html"
    page = _parse(out)
    quality, tests, history = page.tables
    assert quality == [
        ["feature", "missing", "null", "out of range", "unknown category", "wrong type"],
        ["tenure", "0", "0", "2", "0", "0"],  # a feature without violations has no row
    ]
    assert tests == [
        ["feature", "test", "statistic", "p-value", "verdict"],
        ["tenure", "ks", "0.31", "1.2e-09", "drift"],
        ["Contract", "chi2", "2.5", "0.29", "no drift"],
        ["<b>Partner</b>", "chi2", "0.1", "0.8", "no drift"],
    ]
    assert history[1] == ["2026-12-07T17:00:00Z", "300", "drift", "tenure"]
    text = "".join(page.text)
    assert "Drift report — churn:7" in text and "Invalid rows: 0.7% of the window." in text
    assert "tenure: 2 values <0 or >120" in text  # a reason, as text
    assert "per-test threshold 0.0125" in text and "reference: 1000\ntraining rows" in text


def test_distributions_are_embedded_as_png_figures(bundle: Path, tmp_path: Path) -> None:
    page = _parse(write_drift_report(_result(), bundle, tmp_path / "churn.html"))
    # One figure per feature that carries both distributions; none for the one without.
    assert sorted(page.images) == ["Contract", "tenure"]
    for source in page.images.values():
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")
    captions = [t for t in page.text if ": p = " in t]
    assert captions == ["tenure: p = 1.2e-09 — drift", "Contract: p = 0.29"]


def test_mismatched_distributions_are_left_out_rather_than_drawn_wrong(bundle: Path, tmp_path: Path) -> None:
    result = _result()
    result["features"][0]["current"] = {"edges": [0, 12, 72], "counts": [150, 150]}
    page = _parse(write_drift_report(result, bundle, tmp_path / "churn.html"))
    assert sorted(page.images) == ["Contract"]


def test_the_history_lists_windows_of_this_version_newest_first(bundle: Path, tmp_path: Path) -> None:
    history = [
        _result(seq=10, created_at="2026-12-07T15:00:00Z", verdict="no_drift", drifted_features=[]),
        _result(seq=11, created_at="2026-12-07T15:30:00Z", version="6", verdict="drift"),
        _result(
            seq=12,
            created_at="2026-12-07T16:00:00Z",
            verdict="data_quality",
            drifted_features=[],
            window={"rows": 120},
        ),
        _result(seq=13),
    ]
    out = write_drift_report(history[-1], bundle, tmp_path / "churn.html", history=history)
    rows = _parse(out).tables[-1][1:]
    assert rows == [
        ["2026-12-07T17:00:00Z", "300", "drift", "tenure"],
        ["2026-12-07T16:00:00Z", "120", "data_quality", ""],
        ["2026-12-07T15:00:00Z", "300", "no_drift", ""],
    ]
    html = out.read_text()
    assert "<td class='dq'>data_quality</td>" in html and "<td class='ok'>no_drift</td>" in html


def test_text_from_the_monitor_is_escaped(bundle: Path, tmp_path: Path) -> None:
    result = _result(
        model="churn<script>alert(1)</script>",
        detector="<img src=x onerror=alert(1)>",
        quality={"reasons": ["<script>x</script> broke"], "violations": {}, "invalid_fraction": 0.2},
    )
    html = write_drift_report(result, bundle, tmp_path / "churn.html").read_text()
    assert "<script>" not in html and "<img src=x" not in html and "<b>Partner</b>" not in html
    assert "churn&lt;script&gt;alert(1)&lt;/script&gt;:7" in html
    assert "&lt;script&gt;x&lt;/script&gt; broke" in html and "&lt;b&gt;Partner&lt;/b&gt;" in html
    assert "No row broke the serving schema." in html
    assert len(re.findall(r"<img ", html)) == 2  # the figures, and nothing the monitor sent
