"""Fit, save, reload and run the Alibi Detect detector of one model version.

| bundle            | detector input                                  | Alibi Detect detector                |
| ----------------- | ----------------------------------------------- | ------------------------------------ |
| tabular / tabular | numbers and category codes                      | TabularDrift (KS, chi2; Bonferroni)  |
| tabular / ks      | numbers and category codes                      | KSDrift (Bonferroni)                 |
| tabular / mmd     | standardised numbers, one-hot categories        | MMDDrift (PyTorch, permutation test) |
| text / ks         | embeddings reduced by PCA to `components` dims  | KSDrift (Bonferroni)                 |
| text / mmd        | embeddings reduced by PCA to `components` dims  | MMDDrift (PyTorch, permutation test) |

Everything is saved under the version's directory: the detector (`detector/`, by
`alibi_detect.saving.save_detector`), the encoding (`encoding.json` or `pca.npz`) and the settings
(`monitor.json`). A restart reloads them with `load_detector`; nothing is refitted. Alibi Detect is imported
on first use (it takes seconds), so the command line and the HTTP layer start without it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxops_drift.bundle import Bundle
from cxops_drift.distributions import summarise
from cxops_drift.errors import DriftError, InvalidError, NotFoundError
from cxops_drift.spec import MonitorSpec, parse_spec
from cxops_drift.tabular import TabularEncoding
from cxops_drift.text import PCA, embed

__all__ = [
    "MMD_FEATURE",
    "MMD_PERMUTATIONS",
    "MMD_SEED",
    "FittedDetector",
    "Outcome",
    "fit_detector",
    "load_saved",
]

MMD_FEATURE = "multivariate"  # MMD tests all features at once: one entry, not one per feature
MMD_PERMUTATIONS = 100
MMD_SEED = 0  # the permutation test is seeded: the same window always gets the same p-value
DETECTOR_DIR = "detector"
SPEC_FILE = "monitor.json"
ENCODING_FILE = "encoding.json"
PCA_FILE = "pca.npz"


@dataclass(frozen=True)
class Outcome:
    """What one drift test found: per-feature results, the threshold after correction, the verdict."""

    features: list[dict[str, Any]]
    threshold: float
    drift: bool


@dataclass
class FittedDetector:
    """A detector ready to test windows of one model version."""

    spec: MonitorSpec
    detector: Any
    transform: Callable[[list[Any]], np.ndarray]
    feature_names: list[str]
    feature_tests: list[str]

    @property
    def name(self) -> str:
        return type(self.detector).__name__

    def test(self, rows: list[Any]) -> Outcome:
        """Test checked rows (dicts, or texts) against the reference."""
        x = self.transform(rows)
        if self.name == "MMDDrift":
            import torch

            # The permutations come from torch's global generator: seed a fork of it, leave it untouched.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(MMD_SEED)
                data = self.detector.predict(x, return_p_val=True, return_distance=True)["data"]
            p_value, statistic = float(data["p_val"]), float(data["distance"])
            drift = bool(data["is_drift"])
            entry = {
                "name": MMD_FEATURE,
                "test": "mmd",
                "statistic": statistic,
                "p_value": p_value,
                "drift": drift,
            }
            return Outcome(features=[entry], threshold=float(data["threshold"]), drift=drift)
        data = self.detector.predict(x, drift_type="batch", return_p_val=True, return_distance=True)["data"]
        threshold = float(data["threshold"])
        summaries = self._summaries(x)
        features = [
            {
                "name": name,
                "test": test,
                "statistic": float(statistic),
                "p_value": float(p_value),
                "drift": bool(p_value < threshold),
            }
            for name, test, statistic, p_value in zip(
                self.feature_names, self.feature_tests, data["distance"], data["p_val"], strict=True
            )
        ]
        for entry, (reference, current) in zip(features, summaries, strict=False):
            entry["reference"], entry["current"] = reference, current
        return Outcome(features=features, threshold=threshold, drift=bool(data["is_drift"]))

    def _summaries(self, x: np.ndarray) -> list[tuple[dict, dict]]:
        """Each tabular feature's reference and current distributions (none for text embeddings)."""
        if self.spec.kind == "text":
            return []
        x_ref = np.asarray(self.detector.x_ref)
        return [summarise(f, x_ref[:, j], x[:, j]) for j, f in enumerate(self.spec.features)]


def _tabular_parts(spec: MonitorSpec, encoding: TabularEncoding) -> tuple[Callable, list[str], list[str]]:
    names = encoding.names
    if spec.detector == "mmd":
        return encoding.one_hot, [MMD_FEATURE], ["mmd"]
    tests = ["ks" if f.numeric or spec.detector == "ks" else "chi2" for f in spec.features]
    return encoding.codes, names, tests


def _text_parts(spec: MonitorSpec, pca: PCA) -> tuple[Callable, list[str], list[str]]:
    def transform(texts: list[Any]) -> np.ndarray:
        return pca.transform(embed(list(texts)))

    k = pca.components.shape[0]
    if spec.detector == "mmd":
        return transform, [MMD_FEATURE], ["mmd"]
    return transform, [f"emb_{i}" for i in range(k)], ["ks"] * k


def _build(spec: MonitorSpec, x_ref: np.ndarray, categories: dict[int, list[int]] | None) -> Any:
    from alibi_detect.cd import KSDrift, MMDDrift, TabularDrift

    if spec.detector == "mmd":
        return MMDDrift(
            x_ref, backend="pytorch", p_val=spec.p_value, n_permutations=MMD_PERMUTATIONS, device="cpu"
        )
    if spec.detector == "tabular":
        return TabularDrift(x_ref, p_val=spec.p_value, categories_per_feature=categories or {})
    return KSDrift(x_ref, p_val=spec.p_value, correction="bonferroni")


def fit_detector(bundle: Bundle, directory: Path) -> FittedDetector:
    """Fit the detector of `bundle` on its reference and save everything to `directory` (replaced)."""
    from alibi_detect.saving import save_detector

    spec = bundle.spec
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    if spec.kind == "text":
        k = spec.components or 1
        if k > len(bundle.reference):
            raise InvalidError(
                f"drift bundle of model '{spec.model}': components {k} is above the {len(bundle.reference)} "
                "usable reference texts; lower `components` or write a larger reference"
            )
        embeddings = embed(bundle.reference)
        pca = PCA.fit(embeddings, k)
        pca.save(directory / PCA_FILE)
        transform, names, tests = _text_parts(spec, pca)
        x_ref, categories = pca.transform(embeddings), None
    else:
        encoding = TabularEncoding.fit(spec, bundle.reference)
        (directory / ENCODING_FILE).write_text(json.dumps(encoding.to_dict(), indent=2) + "\n")
        transform, names, tests = _tabular_parts(spec, encoding)
        x_ref = transform(bundle.reference)
        categories = encoding.reference_categories(encoding.codes(bundle.reference))
    detector = _build(spec, x_ref, categories if spec.detector == "tabular" else None)
    (directory / DETECTOR_DIR).mkdir()
    save_detector(detector, directory / DETECTOR_DIR)
    (directory / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    return FittedDetector(
        spec=spec, detector=detector, transform=transform, feature_names=names, feature_tests=tests
    )


def load_saved(directory: Path) -> FittedDetector:
    """Reload a detector saved by `fit_detector` (no refit)."""
    from alibi_detect.saving import load_detector

    spec_path = directory / SPEC_FILE
    if not spec_path.is_file():
        raise NotFoundError(f"saved detector {directory} has no {SPEC_FILE}; register the version again")
    spec = parse_spec(json.loads(spec_path.read_text()), where=str(spec_path))
    try:
        detector = load_detector(directory / DETECTOR_DIR)
    except Exception as error:  # Alibi Detect raises many kinds; the fix is the same
        raise DriftError(
            f"saved detector of model '{spec.model}' in {directory} cannot be loaded ({error}); "
            "register the version again"
        ) from error
    if spec.kind == "text":
        transform, names, tests = _text_parts(spec, PCA.load(directory / PCA_FILE))
    else:
        encoding = TabularEncoding.from_dict(spec, json.loads((directory / ENCODING_FILE).read_text()))
        transform, names, tests = _tabular_parts(spec, encoding)
    return FittedDetector(
        spec=spec, detector=detector, transform=transform, feature_names=names, feature_tests=tests
    )
