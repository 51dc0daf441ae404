"""One trace from the canary gateway through the model server to Feast and the model: the gateway and a
real KServe app (in-process ASGI, each with its own providers, as in two processes)."""

from __future__ import annotations

import asyncio

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cxops.canary.gateway import VERSION_HEADER, create_gateway
from cxops.canary.routing import Backend, Route, RoutingTable
from cxops.config import Settings
from cxops.serving.kserve_protocol import create_kserve_app
from cxops.telemetry import telemetry_with

CALLER_TRACE = 0x0AF7651916CD43DD8448EB211C80319C


def test_the_gateway_and_the_model_server_share_one_trace(
    tmp_path, recorded, make_predictor, customers
) -> None:
    gateway_spans = InMemorySpanExporter()
    gateway_telemetry = telemetry_with("cxops-gateway", span_exporter=gateway_spans)
    model_app = create_kserve_app(make_predictor(recorded.telemetry), telemetry=recorded.telemetry)
    table = RoutingTable.single(Route(model="churn", stable=Backend(version="7", url="http://churn-7.cxops")))
    settings = Settings(home=tmp_path / "home", root=tmp_path, pseudonym_key="g" * 32)
    body = {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": [customers[0]]}]}

    async def call() -> httpx.Response:
        upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=model_app))
        gateway = create_gateway(
            lambda: table,
            settings,
            opt_out=lambda _: False,
            http_client=upstream,
            tracer_provider=gateway_telemetry.tracer_provider,
        )
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway), base_url="http://gateway"
            ) as client:
                return await client.post(
                    "/v2/models/churn/infer",
                    json=body,
                    headers={"traceparent": f"00-{CALLER_TRACE:032x}-b7ad6b7169203331-01"},
                )
        finally:
            await gateway.state.gateway.aclose()
            await upstream.aclose()

    response = asyncio.run(call())
    assert response.status_code == 200, response.text
    assert response.headers[VERSION_HEADER] == "7"

    by_name = {s.name: s for s in gateway_spans.get_finished_spans()}
    proxy, upstream_call = by_name["canary.proxy"], by_name["canary.upstream"]
    server = recorded.span("cxops.model.predict")
    feast = recorded.span("feast.get_online_features")
    model_call = recorded.span("cxops.model.call")
    spans = [proxy, upstream_call, server, feast, model_call]
    assert {s.context.trace_id for s in spans} == {CALLER_TRACE}
    # caller -> gateway request -> gateway's call upstream -> model server -> Feast lookup and model call
    assert upstream_call.parent.span_id == proxy.context.span_id
    assert server.parent.span_id == upstream_call.context.span_id and server.parent.is_remote
    assert feast.parent.span_id == model_call.parent.span_id == server.context.span_id
    assert proxy.resource.attributes["service.name"] == "cxops-gateway"
    assert server.resource.attributes["service.name"] == "cxops-model-churn"
    assert server.attributes["cxops.model.version"] == proxy.attributes["cxops.model.version"] == "7"
    gateway_telemetry.shutdown()
