"""DPIA notes: parsing, the per-model checks (missing, invalid, not approved, expired, uncovered), the CLI."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from cxops.cli import dpia as dpia_cli
from cxops.config import Settings
from cxops.governance.dpia import (
    SIGNED_ACTION,
    DpiaError,
    DpiaRecord,
    check_dpia,
    dpia_status,
    load_dpia,
    model_data_categories,
    sign_dpia,
)
from cxops.governance.errors import GovernanceInputError, PermissionDeniedError
from cxops.governance.service import Governance
from cxops.specs import list_specs, load_spec

REPO = Settings().root
SHIPPED = list_specs(Settings(root=REPO))


def _front(path: Path) -> tuple[dict, str]:
    """A note's front-matter as data, and the Markdown body after it."""
    _, raw, body = path.read_text().split("---\n", 2)
    return yaml.safe_load(raw), body


def _write(path: Path, front: dict, body: str = "\n# DPIA\n") -> None:
    path.write_text(f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n{body}")


def _edit(settings: Settings, name: str, **changes) -> Path:
    """Rewrite fields of the named model's note (`model=` among them)."""
    path = settings.root / load_spec(name, settings).privacy.dpia
    front, body = _front(path)
    front.update(changes)
    _write(path, front, body)
    return path


@pytest.fixture()
def settings(tmp_path) -> Settings:
    """A copy of the project's specs, policies and feature repository, so each test may break it."""
    root = tmp_path / "root"
    for folder in ("models", "policies", "feature_repo"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "data"))
    return Settings(home=tmp_path / "home", root=root)


@pytest.fixture(scope="module")
def repo_settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"), root=REPO)


def _day_in_force(settings: Settings, model: str) -> date:
    """A day on which the model's shipped note is signed and not yet due for review."""
    return load_dpia(load_spec(model, settings), settings).dpo_signoff.date


# -- the shipped notes -------------------------------------------------------------------------------


def test_every_model_has_a_note() -> None:
    assert set(SHIPPED) >= {"churn", "intent", "recommendation", "sentiment"}


@pytest.mark.parametrize("model", SHIPPED)
def test_shipped_note_parses_approved_and_covers_its_spec(repo_settings, model) -> None:
    spec = load_spec(model, repo_settings)
    record = load_dpia(spec, repo_settings)
    assert isinstance(record, DpiaRecord)
    assert record.model == model
    assert record.dpo_signoff.decision == "approved"
    assert record.review_date > record.dpo_signoff.date
    assert set(spec.privacy.personal_data_categories) <= set(record.data_categories)
    assert record.risks and all(r.risk and r.mitigation for r in record.risks)


def test_shipped_notes_are_all_ok_while_in_force(repo_settings) -> None:
    latest_signoff = max(_day_in_force(repo_settings, m) for m in SHIPPED)
    statuses = dpia_status(repo_settings, today=latest_signoff)
    assert [s.model for s in statuses] == SHIPPED
    assert [(s.state, s.problems, s.missing_categories) for s in statuses] == [("ok", [], [])] * len(SHIPPED)
    assert all(s.review_date is not None and s.path.is_file() for s in statuses)


# -- personal-data categories of a model ---------------------------------------------------------------


def test_tabular_categories_come_from_the_feast_tags(repo_settings) -> None:
    spec = load_spec("churn", repo_settings)
    found = model_data_categories(spec, repo_settings)
    assert found["identifier"] == ["customer"]
    assert "customer_billing.MonthlyCharges" in found["billing"]
    assert "customer_account.PaymentMethod" in found["billing"]
    # Every input the service serves is tagged, with exactly one category.
    fields = [f.split(".", 1)[1] for carriers in found.values() for f in carriers if "." in f]
    assert sorted(fields) == sorted(spec.features.served_names)
    assert set(found) <= set(spec.privacy.personal_data_categories)


def test_untagged_offer_features_carry_no_category(repo_settings) -> None:
    found = model_data_categories(load_spec("recommendation", repo_settings), repo_settings)
    carriers = [c for carriers in found.values() for c in carriers]
    assert "offer" not in carriers
    assert not any(c.startswith("offer_catalogue.") for c in carriers)
    assert found["identifier"] == ["customer"]


@pytest.mark.parametrize("model", ["intent", "sentiment"])
def test_text_model_categories_come_from_the_spec(repo_settings, model) -> None:
    spec = load_spec(model, repo_settings)
    assert spec.features is None
    found = model_data_categories(spec, repo_settings)
    assert found == {c: ["spec"] for c in spec.privacy.personal_data_categories}


# -- broken notes --------------------------------------------------------------------------------------


def test_missing_note(settings) -> None:
    spec = load_spec("intent", settings)
    (settings.root / spec.privacy.dpia).unlink()
    with pytest.raises(DpiaError, match=r"policies/dpia/intent\.md.*does not exist") as caught:
        load_dpia(spec, settings)
    assert caught.value.status_code == 422 and "privacy.dpia" in str(caught.value)
    status = check_dpia(spec, settings, today=date(2027, 1, 1))
    assert status.state == "missing" and len(status.problems) == 1 and status.review_date is None


def test_note_without_front_matter(settings) -> None:
    spec = load_spec("intent", settings)
    path = settings.root / spec.privacy.dpia
    path.write_text("# DPIA\n\nmodel: intent\n")
    with pytest.raises(DpiaError, match="no front-matter"):
        load_dpia(spec, settings)
    assert check_dpia(spec, settings, today=date(2027, 1, 1)).state == "invalid"


def test_unterminated_front_matter_and_bad_yaml(settings) -> None:
    spec = load_spec("intent", settings)
    path = settings.root / spec.privacy.dpia
    path.write_text("---\nmodel: intent\n# no closing line\n")
    with pytest.raises(DpiaError, match="no front-matter"):
        load_dpia(spec, settings)
    path.write_text("---\nmodel: [intent\n---\n")
    with pytest.raises(DpiaError, match="not valid YAML"):
        load_dpia(spec, settings)
    path.write_text("---\n- a list\n---\n")
    with pytest.raises(DpiaError, match="mapping"):
        load_dpia(spec, settings)


def test_invalid_fields_are_listed_readably(settings) -> None:
    spec = load_spec("intent", settings)
    path = settings.root / spec.privacy.dpia
    front, body = _front(path)
    front["dpo_signoff"]["decision"] = "maybe"
    front["reviewer"] = "someone"
    del front["purpose"]
    _write(path, front, body)
    with pytest.raises(DpiaError) as caught:
        load_dpia(spec, settings)
    message = str(caught.value)
    assert "policies/dpia/intent.md" in message and "model 'intent'" in message
    for where in ("dpo_signoff.decision", "reviewer", "purpose"):
        assert f"{where}:" in message
    assert "errors.pydantic.dev" not in message
    status = check_dpia(spec, settings, today=date(2027, 1, 1))
    assert status.state == "invalid" and status.problems == [message]


def test_note_about_another_model_is_invalid(settings) -> None:
    _edit(settings, "sentiment", model="intent")
    with pytest.raises(DpiaError, match="set its 'model' to 'sentiment'"):
        load_dpia(load_spec("sentiment", settings), settings)


def test_review_before_signoff_is_invalid(settings) -> None:
    spec = load_spec("intent", settings)
    signed = _day_in_force(settings, "intent")
    _edit(settings, "intent", review_date=signed - timedelta(days=1))
    with pytest.raises(DpiaError, match="review_date .* is not after the DPO sign-off"):
        load_dpia(spec, settings)


# -- states -------------------------------------------------------------------------------------------


def test_expired_after_the_review_date_only(settings) -> None:
    spec = load_spec("intent", settings)
    review = load_dpia(spec, settings).review_date
    assert check_dpia(spec, settings, today=review).state == "ok"
    status = check_dpia(spec, settings, today=review + timedelta(days=3))
    assert status.state == "expired" and status.review_date == review
    assert len(status.problems) == 1
    assert str(review) in status.problems[0] and "3 days ago" in status.problems[0]


@pytest.mark.parametrize("decision", ["pending", "rejected"])
def test_not_approved(settings, decision) -> None:
    spec = load_spec("sentiment", settings)
    record = load_dpia(spec, settings)
    _edit(settings, "sentiment", dpo_signoff={**record.dpo_signoff.model_dump(), "decision": decision})
    status = check_dpia(spec, settings, today=record.dpo_signoff.date)
    assert status.state == "not_approved"
    assert f"'{decision}'" in status.problems[0] and "decision: approved" in status.problems[0]


def test_note_missing_a_feature_category_is_uncovered(settings) -> None:
    spec = load_spec("churn", settings)
    record = load_dpia(spec, settings)
    _edit(settings, "churn", data_categories=[c for c in record.data_categories if c != "billing"])
    status = check_dpia(spec, settings, today=record.dpo_signoff.date)
    assert status.state == "uncovered" and status.missing_categories == ["billing"]
    assert "customer_billing.MonthlyCharges" in status.problems[0]
    assert "data_categories" in status.problems[0]


def test_feature_tagged_with_a_new_category_is_uncovered(settings) -> None:
    """The tags are read from the Feast definitions: retagging one field is enough to open a gap."""
    views = settings.feature_repo_dir / "customer_features.py"
    source = views.read_text()
    assert 'field("support_contacts_90d", Int64, "usage"' in source
    views.write_text(
        source.replace('"support_contacts_90d", Int64, "usage"', '"support_contacts_90d", Int64, "consent"')
    )
    spec = load_spec("churn", settings)
    assert model_data_categories(spec, settings)["consent"] == ["customer_account.support_contacts_90d"]
    status = check_dpia(spec, settings, today=_day_in_force(settings, "churn"))
    assert status.state == "uncovered" and status.missing_categories == ["consent"]
    assert "customer_account.support_contacts_90d" in status.problems[0]


def test_category_only_the_spec_declares_must_be_covered(settings) -> None:
    """The recommendation server reads consent outside the feature service; the spec declares it."""
    spec = load_spec("recommendation", settings)
    assert "consent" not in model_data_categories(spec, settings)
    record = load_dpia(spec, settings)
    _edit(settings, "recommendation", data_categories=[c for c in record.data_categories if c != "consent"])
    status = check_dpia(spec, settings, today=record.dpo_signoff.date)
    assert status.state == "uncovered" and status.missing_categories == ["consent"]
    assert "consent: spec" in status.problems[0]


def test_unreadable_feature_repository_blocks_the_check(settings) -> None:
    (settings.feature_repo_dir / "feature_store.yaml").unlink()
    statuses = {s.model: s for s in dpia_status(settings, today=date(2027, 1, 1))}
    assert statuses["churn"].state == "uncovered" and "could not be read" in statuses["churn"].problems[0]
    assert statuses["recommendation"].state == "uncovered"
    assert statuses["intent"].state == "ok"  # text models read no features


def test_every_problem_is_listed_and_the_state_is_the_first(settings) -> None:
    spec = load_spec("churn", settings)
    record = load_dpia(spec, settings)
    _edit(
        settings,
        "churn",
        dpo_signoff={**record.dpo_signoff.model_dump(), "decision": "pending"},
        data_categories=[c for c in record.data_categories if c not in ("usage", "billing")],
    )
    status = check_dpia(spec, settings, today=record.review_date + timedelta(days=1))
    assert status.state == "not_approved"
    assert len(status.problems) == 3
    assert [re.search(r"decision|review was due|does not list", p).group(0) for p in status.problems] == [
        "decision",
        "review was due",
        "does not list",
    ]
    assert status.missing_categories == ["billing", "usage"]

    _edit(settings, "churn", dpo_signoff=record.dpo_signoff.model_dump())
    assert check_dpia(spec, settings, today=record.review_date + timedelta(days=1)).state == "expired"


# -- the CLI ------------------------------------------------------------------------------------------

runner = CliRunner()


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(dpia_cli.app, name="dpia")
    return app


@pytest.fixture()
def cli_settings(settings, monkeypatch) -> Settings:
    """The copied project with every note in force today, as the CLI sees it through CXOPS_*."""
    monkeypatch.setenv("CXOPS_ROOT", str(settings.root))
    monkeypatch.setenv("CXOPS_HOME", str(settings.home))
    for model in list_specs(settings):
        _edit(settings, model, review_date=date.today() + timedelta(days=365))
    return settings


def test_cli_exits_0_when_every_note_is_ok(cli_settings) -> None:
    result = runner.invoke(_cli(), ["dpia", "status"])
    assert result.exit_code == 0, result.output
    for model in list_specs(cli_settings):
        assert model in result.output
    assert "expired" not in result.output


def test_cli_exits_1_on_an_expired_note(cli_settings) -> None:
    front, _ = _front(cli_settings.root / "policies/dpia/intent.md")
    _edit(
        cli_settings,
        "intent",
        dpo_signoff={**front["dpo_signoff"], "date": date.today() - timedelta(days=30)},
        review_date=date.today() - timedelta(days=1),
    )
    result = runner.invoke(_cli(), ["dpia", "status"])
    assert result.exit_code == 1
    assert "expired" in result.output and "intent" in result.output

    # One model, as JSON: the other models' notes are not looked at.
    ok = runner.invoke(_cli(), ["dpia", "status", "--model", "churn", "--json"])
    assert ok.exit_code == 0, ok.output
    assert '"state": "ok"' in ok.output and "intent" not in ok.output
    bad = runner.invoke(_cli(), ["dpia", "status", "--model", "intent", "--json"])
    assert bad.exit_code == 1 and '"state": "expired"' in bad.output


# -- signing -------------------------------------------------------------------------------------------

TODAY = date(2026, 12, 1)
REVIEW = date(2027, 11, 30)


@pytest.fixture()
def dpo(settings, database_url) -> Iterator[Governance]:
    """Governance over the copied project and a fresh metadata store, on a fixed day (local noon)."""
    opened = Governance.from_settings(
        Settings(home=settings.home, root=settings.root, database_url=database_url)
    )
    opened.clock = lambda: datetime(TODAY.year, TODAY.month, TODAY.day, 12).astimezone()
    with opened:
        yield opened


def _note(settings: Settings, model: str) -> Path:
    return settings.root / load_spec(model, settings).privacy.dpia


def _sign(gov: Governance, user: str, model: str = "churn", **kwargs) -> DpiaRecord:
    kwargs = {"decision": "approved", "review_date": REVIEW, **kwargs}
    return sign_dpia(gov, gov.actor(user), model, **kwargs)


def _signed_events(gov: Governance) -> list:
    return gov.registry.audit_events(action=SIGNED_ACTION)


def test_signing_rewrites_only_the_two_lines_and_records_the_event(settings, dpo) -> None:
    path = _note(settings, "churn")
    # A trailing comment on a rewritten line stays, as do the note's other comments.
    path.write_text(
        path.read_text().replace("review_date: 2027-11-01\n", "review_date: 2027-11-01  # yearly\n")
    )
    before = path.read_bytes().splitlines(keepends=True)

    record = _sign(dpo, "dana", comment="reviewed with legal")

    after = path.read_bytes().splitlines(keepends=True)
    assert len(after) == len(before)
    changed = [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
    assert [after[i] for i in changed] == [
        b"dpo_signoff: {name: dana, date: 2026-12-01, decision: approved}\n",
        b"review_date: 2027-11-30  # yearly\n",
    ]
    assert [before[i].split(b":")[0] for i in changed] == [b"dpo_signoff", b"review_date"]
    assert b"automated_decision: false  # scores support agents" in b"".join(after)
    assert record.dpo_signoff.model_dump() == {"name": "dana", "date": TODAY, "decision": "approved"}
    assert record.review_date == REVIEW
    assert load_dpia(load_spec("churn", settings), settings) == record

    [event] = _signed_events(dpo)
    assert (event.actor, event.role, event.model, event.reason) == (
        "dana",
        "compliance",
        "churn",
        "reviewed with legal",
    )
    assert event.payload == {
        "note": "policies/dpia/churn.md",
        "decision": "approved",
        "signed_on": "2026-12-01",
        "review_date": "2027-11-30",
        "dpia_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert dpo.registry.verify_audit().ok

    status = check_dpia(load_spec("churn", settings), settings, TODAY, registry=dpo.registry)
    assert (status.state, status.problems, status.signed_unchanged) == ("ok", [], True)


def test_a_block_style_signoff_with_crlf_lines_is_rewritten_in_place(settings, dpo) -> None:
    path = _note(settings, "intent")
    text = path.read_text().replace(
        "dpo_signoff: {name: Data Protection Officer, date: 2026-11-22, decision: approved}\n",
        "dpo_signoff:  # the DPO's last decision\n"
        "  name: Data Protection Officer\n"
        "  # signed on paper\n"
        "  date: 2026-11-22\n"
        "  decision: approved\n",
    )
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert load_dpia(load_spec("intent", settings), settings).dpo_signoff.date == date(2026, 11, 22)

    _sign(dpo, "dana", "intent", decision="rejected")

    expected = (
        text.replace(
            "dpo_signoff:  # the DPO's last decision\n  name: Data Protection Officer\n  # signed on paper\n"
            "  date: 2026-11-22\n  decision: approved\n",
            "dpo_signoff: {name: dana, date: 2026-12-01, decision: rejected}  # the DPO's last decision\n"
            "  # signed on paper\n",
        )
        .replace("review_date: 2027-11-22\n", "review_date: 2027-11-30\n")
        .replace("\n", "\r\n")
    )
    assert path.read_bytes() == expected.encode()
    status = check_dpia(load_spec("intent", settings), settings, TODAY, registry=dpo.registry)
    assert status.state == "not_approved" and "'rejected' (dana, 2026-12-01)" in status.problems[0]
    assert status.signed_unchanged is True


def test_a_user_without_dpia_sign_is_refused_and_nothing_changes(settings, dpo) -> None:
    path = _note(settings, "churn")
    before = path.read_bytes()
    with pytest.raises(PermissionDeniedError, match="may not do 'dpia.sign'") as caught:
        _sign(dpo, "maya", comment="looks fine")
    assert caught.value.status_code == 403 and "compliance" in str(caught.value)
    assert path.read_bytes() == before
    assert _signed_events(dpo) == [] and dpo.registry.audit_events() == []
    assert _sign(dpo, "root-admin").dpo_signoff.name == "root-admin"  # admin holds every permission


@pytest.mark.parametrize(
    ("review_date", "decision", "message"),
    [
        (TODAY, "approved", "review date 2026-12-01 .* is not after today \\(2026-12-01\\)"),
        (TODAY - timedelta(days=30), "approved", "is not after today"),
        (REVIEW, "pending", "unknown DPIA decision 'pending'"),
    ],
)
def test_bad_review_date_or_decision_is_refused(settings, dpo, review_date, decision, message) -> None:
    path = _note(settings, "churn")
    before = path.read_bytes()
    with pytest.raises(GovernanceInputError, match=message) as caught:
        _sign(dpo, "dana", review_date=review_date, decision=decision)
    assert caught.value.status_code == 422 and "model 'churn'" in str(caught.value)
    assert path.read_bytes() == before and _signed_events(dpo) == []


def test_a_note_that_does_not_parse_or_has_the_line_twice_is_not_signed(settings, dpo) -> None:
    path = _note(settings, "churn")
    path.write_text(path.read_text().replace("purpose:", "porpoise:"))
    broken = path.read_bytes()
    with pytest.raises(DpiaError, match="porpoise"):
        _sign(dpo, "dana")
    assert path.read_bytes() == broken

    shutil.copy(REPO / "policies/dpia/churn.md", path)
    path.write_text(
        path.read_text().replace(
            "review_date: 2027-11-01\n", "review_date: 2027-10-01\nreview_date: 2027-11-01\n"
        )
    )
    twice = path.read_bytes()
    with pytest.raises(DpiaError, match="one top-level 'review_date:' line .* found 2"):
        _sign(dpo, "dana")
    assert path.read_bytes() == twice and _signed_events(dpo) == []


def test_a_failing_audit_write_puts_the_note_back(settings, dpo, monkeypatch) -> None:
    path = _note(settings, "churn")
    before = path.read_bytes()

    def unavailable(*args, **kwargs):
        raise RuntimeError("metadata store unavailable")

    monkeypatch.setattr(dpo.registry, "write", unavailable)
    with pytest.raises(RuntimeError, match="unavailable"):
        _sign(dpo, "dana")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    monkeypatch.undo()
    assert _signed_events(dpo) == []


def test_an_edit_after_the_signoff_withdraws_the_approval_until_signed_again(settings, dpo) -> None:
    spec = load_spec("churn", settings)
    never = check_dpia(spec, settings, TODAY, registry=dpo.registry)
    assert (never.state, never.signed_unchanged) == ("ok", None)  # never signed here: the front-matter counts

    _sign(dpo, "dana")
    path = _note(settings, "churn")
    path.write_text(path.read_text().replace("data_subjects: current subscribers", "data_subjects: everyone"))

    status = check_dpia(spec, settings, TODAY, registry=dpo.registry)
    assert (status.state, status.signed_unchanged) == ("not_approved", False)
    [problem] = status.problems
    assert "edited after its sign-off on 2026-12-01" in problem and "`cxops dpia sign churn" in problem
    # Without the metadata store the note is judged by its front-matter, as before.
    assert check_dpia(spec, settings, TODAY).state == "ok"
    by_model = {s.model: s for s in dpia_status(settings, TODAY, registry=dpo.registry)}
    assert by_model["churn"].state == "not_approved" and by_model["intent"].signed_unchanged is None

    _sign(dpo, "dana", comment="new data subjects reviewed")
    again = check_dpia(spec, settings, TODAY, registry=dpo.registry)
    assert (again.state, again.signed_unchanged) == ("ok", True)
    assert [e.reason for e in _signed_events(dpo)] == ["new data subjects reviewed", ""]


def test_cli_signs_as_the_actor_and_status_reads_the_store(cli_settings, database_url, monkeypatch) -> None:
    review = date.today() + timedelta(days=200)
    args = ["dpia", "sign", "churn", "--decision", "approved", "--review-date", str(review)]
    home_db = cli_settings.home / "cxops.db"
    plain = runner.invoke(_cli(), ["dpia", "status", "--model", "churn"])
    assert plain.exit_code == 0 and not home_db.exists()  # a check creates no metadata store

    monkeypatch.setenv("CXOPS_DATABASE_URL", database_url)
    monkeypatch.setenv("CXOPS_ACTOR", "maya")
    refused = runner.invoke(_cli(), [*args, "--comment", "x"])
    assert isinstance(refused.exception, PermissionDeniedError)

    monkeypatch.setenv("CXOPS_ACTOR", "dana")
    signed = runner.invoke(_cli(), [*args, "--comment", "annual review"])
    assert signed.exit_code == 0, signed.output
    assert "approved" in signed.output and "dana" in signed.output and str(review) in signed.output
    record = load_dpia(load_spec("churn", cli_settings), cli_settings)
    assert (record.dpo_signoff.name, record.dpo_signoff.date, record.review_date) == (
        "dana",
        date.today(),
        review,
    )

    path = _note(cli_settings, "churn")
    path.write_text(path.read_text() + "\nA paragraph added later.\n")
    edited = runner.invoke(_cli(), ["dpia", "status", "--model", "churn", "--json"])
    assert edited.exit_code == 1
    assert '"state": "not_approved"' in edited.output and '"signed_unchanged": false' in edited.output
    assert "edited after its sign-off" in edited.output

    bad = runner.invoke(
        _cli(), ["dpia", "sign", "churn", "--decision", "maybe", "--review-date", str(review)]
    )
    assert bad.exit_code == 2 and "maybe" in bad.output
