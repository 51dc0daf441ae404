"""Personal data inside free text (customer messages): find it, count it, mask it.

Kinds: e-mail addresses, phone numbers (international, French and North American layouts), IBANs
(ISO 13616 mod-97 checked), payment card numbers (Luhn checked) and IP addresses. Checksums and layout
rules keep years, amounts, dates and order numbers from being flagged. Matches carry only their kind and
position, never the value, so they are safe to put in reports and logs; `mask_pii` replaces each one by
a placeholder such as `<EMAIL>` before text is used for training or logged.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from cxops.errors import InvalidInputError

__all__ = [
    "PiiKind",
    "PiiMatch",
    "PiiLogFilter",
    "PLACEHOLDERS",
    "find_pii",
    "mask_pii",
    "count_pii",
    "mask_series",
]


class PiiKind(StrEnum):
    EMAIL = "email"
    IBAN = "iban"
    CARD = "card"
    PHONE = "phone"
    IP = "ip"


PLACEHOLDERS: dict[PiiKind, str] = {kind: f"<{kind.value.upper()}>" for kind in PiiKind}

# When two candidates cover the same span, the better-checked kind wins (lower rank).
_RANK = {PiiKind.EMAIL: 0, PiiKind.IBAN: 1, PiiKind.CARD: 2, PiiKind.IP: 3, PiiKind.PHONE: 4}


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """Where a piece of personal data sits in a text: `text[start:end]`. Holds no part of the value."""

    kind: PiiKind
    start: int
    end: int

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.kind]


# Spaces people put inside numbers: plain, no-break and the narrow no-break space of French typography.
_SP = "[ \u00a0\u202f]"
_PHONE_SEP = "[ \u00a0\u202f.\\-]"
# A number must stand alone: not glued to a word, a reference ("ORD-123"), a path or a decimal part.
_NUM_START = r"(?<![\w+/#@-])(?<!\d[.,])"
_NUM_END = r"(?![\w/@])(?![.,\-]\d)"

_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,24}(?![\w-])")

# Groups of four as printed (`FR76 3000 6000 ...`) or compact; `_valid_iban` checks length and mod-97.
_IBAN = re.compile(
    rf"(?<!\w)[A-Z]{{2}}\d{{2}}(?:{_SP}?[A-Z0-9]{{4}}){{2,7}}(?:{_SP}?[A-Z0-9]{{1,4}})?(?!\w)",
    re.IGNORECASE | re.ASCII,
)

_CARD_SEP = "[ \u00a0\u202f\\-]"
_CARD = re.compile(
    _NUM_START
    + rf"""(?:
        \d{{13,19}}                                                  # compact
        | \d{{4}}(?P<g>{_CARD_SEP})\d{{4}}(?:(?P=g)\d{{4}}){{1,2}}(?:(?P=g)\d{{1,4}})?  # 4-4-4-4(-3)
        | \d{{4}}(?P<a>{_CARD_SEP})\d{{6}}(?P=a)\d{{4,5}}              # Amex / Diners 4-6-5, 4-6-4
    )"""
    + _NUM_END,
    re.VERBOSE | re.ASCII,
)

_PHONES = (
    # International: "+33 6 12 34 56 78", "+33 (0)6 12 ...", "+1 (555) 123-4567", "+441234567890".
    re.compile(
        _NUM_START + rf"\+[1-9]\d{{0,14}}(?:{_PHONE_SEP}?\(\d{{1,4}}\){_PHONE_SEP}?\d{{1,14}}"
        rf"|{_PHONE_SEP}\(?\d{{1,14}}\)?){{0,8}}" + _NUM_END,
        re.ASCII,
    ),
    # French national: "06 12 34 56 78", "06.12.34.56.78", "0612345678" (one separator throughout, so a
    # date like "06.12.2024" never fits).
    re.compile(_NUM_START + rf"0[1-9](?P<s>{_PHONE_SEP}?)\d{{2}}(?:(?P=s)\d{{2}}){{3}}" + _NUM_END, re.ASCII),
    # North American: "555-123-4567", "555.123.4567", "(555) 123-4567", "1-800-555-0199".
    re.compile(
        _NUM_START
        + rf"(?:1{_PHONE_SEP})?(?:\([2-9]\d{{2}}\){_PHONE_SEP}?|[2-9]\d{{2}}(?P<s>{_PHONE_SEP}))"
        + rf"\d{{3}}(?(s)(?P=s)|{_PHONE_SEP})\d{{4}}"
        + _NUM_END,
        re.ASCII,
    ),
)

_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)",
    re.ASCII,
)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])", re.ASCII)

_DIGIT = re.compile(r"\d")
_SEPARATORS = " \u00a0\u202f.-"
_LETTER_VALUES = {chr(c): str(c - ord("A") + 10) for c in range(ord("A"), ord("Z") + 1)}


def _compact(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum())


def _luhn(digits: str) -> bool:
    total = 0
    for position, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if position % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _valid_card(value: str) -> bool:
    digits = _compact(value)
    # Issuer ranges (Amex/Diners 3, Visa 4, Mastercard 2/5, Discover/UnionPay/Maestro 6) exclude most
    # invoice and tracking numbers, which Luhn alone would flag one time in ten.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and digits.strip("0") != "" and _luhn(digits)


def _valid_iban(value: str) -> bool:
    iban = _compact(value).upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(_LETTER_VALUES.get(ch, ch) for ch in rearranged)) % 97 == 1


def _valid_phone(value: str) -> bool:
    digits = sum(ch.isdigit() for ch in value)
    # E.164 allows 15 digits at most; fewer than 8 is no reachable number outside short codes.
    return 8 <= digits <= 15 + (1 if "(0)" in value else 0)


def _valid_ipv6(value: str) -> bool:
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return False
    # "::" or "a::b" also parse; a real address has more than two non-zero groups.
    return sum(1 for group in address.exploded.split(":") if group != "0000") > 2


def _always(_: str) -> bool:
    return True


def _checked(
    pattern: re.Pattern[str], text: str, check: Callable[[str], bool], trim: bool
) -> Iterator[tuple[int, int]]:
    """Spans of `pattern` in `text` that pass `check`.

    With `trim`, a candidate that fails is retried without its trailing groups, so an IBAN or card number
    followed by another number ("... 1111 12/26") is still found.
    """
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        start, end = m.span()
        found = check(text[start:end])
        if not found and trim:
            cuts = [i for i in range(end - 1, start, -1) if text[i] in _SEPARATORS]
            for cut in cuts:
                if check(text[start:cut]):
                    end, found = cut, True
                    break
        if found:
            yield start, end
            pos = end
        else:
            pos = start + 1  # an embedded candidate may start later inside the rejected one


def _candidates(text: str) -> Iterator[PiiMatch]:
    if "@" in text:
        for start, end in _checked(_EMAIL, text, _always, trim=False):
            yield PiiMatch(PiiKind.EMAIL, start, end)
    if _DIGIT.search(text) is not None:
        for start, end in _checked(_IBAN, text, _valid_iban, trim=True):
            yield PiiMatch(PiiKind.IBAN, start, end)
        for start, end in _checked(_CARD, text, _valid_card, trim=True):
            yield PiiMatch(PiiKind.CARD, start, end)
        for pattern in _PHONES:
            for start, end in _checked(pattern, text, _valid_phone, trim=True):
                yield PiiMatch(PiiKind.PHONE, start, end)
        for start, end in _checked(_IPV4, text, _always, trim=False):
            yield PiiMatch(PiiKind.IP, start, end)
    if "::" in text or text.count(":") >= 7:
        for start, end in _checked(_IPV6, text, _valid_ipv6, trim=False):
            yield PiiMatch(PiiKind.IP, start, end)


def _require_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(
            f"PII detection needs a message as str, not {type(text).__name__}; "
            "convert the text column with .astype(str) or drop empty rows first"
        )
    return text


def _is_missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value))


def find_pii(text: str) -> list[PiiMatch]:
    """Non-overlapping PII spans in `text`, in order of position.

    Where candidates overlap, the longest wins, then the better-checked kind
    (e-mail, IBAN, card, IP, phone): a card number is never also reported as a phone number.
    """
    _require_text(text)
    candidates = sorted(_candidates(text), key=lambda m: (m.start - m.end, _RANK[m.kind], m.start))
    kept: list[PiiMatch] = []
    for match in candidates:
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    kept.sort(key=lambda m: m.start)
    return kept


def _mask(text: str) -> str:
    matches = find_pii(text)
    if not matches:
        return text
    parts: list[str] = []
    last = 0
    for match in matches:
        parts.append(text[last : match.start])
        parts.append(match.placeholder)
        last = match.end
    parts.append(text[last:])
    return "".join(parts)


def mask_pii(text: str) -> str:
    """`text` with every PII span replaced by its kind's placeholder (`<EMAIL>`, `<PHONE>`, ...)."""
    return _mask(_require_text(text))


def count_pii(texts: Iterable[str]) -> dict[str, int]:
    """For each kind, how many texts contain at least one match (missing texts count as none).

    Every kind is present in the result, so reports and expectations can rely on the keys.
    """
    counts = {kind.value: 0 for kind in PiiKind}
    for text in texts:
        if _is_missing(text):
            continue
        for kind in {match.kind for match in find_pii(text)}:
            counts[kind.value] += 1
    return counts


def mask_series(series: pd.Series) -> pd.Series:
    """Masked copy of a text column (same index and name); missing values stay missing.

    Repeated messages are masked once, and texts with no digit, "@" or "::" skip the patterns entirely.
    """
    cache: dict[str, str] = {}
    out: list[object] = []
    for value in series.tolist():
        if isinstance(value, str):
            masked = cache.get(value)
            if masked is None:
                masked = cache[value] = _mask(value)
            out.append(masked)
        elif _is_missing(value):
            out.append(value)
        else:
            raise InvalidInputError(
                f"column '{series.name}' holds a {type(value).__name__} value; "
                "PII masking needs text, so convert the column with .astype(str) first"
            )
    return pd.Series(out, index=series.index, name=series.name, dtype=object)


class PiiLogFilter(logging.Filter):
    """Masks PII in log records before any handler formats them: attach it to handlers that may see text.

    The message is rendered with its arguments first, so PII passed as an argument is masked too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: mask the template alone
            message = str(record.msg)
        masked = _mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True
