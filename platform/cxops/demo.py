"""`make demo`: the churn lifecycle end to end on the embedded defaults, with visible progress."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
from rich.table import Table

from cxops.cli._output import console, step
from cxops.config import Settings, get_settings

__all__ = ["run_demo"]

MODEL = "churn"


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


def _show_bad_request(url: str) -> None:
    import httpx

    body = {"inputs": [{"name": "tenure", "shape": [1], "datatype": "BYTES", "data": ["three"]}]}
    answer = httpx.post(f"{url}/v2/models/{MODEL}/infer", json=body, timeout=30)
    console.print(
        f"  a malformed request gets HTTP {answer.status_code}: {answer.json().get('error', answer.text)}"
    )


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
        _show_bad_request(server.url)

    step("4/4 batch scoring raw rows (the nightly push into the CRM)")
    batch_in = settings.subdir("demo") / "customers_to_score.csv"
    raw.drop(columns=["Churn", "event_timestamp"]).head(1000).to_csv(batch_in, index=False)
    scores = score_file(MODEL, batch_in, settings.subdir("demo") / "churn_scores.csv", settings)
    console.print(f"  {scores.rows} rows scored, {scores.positives} flagged as likely to churn")

    elapsed = time.monotonic() - started
    where = Table("what", "where", title=f"CXOps demo finished in {elapsed:.0f} s", show_lines=False)
    where.add_row("registry entry", f"{MODEL} v{record.version} ({record.stage}) in {settings.metadata_url}")
    where.add_row("inspect it", f"cxops models show {MODEL} --version {record.version}")
    where.add_row("dataset snapshot", f"{dataset.version} ({dataset.rows} rows) {dataset.uri}")
    where.add_row("validation report", str(validation.report_uri))
    for name in ("model_card_html", "model_card"):
        if name in record.artifacts:
            where.add_row(name.replace("_", " "), record.artifacts[name])
    where.add_row("model artifact", record.artifacts["model"])
    where.add_row("bento", f"{result['bento']} in {settings.bentoml_home / 'bentos'}")
    where.add_row("Feast store", str(settings.feast_dir))
    where.add_row("batch scores", str(Path(scores.output)))
    where.add_row("serve it again", f"cxops serve {MODEL} --version {record.version}")
    console.print(where)
