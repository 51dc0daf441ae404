from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxops.data.messages import support_messages
from cxops.text.language import LANGUAGES, detect_language, detect_languages

SENTENCES = {
    "en": "Hi, I have been waiting for my new SIM card for two weeks and it still has not arrived.",
    "fr": "Bonjour, je n'arrive pas à me connecter depuis hier, pouvez-vous m'aider ?",
    "es": "Hola, no puedo acceder a mi cuenta desde ayer, ¿me pueden ayudar por favor?",
    "de": "Hallo, ich kann mich seit gestern nicht mehr anmelden, können Sie mir bitte helfen?",
    "it": "Ciao, non riesco ad accedere al mio account da ieri, potete aiutarmi per favore?",
    "pt": "Olá, não consigo acessar minha conta desde ontem, vocês podem me ajudar por favor?",
    "nl": "Hallo, ik kan sinds gisteren niet meer inloggen op mijn account, kunnen jullie mij helpen?",
}


def test_knows_the_seven_languages() -> None:
    assert set(LANGUAGES) == set(SENTENCES)


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_detects_each_language(language: str) -> None:
    assert detect_language(SENTENCES[language]) == language


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ok",
        "merci",  # one word is too easily borrowed
        "SIM 4G PUK???",
        "la cuenta no funciona",  # fits Spanish and Italian equally well
        "@VirginAmerica @united http://t.co/abc #fail",  # handles and links are no words of a language
    ],
)
def test_too_short_or_ambiguous_is_unknown(text: str) -> None:
    assert detect_language(text) is None


@pytest.mark.parametrize("value", [None, np.nan, 42, b"bytes"])
def test_what_is_not_text_is_unknown(value: object) -> None:
    assert detect_language(value) is None


def test_english_contractions_are_not_french_elisions() -> None:
    # "I'd" and "it's" leave `d` and `s` behind; "l'appli" and "c'est" are French articles and pronouns.
    assert detect_language("I'd say it's the one I'm after") == "en"
    assert detect_language("l’appli ne marche plus, c’est nul") == "fr"


def test_handles_do_not_count_as_words() -> None:
    assert detect_language("@lesbonsplans merci pour la réponse, c'est top") == "fr"
    assert detect_language("@de_la_vega @die_ist_das thanks for the quick help") == "en"


def test_detect_languages_keeps_index_and_name() -> None:
    series = pd.Series([SENTENCES["de"], None, "ok", SENTENCES["de"]], index=[10, 11, 12, 13], name="text")

    detected = detect_languages(series)

    assert detected.index.tolist() == [10, 11, 12, 13]
    assert detected.name == "text"
    assert detected.tolist() == ["de", None, None, "de"]


def test_detect_languages_takes_any_iterable() -> None:
    assert detect_languages([SENTENCES["nl"], SENTENCES["pt"]]).tolist() == ["nl", "pt"]


def test_agrees_with_the_generated_messages_language() -> None:
    frame = support_messages(n=2000, seed=4)

    detected = detect_languages(frame["text"])

    known = detected.notna()
    assert known.mean() > 0.95
    assert (detected[known] == frame.loc[known, "language"]).mean() > 0.99
