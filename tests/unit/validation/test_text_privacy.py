"""Message texts are personal data: nothing of them may leave `validate`, only counts and ratios."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cxops.errors import ValidationFailedError
from cxops.specs import ModelSpec
from cxops.validation import personal_columns, validate

EMAIL = "zoe.marchetti-41@exemple-mail.fr"
SECRET = "my landlord Quentin Abernathy-Lowe moved me out"


def test_messages_are_personal(intent_spec: ModelSpec) -> None:
    assert personal_columns(intent_spec) == {"message_id", "customerID", "text"}


def test_nothing_of_a_message_reaches_the_report_or_the_error(
    messages: pd.DataFrame, intent_spec: ModelSpec, report_dir: Path
) -> None:
    # A message that is too long (fails "text length") and carries an email and a name; blank and
    # duplicated messages and a foreign-language share fail their checks too.
    messages.loc[0, "text"] = f"{SECRET}, write to {EMAIL} " + "please " * 800
    messages.loc[1, "text"] = "   "
    messages.loc[2:40, "text"] = messages.loc[200:238, "text"].to_numpy()
    messages.loc[41:100, "text"] = [
        f"Hallo, ich habe seit {i} Tagen kein Netz, bitte helfen Sie mir." for i in range(60)
    ]
    messages.loc[41:100, "language"] = None

    report = validate(messages, intent_spec, report_dir)

    assert not report.success
    failed = {f.check for f in report.failures}
    assert {"text length", "not blank", "duplicate share", "language share"} <= failed
    with pytest.raises(ValidationFailedError) as caught:
        report.raise_if_failed()
    written = [p.read_text() for p in sorted(report_dir.rglob("*")) if p.is_file()]
    assert len(written) == 2  # the JSON artifact and the Markdown summary
    everything = "\n".join([*written, str(caught.value), report.summary(), report.model_dump_json()])
    for fragment in (EMAIL, "zoe.marchetti", "exemple-mail", "Abernathy", SECRET, "please please"):
        assert fragment not in everything, fragment
    # Not one message of the batch, not even through a derived column's examples.
    leaked = [text for text in messages["text"] if len(text.strip()) >= 12 and text in everything]
    assert leaked == []
    # What may be said is said: counts, ratios and the checks' names.
    assert report.text_profile is not None and report.text_profile.pii_by_kind["email"] >= 1
    assert "text length" in str(caught.value) and "withheld (personal data)" in str(caught.value)
