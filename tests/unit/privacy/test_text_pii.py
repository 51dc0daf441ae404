from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest

from cxops.errors import InvalidInputError
from cxops.privacy import (
    PLACEHOLDERS,
    PiiKind,
    PiiLogFilter,
    PiiMatch,
    count_pii,
    find_pii,
    mask_pii,
    mask_series,
)

VALID_IBANS = [
    "FR76 3000 6000 0112 3456 7890 189",
    "FR7630006000011234567890189",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "BE68 5390 0754 7034",
    "fr76 3000 6000 0112 3456 7890 189",  # typed in lower case
]
VALID_CARDS = [
    "4111 1111 1111 1111",  # Visa
    "4111111111111111",
    "5555-5555-5555-4444",  # Mastercard
    "2223 0031 2200 3222",  # Mastercard 2-series
    "3782 822463 10005",  # Amex 4-6-5
    "6011 1111 1111 1117",  # Discover
    "4532015112830366",
]
PHONES = [
    "+33 6 12 34 56 78",
    "+33612345678",
    "+33 (0)6 12 34 56 78",
    "+1 (555) 123-4567",
    "+44 20 7946 0958",
    "06 12 34 56 78",
    "06.12.34.56.78",
    "06-12-34-56-78",
    "0612345678",
    "01 23 45 67 89",
    "555-123-4567",
    "555.123.4567",
    "(555) 123-4567",
    "1-800-555-0199",
]
EMAILS = [
    "jean.dupont@orange.fr",
    "john+support@example.co.uk",
    "élodie.martin@exemple.fr",
    "a_b-c@sub.domain-x.com",
]


def kinds(text: str) -> list[str]:
    return [m.kind.value for m in find_pii(text)]


@pytest.mark.parametrize("email", EMAILS)
def test_emails_are_found_whole_inside_sentences(email: str) -> None:
    text = f"Mon adresse est {email}, merci."
    (match,) = find_pii(text)
    assert match.kind is PiiKind.EMAIL
    assert text[match.start : match.end] == email


@pytest.mark.parametrize("text", ["contact @support", "user@localhost", "meet me @ 10", "a@b", "x@.com"])
def test_things_that_are_not_email_addresses(text: str) -> None:
    assert kinds(text) == []


@pytest.mark.parametrize("phone", PHONES)
def test_phone_layouts_are_found_in_french_and_english_sentences(phone: str) -> None:
    for text in (f"Appelez-moi au {phone} svp", f"Call me on {phone}."):
        (match,) = find_pii(text)
        assert match.kind is PiiKind.PHONE
        assert text[match.start : match.end] == phone


@pytest.mark.parametrize(
    "text",
    [
        "I have been a customer since 2019",
        "I was charged 12.50 instead of 9.99",
        "facture de 1 250,00 € le 12/03",
        "payé 49,99 EUR",
        "on 06/12/2024 at 10:30",
        "le 06.12.2024 à 10h",
        "le 06 12 2024",
        "invoice dated 2024-01-15",
        "order ORD-123456 not delivered",
        "ticket #0612345678",
        "ref ORD-555-123-4567",
        "tracking 123456789012",
        "prices 25 30 45 50 20 10 15 40",
        "I have 3 phones and 2 lines",
        "+33 6 12",  # too short to reach anyone
        "version 3.1.4",
    ],
)
def test_years_amounts_dates_and_references_are_not_pii(text: str) -> None:
    assert kinds(text) == []


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_ibans_with_a_valid_mod97_check_are_found(iban: str) -> None:
    text = f"IBAN : {iban} pour le prélèvement"
    (match,) = find_pii(text)
    assert match.kind is PiiKind.IBAN
    assert text[match.start : match.end] == iban


@pytest.mark.parametrize(
    "text",
    [
        "FR76 3000 6000 0112 3456 7890 188",  # one digit off: mod-97 fails
        "FR67 3000 6000 0112 3456 7890 189",  # swapped check digits
        "GB82 WEST 1234 5698 7654 33",
        "AB12 CDEF GHIJ KLMN OP",  # IBAN-shaped, no valid check
        "XX00 1234",  # too short
    ],
)
def test_iban_shaped_strings_failing_the_check_are_not_ibans(text: str) -> None:
    assert PiiKind.IBAN not in {m.kind for m in find_pii(text)}


def test_an_iban_followed_by_an_upper_case_word_is_still_found() -> None:
    text = "FR76 3000 6000 0112 3456 7890 189 MERCI"
    assert mask_pii(text) == "<IBAN> MERCI"


@pytest.mark.parametrize("card", VALID_CARDS)
def test_card_numbers_passing_luhn_are_found(card: str) -> None:
    text = f"my card {card} was declined"
    (match,) = find_pii(text)
    assert match.kind is PiiKind.CARD
    assert text[match.start : match.end] == card


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "4111111111111112",
        "0000 0000 0000 0000",  # passes Luhn, but no issuer
        "1234 5678 9012 3452",  # passes Luhn, no card network starts with 1
        "4111 1111 1111",  # 12 digits: too short
        "41111 111 11111 111",  # no card is printed in this grouping
    ],
)
def test_numbers_failing_the_card_checks_are_not_cards(text: str) -> None:
    assert PiiKind.CARD not in {m.kind for m in find_pii(text)}


def test_a_card_followed_by_its_expiry_keeps_the_expiry() -> None:
    assert mask_pii("carte 4111 1111 1111 1111 12 26") == "carte <CARD> 12 26"
    assert mask_pii("card 4111 1111 1111 1111 exp 12/26") == "card <CARD> exp 12/26"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server 192.168.1.20 is down", "server <IP> is down"),
        ("from 2001:db8:85a3::8a2e:370:7334 today", "from <IP> today"),
        ("at 10:30:00 the box rebooted", "at 10:30:00 the box rebooted"),
        ("firmware v1.2.3.4 and 300.1.1.1", "firmware v1.2.3.4 and 300.1.1.1"),
    ],
)
def test_ip_addresses(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Bonjour, je suis joignable au 06 12 34 56 78 ou par mail : jean.dupont@orange.fr. Merci !",
            "Bonjour, je suis joignable au <PHONE> ou par mail : <EMAIL>. Merci !",
        ),
        (
            "Hi, call me at +1 (555) 123-4567 or email john@example.com about order ORD-123456.",
            "Hi, call me at <PHONE> or email <EMAIL> about order ORD-123456.",
        ),
        (
            "Prélèvement refusé sur FR76 3000 6000 0112 3456 7890 189 le 06/12/2024 (49,99 €)",
            "Prélèvement refusé sur <IBAN> le 06/12/2024 (49,99 €)",
        ),
        (
            "My card 4111-1111-1111-1111 was charged 12.50 twice in 2024",
            "My card <CARD> was charged 12.50 twice in 2024",
        ),
        ("no personal data here", "no personal data here"),
        ("", ""),
    ],
)
def test_masking_gives_exact_strings(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_overlapping_candidates_keep_the_longest() -> None:
    # "+1 4111 1111 1111" is a valid phone number; with a fourth group the card is longer and wins.
    assert mask_pii("+1 4111 1111 1111") == "<PHONE>"
    assert kinds("+1 4111 1111 1111 1111") == ["card"]
    # Digits inside an e-mail address or an IBAN are not reported a second time.
    assert mask_pii("0612345678@sfr.fr") == "<EMAIL>"
    assert kinds("BE68 5390 0754 7034 and DE89 3704 0044 0532 0130 00") == ["iban", "iban"]


def test_matches_do_not_overlap_and_are_in_order() -> None:
    text = "a@b.fr 06 12 34 56 78 4111111111111111 FR7630006000011234567890189 10.0.0.1 555-123-4567"
    matches = find_pii(text)
    assert [m.kind.value for m in matches] == ["email", "phone", "card", "iban", "ip", "phone"]
    assert all(a.end <= b.start for a, b in zip(matches, matches[1:], strict=False))


def test_a_match_holds_its_position_but_never_the_value() -> None:
    text = "write to jean.dupont@orange.fr or call 06 12 34 56 78 (card 4111 1111 1111 1111)"
    matches = find_pii(text)
    shown = repr(matches) + str(matches)
    for secret in ("jean", "dupont", "orange", "06 12", "12 34", "4111", "1111"):
        assert secret not in shown
    assert {f.name for f in PiiMatch.__dataclass_fields__.values()} == {"kind", "start", "end"}
    assert matches[0] == PiiMatch(PiiKind.EMAIL, 9, 30)
    assert matches[0].placeholder == "<EMAIL>"
    assert not hasattr(matches[0], "__dict__")  # slots: nothing else can be attached to a match
    with pytest.raises(dataclasses.FrozenInstanceError):
        matches[0].start = 0  # type: ignore[misc]


def test_placeholders_cover_every_kind() -> None:
    assert PLACEHOLDERS == {
        PiiKind.EMAIL: "<EMAIL>",
        PiiKind.IBAN: "<IBAN>",
        PiiKind.CARD: "<CARD>",
        PiiKind.PHONE: "<PHONE>",
        PiiKind.IP: "<IP>",
    }


def test_counts_rows_containing_each_kind() -> None:
    texts = [
        "call 06 12 34 56 78 or 07 98 76 54 32",  # two phones, one row
        "mail a@b.fr and c@d.com, phone 555-123-4567",
        "card 4111 1111 1111 1111",
        "nothing here",
        None,
        float("nan"),
    ]
    assert count_pii(texts) == {"email": 1, "iban": 0, "card": 1, "phone": 2, "ip": 0}
    assert count_pii([]) == {"email": 0, "iban": 0, "card": 0, "phone": 0, "ip": 0}
    assert count_pii(pd.Series(["x@y.fr", pd.NA]))["email"] == 1


def test_mask_series_keeps_index_name_and_missing_values() -> None:
    series = pd.Series(
        ["mail x@y.fr", None, "rien", np.nan, "mail x@y.fr"], index=[10, 11, 12, 13, 14], name="text"
    )
    masked = mask_series(series)
    assert masked.name == "text"
    assert masked.index.tolist() == [10, 11, 12, 13, 14]
    assert masked.tolist()[0] == "mail <EMAIL>"
    assert masked[11] is None and pd.isna(masked[13])
    assert masked[12] == "rien" and masked[14] == "mail <EMAIL>"
    assert series[10] == "mail x@y.fr"  # the input is left untouched


def test_non_text_input_is_refused_with_a_fix() -> None:
    with pytest.raises(InvalidInputError, match="not int"):
        find_pii(4111111111111111)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="column 'text'.*astype"):
        mask_series(pd.Series(["ok", 4111111111111111], name="text", dtype=object))
    with pytest.raises(InvalidInputError):
        count_pii(["ok", 12])  # type: ignore[list-item]


def test_log_filter_masks_message_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("cxops.test.text_pii")
    pii_filter = PiiLogFilter()
    logger.addFilter(pii_filter)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("message from %s: call %s", "jean.dupont@orange.fr", "06 12 34 56 78")
            logger.info("plain 4111 1111 1111 1111")
            logger.info("bad args %d", "x@y.fr")
    finally:
        logger.removeFilter(pii_filter)
    assert [r.getMessage() for r in caplog.records] == [
        "message from <EMAIL>: call <PHONE>",
        "plain <CARD>",
        "bad args %d",
    ]
    assert "orange" not in caplog.text and "4111" not in caplog.text and "x@y" not in caplog.text


def test_ten_thousand_short_messages_are_masked() -> None:
    templates = [
        "Bonjour, mon numéro est 06 {a:02d} 34 56 78, rappelez-moi",
        "please reset my password, my email is user{i}@mail.com",
        "internet down since {a:02d}/03/2024 in Lyon!!",
        "IBAN FR76 3000 6000 0112 3456 7890 189 pour le prélèvement n°{i}",
        "card 4111 1111 1111 1111 was declined ({i})",
        "order ORD-{i:06d} not delivered, charged {a}.99 EUR",
        "je veux résilier mon abonnement {i}",
    ]
    messages = pd.Series([templates[i % len(templates)].format(i=i, a=i % 28 + 1) for i in range(10_000)])
    masked = mask_series(messages)
    assert len(masked) == 10_000
    assert not masked.str.contains(r"@mail\.com|4111|FR76|06 \d\d 34", regex=True).any()
    counts = count_pii(masked)
    assert counts == {"email": 0, "iban": 0, "card": 0, "phone": 0, "ip": 0}
    assert masked[0].startswith("Bonjour, mon numéro est <PHONE>")
    assert masked[5] == "order ORD-000005 not delivered, charged 6.99 EUR"


def test_no_break_spaces_of_french_typography_are_separators() -> None:
    assert mask_pii("tél\u00a0: 06\u00a012\u00a034\u00a056\u00a078") == "tél\u00a0: <PHONE>"
    assert mask_pii("carte 4111\u202f1111\u202f1111\u202f1111") == "carte <CARD>"
    assert mask_pii("montant 1\u202f250,00\u00a0€") == "montant 1\u202f250,00\u00a0€"
