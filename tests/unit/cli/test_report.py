"""`cxops report MODEL --version V`: writes the compliance report and prints its path."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cxops.cli import report
from cxops.governance.errors import PermissionDeniedError
from cxops.registry import Registry

runner = CliRunner()


@pytest.fixture
def app(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CXOPS_DATABASE_URL", database_url)
    monkeypatch.setenv("CXOPS_ACTOR", "dana")
    with Registry(database_url) as registry:
        registry.register_version(
            "sentiment",
            metrics={"accuracy": 0.8},
            artifacts={},
            params={},
            lineage={"trainer": "text_head"},
            owner="care@cxops.example",
            team="care",
            created_by="maya",
            dataset_version=None,
        )
    cli = typer.Typer()
    cli.command("report")(report.report)
    return cli


def test_report_writes_into_out_and_prints_the_path(app, tmp_path) -> None:
    result = runner.invoke(app, ["sentiment", "--version", "1", "--out", str(tmp_path / "reports")])

    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path == tmp_path / "reports" / "sentiment-v1-compliance-report.html"
    assert "Compliance report: sentiment:1" in path.read_text()


def test_report_defaults_to_the_home_directory(app, tmp_path) -> None:
    result = runner.invoke(app, ["sentiment", "-v", "1"])

    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).parent == (tmp_path / "home" / "reports").resolve()


def test_report_refuses_a_user_without_reports_read(app, monkeypatch) -> None:
    monkeypatch.setenv("CXOPS_ACTOR", "sam")
    result = runner.invoke(app, ["sentiment", "--version", "1"])
    assert isinstance(result.exception, PermissionDeniedError) and "reports.read" in str(result.exception)
