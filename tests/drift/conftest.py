"""Fixtures of the drift monitor's tests: seeded synthetic data and bundles written to tmp_path.

Only the monitor environment's packages are used here (numpy, the standard library): these tests run with
`.venv-monitor/bin/pytest -q tests/drift -p no:cacheprovider`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CONTRACTS = ["Month-to-month", "One year", "Two year"]
INTERNET = ["DSL", "Fiber optic", "No"]
FEATURES: list[dict[str, Any]] = [
    {"name": "tenure", "type": "numeric", "min": 0, "max": 120, "nullable": False},
    {"name": "MonthlyCharges", "type": "numeric", "min": 0, "max": 500, "nullable": False},
    {"name": "support_contacts_90d", "type": "numeric", "min": 0, "max": 100, "nullable": True},
    {"name": "Contract", "type": "categorical", "categories": CONTRACTS, "nullable": False},
    {"name": "InternetService", "type": "categorical", "categories": INTERNET, "nullable": False},
    {"name": "SeniorCitizen", "type": "categorical", "categories": ["0", "1"], "nullable": False},
]
SHIFTED = ["tenure", "MonthlyCharges", "Contract"]


class ChurnData:
    """Churn-like inputs. `shifted=True` moves tenure down, charges up and the contract mix to monthly;
    the other features keep their distribution."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def rows(self, n: int, *, shifted: bool = False) -> list[dict[str, Any]]:
        rng = self.rng
        tenure = np.minimum(120, rng.gamma(2.0, 8.0 if shifted else 16.0, n)).astype(int)
        charges = np.clip(rng.normal(90.0 if shifted else 65.0, 25.0, n), 18, 200).round(2)
        contacts = rng.poisson(1.5, n)
        contact_null = rng.random(n) < 0.05
        contract = rng.choice(CONTRACTS, n, p=[0.85, 0.1, 0.05] if shifted else [0.55, 0.25, 0.2])
        internet = rng.choice(INTERNET, n, p=[0.35, 0.45, 0.2])
        senior = (rng.random(n) < 0.16).astype(int)
        return [
            {
                "tenure": int(tenure[i]),
                "MonthlyCharges": float(charges[i]),
                "support_contacts_90d": None if contact_null[i] else int(contacts[i]),
                "Contract": str(contract[i]),
                "InternetService": str(internet[i]),
                "SeniorCitizen": int(senior[i]),  # a category "0"/"1" sent as a number, as clients do
            }
            for i in range(n)
        ]


# Support messages by topic, English and French, built from templates (seeded choices).
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "billing": (
        [
            "why is my {thing} so high this month",
            "I was charged twice for my {thing}",
            "please explain the extra fee on my {thing}",
            "can I get a refund for the wrong {thing}",
            "my {thing} shows a charge I do not recognise",
        ],
        ["bill", "invoice", "monthly payment", "direct debit", "statement", "roaming charge"],
    ),
    "network": (
        [
            "no {thing} since this morning in my area",
            "the {thing} keeps dropping every few minutes",
            "is there an outage affecting the {thing} near me",
            "my {thing} is extremely slow tonight",
            "I cannot connect to the {thing} at all",
        ],
        ["internet", "mobile signal", "fibre connection", "4G network", "wifi router", "landline"],
    ),
    "device": (
        [
            "my new {thing} will not turn on",
            "how do I set up the {thing} you sent me",
            "the screen of my {thing} is cracked, can you repair it",
            "the battery of my {thing} drains very fast",
            "I want to return the {thing} I bought last week",
        ],
        ["phone", "tablet", "smartwatch", "modem", "SIM card", "handset"],
    ),
    "cancel": (
        [
            "I want to cancel my {thing} today",
            "how much does it cost to end my {thing} early",
            "please close my {thing}, I am moving abroad",
            "I am leaving for another operator, stop my {thing}",
            "what is the notice period to terminate my {thing}",
        ],
        ["contract", "subscription", "mobile plan", "broadband service", "TV package", "account"],
    ),
    "french": (
        [
            "pourquoi ma {thing} est si élevée ce mois-ci",
            "je n'ai plus de {thing} depuis ce matin",
            "je veux résilier mon {thing} aujourd'hui",
            "mon {thing} ne s'allume plus du tout",
            "pouvez-vous m'expliquer les frais sur mon {thing}",
        ],
        ["facture", "connexion", "abonnement", "téléphone", "forfait", "contrat"],
    ),
}


class SupportTexts:
    """Support messages drawn from a topic mix, e.g. {"billing": 0.5, "network": 0.5}."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def texts(self, n: int, mix: dict[str, float]) -> list[str]:
        topics = list(mix)
        picks = self.rng.choice(len(topics), n, p=np.array(list(mix.values())) / sum(mix.values()))
        out = []
        for index in picks:
            templates, things = TOPICS[topics[index]]
            template = templates[self.rng.integers(len(templates))]
            out.append(template.format(thing=things[self.rng.integers(len(things))]))
        return out


def _write_bundle(
    directory: Path, settings: dict[str, Any], columns: list[str], rows: list[dict[str, Any]]
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "reference.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    (directory / "monitor.json").write_text(json.dumps({**settings, "reference_rows": len(rows)}, indent=2))
    return directory


@pytest.fixture
def churn_data() -> ChurnData:
    return ChurnData(seed=2024)


@pytest.fixture
def support_texts() -> SupportTexts:
    return SupportTexts(seed=11)


REFERENCE_MIX = {"billing": 0.5, "network": 0.5}


@pytest.fixture
def tabular_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Write a churn-like tabular bundle; `tabular_bundle(detector, **settings)` returns its directory."""

    def write(detector: str = "tabular", name: str = "bundle", rows: int = 1000, **settings: Any) -> Path:
        base = {
            "format": 1,
            "model": "churn",
            "kind": "tabular",
            "detector": detector,
            "p_value": 0.05,
            "window_size": 300,
            "min_window": 100,
            "features": FEATURES,
            "quality": {"max_invalid_fraction": 0.05, "max_null_fraction": 0.2},
            "id_fields": ["customer_id", "customer_ids", "customerID"],
            "reference": "reference.csv",
        }
        reference = ChurnData(seed=1).rows(rows)
        return _write_bundle(tmp_path / name, base | settings, [f["name"] for f in FEATURES], reference)

    return write


@pytest.fixture
def text_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Write a text bundle whose reference mixes billing and network messages."""

    def write(detector: str = "ks", name: str = "text-bundle", rows: int = 300, **settings: Any) -> Path:
        base = {
            "format": 1,
            "model": "intent",
            "kind": "text",
            "detector": detector,
            "p_value": 0.05,
            "window_size": 100,
            "min_window": 50,
            "text_field": "text",
            "encoder": "all-MiniLM-L6-v2",
            "components": 8,
            "quality": {"max_invalid_fraction": 0.05, "max_null_fraction": 0.2},
            "id_fields": ["customer_id", "customer_ids"],
            "reference": "reference.csv",
        }
        texts = SupportTexts(seed=3).texts(rows, REFERENCE_MIX)
        return _write_bundle(tmp_path / name, base | settings, ["text"], [{"text": t} for t in texts])

    return write


@pytest.fixture
def request_event() -> Callable[..., Any]:
    """A KServe request CloudEvent for the service: `request_event(body, model="churn", version=None)`."""
    from cxops_drift.events import CloudEvent

    counter = iter(range(1_000_000))

    def make(
        body: Any, model: str = "churn", version: str | None = None, kind: str = "request"
    ) -> CloudEvent:
        attributes = {
            "specversion": "1.0",
            "id": f"req-{next(counter)}",
            "type": f"org.kubeflow.serving.inference.{kind}",
            "source": "http://localhost:9081/",
            "inferenceservicename": model,
            "namespace": "cxops",
            "endpoint": "default",
        }
        if version is not None:
            attributes["cxopsversion"] = version
        return CloudEvent(attributes=attributes, data=body)

    return make
