"""The recommendation model end to end: the training pipeline through `kfp.local` on generated offer
responses, then its bento on a real port, called with plain HTTP and the kserve client."""

import asyncio
from pathlib import Path

import httpx
import pandas as pd
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

from cxops.config import Settings
from cxops.privacy.pseudonymise import pseudonymise
from cxops.recommendation.policy import load_offer_policy
from cxops.registry import Registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "recommendation"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from cxops.lifecycle.pipeline import run_pipeline

    settings = Settings(home=tmp_path_factory.mktemp("recommendation") / "home")
    result = run_pipeline(MODEL, settings, rows=500, seed=3)
    with Registry.from_settings(settings) as registry:
        dataset = registry.get_dataset(MODEL, result["record"].lineage["dataset_version"])
    return settings, result, pd.read_parquet(dataset.uri)


@pytest.fixture(scope="module")
def server(trained):
    from cxops.serving.server import start_server

    settings, result, _ = trained
    with start_server(result["bento"], port=0, settings=settings) as running:
        yield running.url


def _customer(raw: pd.DataFrame, marketing: str | None, opt_out: str | None) -> str:
    def matches(column: str, value: str | None) -> pd.Series:
        return raw[column].isna() if value is None else raw[column] == value

    chosen = matches("marketing_consent", marketing) & matches("profiling_opt_out", opt_out)
    return raw.loc[chosen, "customerID"].iloc[0]


def test_pipeline_registers_a_ranker_with_baselines_lineage_and_bento(trained):
    _, result, _ = trained
    record = result["record"]
    assert record.version == 1 and record.stage == "candidate"
    assert result["bento"].startswith("cxops-recommendation:")
    metrics = record.metrics
    for name in ("hit_rate_at_k", "ndcg_at_k", "map_at_k", "coverage_at_k"):
        assert 0 <= metrics[name] <= 1
        assert 0 <= metrics[f"popularity_{name}"] <= 1 and 0 <= metrics[f"cooccurrence_{name}"] <= 1
    assert metrics["beats_baselines"] in (0.0, 1.0)
    lineage = record.lineage
    assert lineage["feature_service"] == "recommendation_features"
    assert "offer_catalogue" in lineage["feature_views"] and lineage["trainer"] == "xgboost_ranker"
    assert lineage["ray"]["backend"] == "ray"
    card = Path(record.artifacts["model_card"]).read_text()
    assert "Popularity" in card and "Co-occurrence" in card


def test_customers_who_objected_to_profiling_never_train_the_model(trained):
    settings, _, raw = trained
    objected = raw.loc[raw["profiling_opt_out"] == "Yes", "customerID"].unique()
    assert len(objected) > 0
    key = settings.pseudonym_key_bytes()
    objected_pids = {pseudonymise(c, key) for c in objected}
    runs = settings.subdir("pipeline_runs")
    frames = [pd.read_parquet(p) for name in ("train_set", "test_set") for p in runs.rglob(name)]
    assert frames
    seen = set(pd.concat(frames)["customer_pid"])
    assert seen and not seen & objected_pids
    assert "customerID" not in pd.concat(frames).columns  # only pseudonyms past the features step


def test_recommendations_are_eligible_ranked_and_explained(trained, server):
    settings, _, raw = trained
    customer = _customer(raw, "Yes", "No")
    answer = httpx.post(f"{server}/v1/recommendations", json={"customer_id": customer, "k": 3}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["personalised"] is True and body["model_version"] == "1" and 1 <= len(body["offers"]) <= 3
    policy = load_offer_policy(settings)
    profile = raw[raw["customerID"] == customer].head(1)
    held = policy.held(profile).iloc[0]
    assert not any(held[o["offer_id"]] for o in body["offers"])
    assert [o["rank"] for o in body["offers"]] == list(range(1, len(body["offers"]) + 1))
    assert all(o["reasons"] for o in body["offers"])
    assert any("no churn model" in r for r in body["reasons"])  # the server was given no churn URL
    assert body["policy_version"] == policy.version


def test_an_objection_to_profiling_gives_the_non_personalised_ranking(trained, server):
    _, _, raw = trained
    body = httpx.post(
        f"{server}/v1/recommendations", json={"customer_id": _customer(raw, "Yes", "Yes")}, timeout=30
    ).json()
    assert body["personalised"] is False and any("art. 21" in r for r in body["reasons"])


def test_bad_requests_get_a_4xx_that_says_what_to_fix(trained, server):
    _, _, raw = trained
    customer = _customer(raw, "Yes", "No")
    cases = [
        ({"customer_id": "0000-NOBODY"}, 404, "no features"),
        ({"customer_id": _customer(raw, None, None)}, 409, "consent record"),
        ({"customer_id": customer, "k": 0}, 422, "'k'"),
        ({"customer_id": customer, "k": 50}, 422, "'k'"),
        ({"customer_id": customer, "channel": "fax"}, 422, "'channel'"),
        ({"customer": customer}, 422, "customer_id"),
    ]
    for body, status, message in cases:
        answer = httpx.post(f"{server}/v1/recommendations", json=body, timeout=30)
        assert answer.status_code == status, (body, answer.text)
        assert message in answer.json()["error"]
    no_consent = httpx.post(
        f"{server}/v1/recommendations", json={"customer_id": _customer(raw, "No", "No")}, timeout=30
    ).json()
    assert no_consent["offers"] == [] and any("consent to marketing" in r for r in no_consent["reasons"])


async def _v2(url: str, inputs: list[InferInput]):
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        return await client.infer(url, InferRequest(model_name=MODEL, infer_inputs=inputs), model_name=MODEL)
    finally:
        await client.close()


def test_v2_route_with_the_kserve_client(trained, server):
    _, _, raw = trained
    customer = _customer(raw, "Yes", "No")
    response = asyncio.run(
        _v2(
            server,
            [
                InferInput(name="customer_id", shape=[1], datatype="BYTES", data=[customer]),
                InferInput(name="k", shape=[1], datatype="INT64", data=[2]),
                InferInput(name="channel", shape=[1], datatype="BYTES", data=["agent"]),
            ],
        )
    )
    outputs = {o.name: list(o.data) for o in response.outputs}
    assert response.model_name == MODEL and 1 <= len(outputs["offer_id"]) <= 2
    assert len(outputs["score"]) == len(outputs["offer_id"]) and outputs["personalised"] == [True]
    plain = httpx.post(f"{server}/v1/recommendations", json={"customer_id": customer, "k": 2}, timeout=30)
    assert [o["offer_id"] for o in plain.json()["offers"]] == outputs["offer_id"]
    metadata = httpx.get(f"{server}/v2/models/{MODEL}", timeout=30).json()
    assert [i["name"] for i in metadata["inputs"]] == ["customer_id", "k", "channel"]
    two = {
        "inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [2], "data": [customer, customer]}]
    }
    answer = httpx.post(f"{server}/v2/models/{MODEL}/infer", json=two, timeout=30)
    assert answer.status_code == 422 and "one customer per request" in answer.json()["error"]
