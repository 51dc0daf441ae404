"""Which language a message is written in, from its function words (stop words).

A light detector for checking batches of support messages (`cxops.validation`), not a general-purpose
one: it knows English, French, Spanish, German, Italian, Portuguese and Dutch, and says "don't know"
(`None`) rather than guess when a message is too short or its words fit several languages equally well.
Function words make up a third to a half of any sentence, so a handful of them decides most messages;
a word shared by several languages counts for each of them in proportion (`1 / languages sharing it`).
Pure Python on word sets: about 10k messages per 100 ms, and repeated messages are looked at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

__all__ = ["LANGUAGES", "detect_language", "detect_languages"]

_STOP_WORDS: dict[str, str] = {
    "en": """
        'd 'll 'm 're 's 't 've a about after again all also am an and any are as at be been before but by
        can could did didn do does doesn don for from get got had has have haven he her his how i if in
        is isn it its just me my no not now of on only or our out please she so still than thank thanks
        that the their them then there they this to up us was wasn we were what when where which who why
        will with won would you your
    """,
    "fr": """
        a ai alors as au aussi avez aux avec avoir bien bonjour c' ca car ce cela ces cette chez comment ça
        d' dans de depuis des du elle encore est et était été être fait il ils j' je l' la le les leur m' ma
        mais me merci mes moi mon même n' ne nous on ont ou où par pas peux plus pour pourquoi pouvez qu'
        quand que qui quoi rien s' sans se si son sont suis sur ta te ton toujours tout très tu un une veux
        vos votre vous y
    """,
    "es": """
        al como con cuando de del el ella en era es esta este esto está están estoy fue gracias ha han hay
        he hola la las le lo los me mi mis muy más nada no nos para pero por porque puedo que qué se sin
        sobre son su sus también tengo todo tu un una uno unos usted y ya yo
    """,
    "de": """
        aber als an auch auf aus bei bin bitte da danke das dass dem den der des die du ein eine einem
        einen einer er es für habe haben hallo hat ich ihr im immer in ist jetzt kann kein keine mein
        meine meinen mich mir mit nach nicht noch nur oder schon seit sich sie sind über um und uns von
        war warum was wenn wie wir wird wurde zu
    """,
    "it": """
        a al alla all' anche ancora c' che ci ciao come con d' da dal del dell' della dei di e gli grazie ha
        hanno ho i il in io l' la le lei lo lui ma mi mia mio molto nel nell' nella non per perché più
        questa questo se si sono stato sul ti tu un un' una uno è
    """,
    "pt": """
        a ainda ao as com como da das de do dos e ela ele em era essa esse está estou eu foi isso já mais
        mas meu minha muito na nas no nos não o obrigada obrigado olá os para pela pelo por porque quando
        que se seu sua são também tem tenho um uma você é
    """,
    "nl": """
        aan al als bedankt bij dank dat de deze die dit een en er geen graag hallo heb hebt heeft het hier
        hoe ik in is je jij kan kunt maar mee met mijn naar niet niets nog nooit nu of om omdat ons ook op
        te u uw van voor waarom wanneer was wat we wij wordt ze zij zijn
    """,
}

LANGUAGES: tuple[str, ...] = tuple(_STOP_WORDS)
"""ISO 639-1 codes of the languages `detect_language` can tell apart."""


def _weights() -> dict[str, tuple[tuple[int, float], ...]]:
    """word -> ((language index, weight), ...): a word shared by k languages weighs 1/k in each."""
    owners: dict[str, list[int]] = {}
    for index, words in enumerate(_STOP_WORDS.values()):
        for word in set(words.split()):
            owners.setdefault(word, []).append(index)
    return {word: tuple((i, 1.0 / len(langs)) for i in langs) for word, langs in owners.items()}


_WEIGHTS = _weights()

# Handles, hashtags' marks and links say nothing about the language of the words around them.
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|<[A-Z]+>")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
# English contractions end in these ("it's", "don't"); any other apostrophe is an elision ("l'appli",
# "dell'anno"), whose article or preposition is the telling part.
_SUFFIXES = frozenset({"s", "d", "m", "ll", "re", "ve", "t"})

MIN_WORDS = 2
"""Function words a message needs before its language is told (one word is too easily borrowed)."""
MIN_MARGIN = 1.5
"""How many times the runner-up's score the best language needs; closer calls are ambiguous."""


def _words(text: str) -> list[str]:
    """Lower-case words; "it's" gives `it` and `'s`, "l'appli" gives `l'` and `appli`."""
    words: list[str] = []
    for token in _WORD.findall(_NOISE.sub(" ", text).replace("\u2019", "'").lower()):
        if "'" not in token:
            words.append(token)
            continue
        left, _, right = token.partition("'")
        words += [left, "'" + right] if right in _SUFFIXES else [left + "'", right]
    return words


def detect_language(text: object) -> str | None:
    """ISO 639-1 code of the language of `text`, or None when it is too short or ambiguous to tell
    (or not text at all)."""
    if not isinstance(text, str):
        return None
    scores = [0.0] * len(LANGUAGES)
    hits = 0
    for word in _words(text):
        weights = _WEIGHTS.get(word)
        if weights is None:
            continue
        hits += 1
        for index, weight in weights:
            scores[index] += weight
    if hits < MIN_WORDS:
        return None
    ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    best, second = scores[ranked[0]], scores[ranked[1]]
    if best < 1.0 or best < MIN_MARGIN * second:
        return None
    return LANGUAGES[ranked[0]]


def detect_languages(texts: pd.Series | Iterable[object]) -> pd.Series:
    """`detect_language` of each text, as an object Series (None where unknown) with the input's index
    when given a Series. Each distinct text is looked at once."""
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    seen: dict[str, str | None] = {}
    out: list[str | None] = []
    for value in series.tolist():
        if isinstance(value, str):
            if value not in seen:
                seen[value] = detect_language(value)
            out.append(seen[value])
        else:
            out.append(None)
    return pd.Series(out, index=series.index, name=series.name, dtype=object)
