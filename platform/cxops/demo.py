"""`make demo`: the lifecycle of churn, intent, sentiment and next-best-offer recommendation end to end on
the embedded defaults, then the triage and recommendation endpoints that application teams call, with
visible progress."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pandas as pd
from rich.table import Table

from cxops.cli._output import console, step
from cxops.config import Settings, get_settings
from cxops.specs import load_model_code, load_spec

__all__ = ["run_demo"]

MODEL = "churn"
TEXT_MODELS = ("intent", "sentiment")
OFFERS = "recommendation"
DEMO_MESSAGES = (
    ("I want to cancel my contract, your service has been down for three days!!", "4312-ABCDE", "chat"),
    ("Hi, could you tell me when my new SIM card will be delivered? Thanks", None, "email"),
    ("Bonjour, je voudrais changer de forfait pour avoir plus de data", None, "app"),
    ("internet is so slow tonight, cant even stream. fix it", None, "social"),
    ("Merci beaucoup, le technicien a tout réparé rapidement !", None, "chat"),
)


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


def _show_bad_triage_requests(url: str) -> None:
    import httpx

    cases = [
        ("empty message", {"content": b'{"message": "   "}'}),
        ("oversized message", {"json": {"message": "slow internet " * 1000}}),
        ("not UTF-8", {"content": b'{"message": "caf\xe9 \xff"}'}),
    ]
    for what, payload in cases:
        answer = httpx.post(
            f"{url}/v1/triage", headers={"content-type": "application/json"}, timeout=30, **payload
        )
        console.print(f"  {what}: HTTP {answer.status_code} {answer.json().get('error', answer.text)}")


def _triage_service(urls: dict[str, str], settings: Settings):
    """The triage service on a free local port, pointed at the model servers."""
    from cxops.serving.thread_server import ThreadServer
    from cxops.triage.app import create_app
    from cxops.triage.settings import TriageSettings

    triage_settings = TriageSettings(
        intent_url=urls["intent"], sentiment_url=urls["sentiment"], churn_url=urls[MODEL], timeout_s=10
    )
    return ThreadServer(create_app(triage_settings, cxops_settings=settings))


def _show_triage(url: str, customer_id: str) -> None:
    from cxops.triage.client import TriageClient

    client = TriageClient(url)
    for text, customer, channel in DEMO_MESSAGES:
        result = client.triage(text, customer_id=customer and customer_id, channel=channel)
        signals = [
            f"intent {result.intent.label} {result.intent.confidence:.2f}" if result.intent else "intent -",
            f"sentiment {result.sentiment.label} {result.sentiment.confidence:.2f}"
            if result.sentiment
            else "",
            f"churn {result.churn.probability:.2f}" if result.churn else "",
        ]
        console.print(f"  [bold]{text!r}[/] ({channel}{', customer ' + customer_id if customer else ''})")
        console.print(
            f"    → queue [bold]{result.queue}[/], priority {result.priority}, "
            f"{'[yellow]a person takes over[/]' if result.escalate_to_human else 'automatic routing'}; "
            + ", ".join(s for s in signals if s)
        )
        for reason in result.reasons:
            console.print(f"      - {reason}")


def _show_recommendations(url: str, churn_url: str, raw_offers: pd.DataFrame) -> None:
    """Offers for a customer at risk, one who is not, one who objected to profiling; then bad requests."""
    import httpx

    def post(payload: dict) -> httpx.Response:
        return httpx.post(f"{url}/v1/recommendations", json=payload, timeout=30)

    consent, objection = raw_offers["marketing_consent"], raw_offers["profiling_opt_out"]
    pool = raw_offers.loc[(consent == "Yes") & (objection == "No"), "customerID"].drop_duplicates().head(40)
    shown = []
    if len(pool):
        churn = dict(zip(pool, asyncio.run(_score_v2(churn_url, pool.tolist()))["probability"], strict=True))
        shown = [(max(pool, key=churn.__getitem__), "agent"), (min(pool, key=churn.__getitem__), "app")]
        shown += [(c, "app") for c in raw_offers.loc[objection == "Yes", "customerID"].head(1)]
    else:
        console.print(
            "  the data holds no consent records, so every request is refused until one is recorded"
        )
    for customer, channel in shown:
        body = post({"customer_id": customer, "k": 3, "channel": channel}).json()
        risk = body["churn_probability"]
        console.print(
            f"  [bold]{customer}[/] ({channel}; churn {'?' if risk is None else f'{risk:.2f}'}; "
            f"{'personalised' if body['personalised'] else '[yellow]not personalised[/]'})"
        )
        for offer in body["offers"]:
            price = f"{offer['monthly_price']:+.2f}/month"
            console.print(
                f"    {offer['rank']}. {offer['name']} ({offer['kind']}, {price}): {offer['reasons'][0]}",
                markup=False,
            )
        for reason in body["reasons"]:
            console.print(f"      - {reason}", markup=False)
    cases = [("no consent record", raw_offers.loc[consent.isna(), "customerID"].head(1).tolist())]
    cases += [("unknown customer", ["0000-NOBODY"])]
    for what, customers in cases:
        if customers:
            answer = post({"customer_id": customers[0]})
            console.print(f"  {what}: HTTP {answer.status_code} {answer.json().get('error', answer.text)}")
    answer = post({"customer_id": "0000-NOBODY", "k": 50})
    console.print(f"  k out of range: HTTP {answer.status_code} {answer.json().get('error', answer.text)}")


def run_demo(
    data_path: str = "", rows: int = 5000, messages: int = 3000, settings: Settings | None = None
) -> None:
    from cxops.demo_canary import release_with_canary
    from cxops.demo_governance import ENGINEER, promote_with_approval
    from cxops.demo_monitoring import watch_for_drift
    from cxops.deploy.render import render_kubernetes
    from cxops.lifecycle.pipeline import run_pipeline
    from cxops.registry import Registry
    from cxops.scoring import score_file
    from cxops.serving.server import start_server

    # The pipelines run as an ML engineer, so that a compliance officer may approve what they register.
    settings = (settings or get_settings()).model_copy(update={"actor": ENGINEER})
    started = time.monotonic()
    source = data_path or f"{rows} generated subscribers"
    results = {}
    step(f"1/10 training pipeline for '{MODEL}' on {source} (kfp.local; every step's log follows)")
    results[MODEL] = run_pipeline(MODEL, settings, data_path=data_path, rows=rows)
    for number, model in enumerate(TEXT_MODELS, start=2):
        step(f"{number}/10 training pipeline for '{model}' on {messages} generated support messages (EN/FR)")
        results[model] = run_pipeline(model, settings, rows=messages)
    offers_source = (
        f"{data_path} (holdings, one hidden per customer)"
        if data_path
        else f"the offers made to {rows} subscribers"
    )
    step(f"4/10 training pipeline for '{OFFERS}' on {offers_source}")
    results[OFFERS] = run_pipeline(OFFERS, settings, data_path=data_path, rows=rows)
    for model, result in results.items():
        record = result["record"]
        console.print(
            f"[green]registered[/] {model} v{record.version} ({record.stage}), bento {result['bento']}"
        )

    record = results[MODEL]["record"]
    with Registry.from_settings(settings) as registry:
        dataset = registry.get_dataset(MODEL, record.lineage["dataset_version"])
        validation = registry.get_validation(record.lineage["validation_id"])
        offers_dataset = registry.get_dataset(OFFERS, results[OFFERS]["record"].lineage["dataset_version"])
    raw = pd.read_parquet(dataset.uri)

    step("5/10 serving the four bentos with `bentoml serve`")
    with contextlib.ExitStack() as stack:
        urls = {}
        for model, result in results.items():
            # The recommendation server asks the churn server who is at risk (retention offers first).
            env = {"CXOPS_RECOMMENDATION_CHURN_URL": urls[MODEL]} if model == OFFERS else None
            server = stack.enter_context(start_server(result["bento"], port=0, settings=settings, env=env))
            urls[model] = server.url
            console.print(f"  {model} ready at {server.url}")
        console.print(
            "  churn: customers by id through KServe V2 /v2/models/churn/infer (kserve.InferenceRESTClient)"
        )
        customers = raw.sample(5, random_state=1)["customerID"].tolist()
        outputs = asyncio.run(_score_v2(urls[MODEL], customers))
        table = Table("customer", "churn probability", "label")
        for customer, proba, label in zip(customers, outputs["probability"], outputs["label"], strict=True):
            table.add_row(customer, f"{proba:.3f}", str(label))
        console.print(table)
        features = load_model_code(MODEL, settings).derive_features(raw.head(1))
        row = {c: _plain(features.iloc[0][c]) for c in load_spec(MODEL, settings).features.names}
        _show_bad_requests(urls[MODEL], row)

        step(
            "6/10 triage: POST /v1/triage asks intent, sentiment and churn, then applies policies/triage.yaml"
        )
        triage_url = stack.enter_context(_triage_service(urls, settings)).url
        console.print(f"  triage ready at {triage_url} (OpenAPI at {triage_url}/docs)")
        _show_triage(triage_url, customers[0])
        _show_bad_triage_requests(triage_url)

        console.print(
            "  next-best offers: POST /v1/recommendations (policies/offers.yaml; churn from its server)"
        )
        _show_recommendations(urls[OFFERS], urls[MODEL], pd.read_parquet(offers_dataset.uri))

    step("7/10 batch scoring: subscribers for the CRM, and a backlog of tickets")
    batch_in = settings.subdir("demo") / "customers_to_score.csv"
    raw.drop(columns=["Churn", "event_timestamp"]).head(1000).to_csv(batch_in, index=False)
    scores = score_file(MODEL, batch_in, settings.subdir("demo") / "churn_scores.csv", settings)
    console.print(f"  churn: {scores.rows} rows scored, {scores.positives} flagged as likely to churn")
    tickets_in = settings.subdir("demo") / "tickets.csv"
    pd.DataFrame(
        {"ticket": [f"T-{i}" for i in range(len(DEMO_MESSAGES))], "text": [m[0] for m in DEMO_MESSAGES]}
    ).to_csv(tickets_in, index=False)
    tickets_out = settings.subdir("demo") / "tickets_with_intent.csv"
    tickets = score_file("intent", tickets_in, tickets_out, settings)
    console.print(f"  intent: {tickets.rows} tickets labelled ({tickets.label_counts})")

    step(f"8/10 governance: promote {MODEL} v{record.version} through the gates of policies/promotion.yaml")
    report = promote_with_approval(settings, MODEL, record.version)

    step(f"9/10 canary: {MODEL} retrained on a fresh snapshot, released by the automated canary analysis")
    retrained = run_pipeline(MODEL, settings, data_path=data_path, rows=rows, seed=8)["record"]
    release_with_canary(settings, MODEL, retrained.version, pd.read_parquet(offers_dataset.uri))

    step(f"10/10 monitoring: drift on {MODEL}'s traffic is detected, audited and retrains it by policy")
    watch_for_drift(settings, MODEL, raw)
    manifests = render_kubernetes(settings, settings.home_dir / "kubernetes")
    served = ", ".join(f"{m.name} v{m.stable_version}" for m in manifests.state.models) or "none"
    console.print(
        f"  Kubernetes manifests of this state (served: {served}): {manifests.objects} objects, valid "
        f"against the Kubernetes and CRD schemas, in {manifests.out}"
    )

    elapsed = time.monotonic() - started
    cards = [
        (f"{model} model card", result["record"].artifacts.get("model_card_html"))
        for model, result in results.items()
    ]
    where = [
        ("registry", str(settings.metadata_url)),
        ("inspect a version", f"cxops models show {MODEL} --version {record.version}"),
        ("compliance report", str(report)),
        ("stage history", f"cxops models history {MODEL} --gates"),
        ("audit trail", "cxops audit log --model churn; cxops audit verify"),
        ("canary analysis", f"cxops canary report {MODEL}"),
        ("monitoring alerts", f"cxops monitor alerts {MODEL}; cxops monitor runs {MODEL}"),
        ("Kubernetes", f"{manifests.out} (cxops deploy render --target kubernetes --out DIR)"),
        ("drift report", str(settings.home_dir / "monitoring" / "reports" / f"{MODEL}.html")),
        ("churn dataset", f"{dataset.version} ({dataset.rows} rows) {dataset.uri}"),
        ("churn validation", str(validation.report_uri)),
        *[(what, path) for what, path in cards if path],
        ("bentos", str(settings.bentoml_home / "bentos")),
        ("Feast store", str(settings.feast_dir)),
        ("batch scores", f"{scores.output}, {tickets_out}"),
        ("serve a model", "cxops serve intent"),
        ("recommend offers", "cxops recommend <customer id> -k 3"),
        ("triage service", "cxops triage serve --help"),
    ]
    console.print(f"\n[bold green]CXOps demo finished in {elapsed:.0f} s[/]")
    for what, path in where:
        console.print(f"  [bold]{what + ':':<19}[/]", path, soft_wrap=True)
