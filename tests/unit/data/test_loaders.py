from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from cxops.data.loaders import coerce, read_table, write_table
from cxops.data.snapshot import content_hash, snapshot
from cxops.errors import InvalidInputError, NotFoundError
from cxops.specs import load_spec

REAL = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "datasets"
    / "telco_churn"
    / "telco_churn_train.csv"
)


def test_real_telco_file_is_typed_and_blank_total_charges_become_missing():
    spec = load_spec("churn")
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    frame = coerce(read_table(REAL), spec, observed_at=stamp)
    assert len(frame) == 5634
    assert frame["TotalCharges"].isna().sum() == (frame["tenure"] == 0).sum() > 0
    assert frame["support_contacts_90d"].isna().all()  # not in the IBM file: added empty
    assert (frame["event_timestamp"] == pd.Timestamp(stamp)).all()
    assert frame["tenure"].dtype == float


def test_missing_required_column_names_it():
    spec = load_spec("churn")
    raw = pd.DataFrame({"customerID": ["1"], "tenure": ["3"]})
    with pytest.raises(InvalidInputError, match="Contract"):
        coerce(raw, spec)


def test_label_may_be_absent_when_scoring():
    spec = load_spec("churn")
    raw = read_table(REAL).drop(columns="Churn").head(5)
    assert "Churn" not in coerce(raw, spec, require_label=False).columns


def test_unparseable_numbers_become_missing():
    spec = load_spec("churn")
    raw = read_table(REAL).head(3).copy()
    raw.loc[0, "tenure"] = "twelve"
    assert pd.isna(coerce(raw, spec)["tenure"].iloc[0])


def test_read_write_round_trip_and_errors(tmp_path):
    frame = pd.DataFrame({"a": ["1", "2"]})
    write_table(frame, tmp_path / "x.csv")
    assert read_table(tmp_path / "x.csv").equals(frame)
    with pytest.raises(NotFoundError):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(InvalidInputError, match="unsupported"):
        write_table(frame, tmp_path / "x.xlsx")
    assert not list(tmp_path.glob(".*partial"))


def test_snapshot_version_is_the_content(tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    first = snapshot(frame, "m", tmp_path, "test")
    again = snapshot(frame.copy(), "m", tmp_path, "test")
    assert first.version == again.version and first.path.exists()
    changed = frame.copy()
    changed.loc[0, "a"] = 9
    assert content_hash(changed) != content_hash(frame)
    assert pd.read_parquet(first.path).equals(frame)


@pytest.mark.parametrize("dtype", [object, "float64"])
def test_numbers_parse_as_their_text_would(dtype):
    """Cells that parse as they are skip string handling; the result is what parsing each cell's
    stripped text gives (blank or unparseable: missing), whatever the mix of cells."""
    spec = load_spec("churn")
    raw = read_table(REAL).head(8).copy()
    cells = [" 12 ", "", "  ", "twelve", None, "7", "1e1", "\t5\n"] if dtype is object else [1.5] * 8
    raw["tenure"] = pd.Series(cells, dtype=dtype)
    raw["MonthlyCharges"] = pd.Series([True, 1, "2", None, 3.5, "x", " 4 ", ""], dtype=object)
    typed = coerce(raw, spec)
    for column in ("tenure", "MonthlyCharges"):
        text = raw[column].astype(str).str.strip().replace("", float("nan"))
        expected = pd.to_numeric(text, errors="coerce").astype(float)
        pd.testing.assert_series_equal(typed[column], expected, check_names=False)
