"""`cxops serve` and `cxops predict`: a model's HTTP server, and one-off predictions."""

from __future__ import annotations

import json
import time

import typer

from cxops.cli._output import console, step
from cxops.config import get_settings
from cxops.errors import InvalidInputError


def serve(
    model: str = typer.Argument(..., help="Model name (e.g. churn)."),
    version: int = typer.Option(None, "--version", "-v", help="Registered version. Default: the latest."),
    port: int = typer.Option(3000, help="HTTP port."),
) -> None:
    """Serve a version's bento: JSON API, KServe V1 (/v1/models/...) and V2 (/v2/models/.../infer).

    Builds the bento first if the version has none. Stops on Ctrl-C.
    """
    from cxops.lifecycle import steps
    from cxops.registry import Registry
    from cxops.serving.server import start_server

    settings = get_settings()
    with Registry.from_settings(settings) as registry:
        record = registry.get_version(model, version)
    bento = record.bento_tag or steps.package(model, record.version, settings)["bento"]
    step(f"serving {model} v{record.version} (bento {bento}) on http://127.0.0.1:{port}")
    with start_server(bento, port=port, settings=settings) as server:
        console.print(f"ready: {server.url}/v2/models/{model}  (Ctrl-C to stop)")
        try:
            while server.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping")


def predict(
    model: str = typer.Argument(..., help="Model name: churn, intent or sentiment."),
    customer_id: list[str] = typer.Option(
        None, "--customer-id", "-c", help="Customer id(s): features come from the Feast online store."
    ),
    features: str = typer.Option(
        None, "--features", "-f", help="Full feature vector(s) as JSON: an object or a list of objects."
    ),
    text: list[str] = typer.Option(None, "--text", "-t", help="Message(s) to classify (intent, sentiment)."),
    version: int = typer.Option(None, "--version", "-v", help="Registered version. Default: the latest."),
) -> None:
    """Predict for customers by id (online features), for given feature vectors, or for messages.

    Examples: [bold]cxops predict churn -c 7590-VHVEG[/]  ·
    [bold]cxops predict churn -f '{"tenure": 3, "Contract": "Month-to-month", ...}'[/]  ·
    [bold]cxops predict intent -t "my internet has been down since this morning"[/]
    """
    from cxops.serving.predictor import ModelPredictor

    if sum(map(bool, (customer_id, features, text))) != 1:
        raise InvalidInputError(
            "give one of --customer-id (one or more), --features JSON or --text (one or more messages)"
        )
    predictor = ModelPredictor.from_registry(model, get_settings(), version=version)
    if text:
        if predictor.spec.text is None:
            raise InvalidInputError(
                f"model '{model}' does not read messages; use --customer-id or --features"
            )
        predictions = predictor.predict_rows([{predictor.spec.text.column: t} for t in text])
    elif customer_id:
        predictions = predictor.predict_customers(list(customer_id))
    else:
        try:
            rows = json.loads(features)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"--features is not valid JSON: {exc}") from None
        predictions = predictor.predict_rows(rows if isinstance(rows, list) else [rows])
    console.print_json(json.dumps([p.to_dict() for p in predictions]))
