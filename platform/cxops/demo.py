"""`make demo`: the churn lifecycle end to end on the embedded defaults, with visible progress."""

from __future__ import annotations

import asyncio
import time

import pandas as pd
from rich.table import Table

from cxops.cli._output import console, step
from cxops.config import Settings, get_settings
from cxops.specs import load_model_code, load_spec

__all__ = ["run_demo"]

MODEL = "churn"


def _plain(value: object) -> object:
    """A JSON-ready Python value from a pandas cell (missing -> None, numpy scalars -> Python)."""
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


async def _score_v2(url: str, customer_ids: list[str]) -> dict[str, list]:
    """Score customers by id through the KServe V2 route (Open Inference Protocol), with KServe's client."""
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        request = InferRequest(
            model_name=MODEL,
            infer_inputs=[
                InferInput(name="customer_id", shape=[len(customer_ids)], datatype="BYTES", data=customer_ids)
            ],
        )
        response = await client.infer(url, request, model_name=MODEL)
    finally:
        await client.close()
    return {output.name: list(output.data) for output in response.outputs}


def _show_bad_requests(url: str, row: dict) -> None:
    """What an application team sees when it gets a request wrong: a 4xx that says what and how to fix it."""
    import httpx

    bad_row = dict(row, Contract="Monthly")
    cases = [
        (
            "unknown customer",
            f"/v2/models/{MODEL}/infer",
            {"inputs": [{"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": ["0000-NOBODY"]}]},
        ),
        ("unknown category", f"/v1/models/{MODEL}:predict", {"instances": [bad_row]}),
    ]
    for what, path, body in cases:
        answer = httpx.post(f"{url}{path}", json=body, timeout=30)
        console.print(f"  {what}: HTTP {answer.status_code} {answer.json().get('error', answer.text)}")


def run_demo(data_path: str = "", rows: int = 5000, settings: Settings | None = None) -> None:
    from cxops.lifecycle.pipeline import run_pipeline
    from cxops.registry import Registry
    from cxops.scoring import score_file
    from cxops.serving.server import start_server

    settings = settings or get_settings()
    started = time.monotonic()
    source = data_path or f"{rows} generated subscribers"
    step(f"1/4 training pipeline for '{MODEL}' on {source} (kfp.local; every step's log follows)")
    result = run_pipeline(MODEL, settings, data_path=data_path, rows=rows)
    record = result["record"]
    console.print(f"[green]registered[/] {MODEL} v{record.version} ({record.stage}), bento {result['bento']}")

    with Registry.from_settings(settings) as registry:
        dataset = registry.get_dataset(MODEL, record.lineage["dataset_version"])
        validation = registry.get_validation(record.lineage["validation_id"])
    raw = pd.read_parquet(dataset.uri)

    step(f"2/4 serving bento {result['bento']} with `bentoml serve`")
    with start_server(result["bento"], port=0, settings=settings) as server:
        console.print(f"  ready at {server.url}")
        step("3/4 scoring customers through KServe V2 /v2/models/churn/infer (kserve.InferenceRESTClient)")
        customers = raw.sample(5, random_state=1)["customerID"].tolist()
        outputs = asyncio.run(_score_v2(server.url, customers))
        table = Table("customer", "churn probability", "label")
        for customer, proba, label in zip(customers, outputs["probability"], outputs["label"], strict=True):
            table.add_row(customer, f"{proba:.3f}", str(label))
        console.print(table)
        features = load_model_code(MODEL, settings).derive_features(raw.head(1))
        row = {c: _plain(features.iloc[0][c]) for c in load_spec(MODEL, settings).features.names}
        _show_bad_requests(server.url, row)

    step("4/4 batch scoring raw rows (the nightly push into the CRM)")
    batch_in = settings.subdir("demo") / "customers_to_score.csv"
    raw.drop(columns=["Churn", "event_timestamp"]).head(1000).to_csv(batch_in, index=False)
    scores = score_file(MODEL, batch_in, settings.subdir("demo") / "churn_scores.csv", settings)
    console.print(f"  {scores.rows} rows scored, {scores.positives} flagged as likely to churn")

    elapsed = time.monotonic() - started
    cards = [
        (n.replace("_", " "), record.artifacts[n])
        for n in ("model_card_html", "model_card")
        if n in record.artifacts
    ]
    where = [
        ("registry entry", f"{MODEL} v{record.version} ({record.stage}) in {settings.metadata_url}"),
        ("inspect it", f"cxops models show {MODEL} --version {record.version}"),
        ("dataset snapshot", f"{dataset.version} ({dataset.rows} rows) {dataset.uri}"),
        ("validation report", str(validation.report_uri)),
        *cards,
        ("model artifact", record.artifacts["model"]),
        ("bento", f"{result['bento']} in {settings.bentoml_home / 'bentos'}"),
        ("Feast store", str(settings.feast_dir)),
        ("batch scores", str(scores.output)),
        ("serve it again", f"cxops serve {MODEL} --version {record.version}"),
    ]
    console.print(f"\n[bold green]CXOps demo finished in {elapsed:.0f} s[/]")
    for what, path in where:
        console.print(f"  [bold]{what + ':':<19}[/]", path, soft_wrap=True)
