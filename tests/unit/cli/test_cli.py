from typer.testing import CliRunner

from cxops.cli.main import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("pipeline", "models", "serve", "predict", "score", "demo"):
        assert command in result.output


def test_pipeline_help_teaches_by_example():
    result = runner.invoke(app, ["pipeline", "run", "--help"])
    assert result.exit_code == 0 and "--data" in result.output and "Example" in result.output


def test_predict_needs_exactly_one_input(tmp_path, monkeypatch):
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path))
    result = runner.invoke(app, ["predict", "churn"])
    assert result.exit_code != 0 and "--customer-id" in str(result.exception)


def test_unknown_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path))
    result = runner.invoke(app, ["score", "nope", "-i", "x.csv", "-o", "y.csv"])
    assert "no model named 'nope'" in str(result.exception)
