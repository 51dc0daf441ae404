"""`cxops triage serve` and `cxops triage send`: run the triage service, and ask it about one message."""

from __future__ import annotations

import json

import typer

from cxops.cli._output import console, step

app = typer.Typer(
    name="triage",
    help="Ticket triage: route a customer message to a queue with a priority, escalating to a person "
    "when the rules (policies/triage.yaml) say so. The service asks the intent, sentiment and churn "
    "model servers over KServe V2.\n\n"
    "Example: [bold]cxops triage serve --intent-url http://127.0.0.1:3001 --sentiment-url "
    'http://127.0.0.1:3002[/], then [bold]cxops triage send "My internet is down!" --channel chat[/]',
    no_args_is_help=True,
    rich_markup_mode="rich",
)

DEFAULT_URL = "http://127.0.0.1:8080"


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 in a container)."),
    port: int = typer.Option(8080, help="HTTP port."),
    intent_url: str = typer.Option(
        None,
        help="Base URL of the intent model's V2 server, e.g. http://127.0.0.1:3001 "
        "(default: $CXOPS_TRIAGE_INTENT_URL).",
        show_default=False,
    ),
    sentiment_url: str = typer.Option(
        None,
        help="Base URL of the sentiment model's V2 server (default: $CXOPS_TRIAGE_SENTIMENT_URL).",
        show_default=False,
    ),
    churn_url: str = typer.Option(
        None,
        help="Base URL of the churn model's V2 server (default: $CXOPS_TRIAGE_CHURN_URL). Without it, "
        "decisions never consider churn risk.",
        show_default=False,
    ),
    text_route: str = typer.Option(
        None,
        help="How the intent and sentiment models are asked: v2 (/v2/models/{name}/infer) or batched "
        "(/classify, where the model server merges concurrent requests into one batch) (default: "
        "$CXOPS_TRIAGE_TEXT_ROUTE or v2).",
        show_default=False,
    ),
    timeout: float = typer.Option(
        None,
        help="Seconds each model call may take (default: $CXOPS_TRIAGE_TIMEOUT_S or 2).",
        show_default=False,
    ),
    policy: str = typer.Option(
        None,
        help="Routing policy file (default: $CXOPS_TRIAGE_POLICY_PATH or policies/triage.yaml).",
        show_default=False,
    ),
) -> None:
    """Serve POST /v1/triage, with /healthz, /readyz and the OpenAPI docs at /docs, until Ctrl-C.

    The policy is checked against the intent and sentiment specs before the server starts.

    A request still gets an answer when the intent or sentiment server is down: human review, escalated.

    Example: [bold]cxops triage serve --intent-url http://127.0.0.1:3001 --sentiment-url http://127.0.0.1:3002[/]
    """
    import uvicorn

    from cxops.triage.app import configure_logging, create_app
    from cxops.triage.settings import TriageSettings

    settings = TriageSettings.load(
        intent_url=intent_url,
        sentiment_url=sentiment_url,
        churn_url=churn_url,
        text_route=text_route,
        timeout_s=timeout,
        policy_path=policy,
    )
    triage_app = create_app(settings)  # fails here, before anything listens, on a bad policy
    configure_logging()
    policy_version = triage_app.state.policy.version
    step(f"triage on http://{host}:{port}/v1/triage (policy {policy_version}; docs at /docs)")
    console.print(
        f"models: intent {settings.intent_url}, sentiment {settings.sentiment_url} ({settings.text_route} "
        f"route), churn {settings.churn_url or 'not configured'}"
    )
    uvicorn.run(triage_app, host=host, port=port, log_level="info")


@app.command("send")
def send(
    message: str = typer.Argument(..., help="The customer's message (quote it)."),
    customer_id: str = typer.Option(
        None, "--customer-id", "-c", help="The customer's id: lets the churn risk raise the priority."
    ),
    channel: str = typer.Option(None, help="Where the message came from: chat, email, app or social."),
    url: str = typer.Option(
        DEFAULT_URL, envvar="CXOPS_TRIAGE_SERVICE_URL", help="Base URL of the triage service."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the service's whole JSON answer."),
) -> None:
    """Ask a running triage service where one message goes; print the decision and its reasons.

    Example: [bold]cxops triage send "Third outage this week, I quit!" -c 7590-VHVEG --channel chat[/]
    """
    from cxops.triage.client import TriageClient

    with TriageClient(url) as client:
        result = client.triage(message, customer_id=customer_id, channel=channel)  # type: ignore[arg-type]
    if as_json:
        console.print_json(json.dumps(result.model_dump(mode="json")))
        return
    escalate = "[bold red]yes[/]" if result.escalate_to_human else "no"
    console.print(
        f"queue     [bold]{result.queue}[/]   priority [bold]{result.priority}[/]   escalate {escalate}"
    )
    for name, label in (("intent", result.intent), ("sentiment", result.sentiment)):
        shown = f"{label.label} ({label.confidence:.2f}, v{label.model_version})" if label else "unavailable"
        console.print(f"{name:<9} {shown}")
    if result.churn is not None:
        console.print(f"churn     {result.churn.probability:.2f} (v{result.churn.model_version})")
    if result.degraded:
        console.print(f"degraded  {', '.join(result.degraded)}")
    console.print("reasons:")
    for reason in result.reasons:
        console.print(f"  - {reason}")
    console.print(f"policy {result.policy_version} · request {result.request_id}", style="dim")
