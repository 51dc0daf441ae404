"""Run the platform API with uvicorn."""

from __future__ import annotations

from cxops.config import Settings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700


def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve until interrupted. Plain HTTP: expose it beyond this machine only behind a TLS proxy, since
    bearer tokens travel in every request."""
    import uvicorn

    from cxops.api.app import create_app
    from cxops.telemetry import configure_telemetry

    configure_telemetry(settings, "cxops-api")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
