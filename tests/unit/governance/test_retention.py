"""The retention policy: the shipped file, its agreement with the DPIAs, periods and cutoffs, clear errors."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from cxops.config import Settings
from cxops.governance.errors import PolicyError
from cxops.governance.retention import STORES, Period, RetentionPolicy, load_retention_policy

REPO = Settings().root
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)

# The DPIA wording of each store (policies/dpia/*.md, `retention:`).
_DPIA_STORES = {
    "features": ("offline_features", "online_features"),
    "request logs": ("request_logs",),
    "training snapshots": ("dataset_snapshots",),
    "offer responses": ("dataset_snapshots",),  # the recommendation model's training rows
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    root = tmp_path / "root"
    shutil.copytree(REPO / "policies", root / "policies")
    return Settings(home=tmp_path / "home", root=root)


def _write(settings: Settings, data: object) -> None:
    (settings.root / "policies" / "retention.yaml").write_text(yaml.safe_dump(data))


def _shipped() -> dict:
    return yaml.safe_load((REPO / "policies" / "retention.yaml").read_text())


def test_shipped_policy_gives_every_store_a_period() -> None:
    policy = load_retention_policy(Settings(root=REPO))
    assert set(STORES) <= set(policy.stores)
    assert policy.retrain_within_days == 30
    assert policy.views == {"customer_consent": None}


def test_shipped_periods_are_those_the_dpias_state() -> None:
    policy = load_retention_policy(Settings(root=REPO))
    checked = set()
    for note in sorted((REPO / "policies" / "dpia").glob("*.md")):
        line = re.search(r"^retention: (.+)$", note.read_text(), re.MULTILINE)
        assert line, f"{note.name} states no retention"
        for what, number, unit in re.findall(r"([a-z][a-z ]*?) (\d+) (days|months)", line.group(1)):
            for store in _DPIA_STORES[what.strip()]:
                assert policy.stores[store] == Period(**{unit: int(number)}), (note.name, what)
                checked.add(store)
    assert checked == set(STORES)


def test_consent_is_kept_while_the_relationship_lasts() -> None:
    note = (REPO / "policies" / "dpia" / "recommendation.md").read_text()
    assert "consent records as long as the customer relationship" in note
    cutoff = load_retention_policy(Settings(root=REPO)).cutoff("online_features", NOW)
    assert cutoff.for_view("customer_consent") is None
    assert cutoff.for_view("customer_account") == cutoff.before


@pytest.mark.parametrize(
    ("period", "expected", "text"),
    [
        ({"months": 13}, datetime(2025, 2, 28, 12, 0, tzinfo=UTC), "13 months"),  # calendar months, clamped
        ({"months": 24}, datetime(2024, 3, 31, 12, 0, tzinfo=UTC), "24 months"),
        ({"days": 90}, NOW - timedelta(days=90), "90 days"),
    ],
)
def test_period_cutoffs_use_calendar_months_or_days(period: dict, expected: datetime, text: str) -> None:
    assert Period(**period).before(NOW) == expected
    assert str(Period(**period)) == text


def test_cutoff_per_store_with_view_overrides() -> None:
    policy = RetentionPolicy(
        version="t",
        stores={s: {"days": 10} for s in STORES},
        views={"customer_consent": None, "short_view": {"days": 2}},
        retrain_within_days=7,
    )
    cutoff = policy.cutoff("offline_features", NOW)
    assert (cutoff.store, cutoff.period, cutoff.before) == (
        "offline_features",
        "10 days",
        NOW - timedelta(days=10),
    )
    assert cutoff.for_view("short_view") == NOW - timedelta(days=2)
    assert cutoff.for_view("customer_consent") is None
    assert cutoff.for_view("anything_else") == NOW - timedelta(days=10)
    assert policy.retrain_by(NOW) == NOW + timedelta(days=7)


def test_a_store_without_period_is_refused_when_asked_for() -> None:
    policy = RetentionPolicy(version="t", stores={s: {"days": 1} for s in STORES})
    with pytest.raises(PolicyError, match=r"store 'monitoring_windows' no period; add `monitoring_windows:"):
        policy.cutoff("monitoring_windows", NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["stores"].pop("request_logs"),
            r"`stores` gives no period for request_logs; each of offline_features",
        ),
        (lambda p: p["stores"].update(request_logs={"days": 90, "months": 3}), "exactly one of"),
        (lambda p: p["stores"].update(request_logs={}), "exactly one of"),
        (lambda p: p["stores"].update(request_logs={"days": 0}), r"stores\.request_logs\.days"),
        (lambda p: p["stores"].update(request_logs={"weeks": 2}), "Extra inputs are not permitted"),
        (lambda p: p.update(retrain_within_days=0), "retrain_within_days"),
        (lambda p: p.update(keep_forever=True), r"keep_forever: Extra inputs"),
        (lambda p: p["views"].update({"Bad-View": None}), r"'Bad-View'\] are not lower_snake_case"),
    ],
)
def test_invalid_policies_are_refused_with_the_place_and_fix(
    settings: Settings, change, message: str
) -> None:
    policy = _shipped()
    change(policy)
    _write(settings, policy)
    with pytest.raises(PolicyError, match=r"policy file .*retention\.yaml is invalid") as caught:
        load_retention_policy(settings)
    assert re.search(message, str(caught.value)), str(caught.value)


def test_missing_and_unparsable_files_are_named(settings: Settings) -> None:
    path = settings.root / "policies" / "retention.yaml"
    path.write_text("stores: [unclosed")
    with pytest.raises(PolicyError, match="is not valid YAML"):
        load_retention_policy(settings)
    path.unlink()
    with pytest.raises(PolicyError, match=r"retention\.yaml is missing; restore it"):
        load_retention_policy(settings)
