"""The FastAPI application of the platform API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cxops import __version__
from cxops.api.access import route_access
from cxops.api.errors import install_error_handlers
from cxops.api.routes import ROUTERS
from cxops.config import Settings
from cxops.governance.service import Governance

__all__ = ["create_app"]

_DESCRIPTION = """\
Governance of the CXOps model platform: registered models and versions, promotion gates, approvals,
stage history, the hash-chained audit log and API tokens.

Every route but `/healthz` needs `Authorization: Bearer <token>` (an admin issues tokens with
`cxops auth issue --user NAME --name WHAT`) and one permission of `policies/roles.yaml`; a refused request
changes nothing. Errors answer `{"error": {"status", "message", "type", "gates"?}}`.
"""

_TAGS = [
    {"name": "models", "description": "Models, versions, gates, promotion and approvals."},
    {"name": "audit", "description": "The append-only, hash-chained audit log."},
    {"name": "auth", "description": "API tokens (auth.manage)."},
    {"name": "system", "description": "Health and identity."},
]


def create_app(settings: Settings, governance: Governance | None = None) -> FastAPI:
    """The API over `governance`, or over a `Governance` opened from `settings` (and closed when the app
    shuts down). Raises `RouteAccessError` if a route does not declare who may call it."""
    owned = governance is None
    gov = governance if governance is not None else Governance.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            gov.close()

    app = FastAPI(
        title="CXOps platform API",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_tags=_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.governance = gov
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    try:
        route_access(app)
    except BaseException:
        if owned:
            gov.close()
        raise
    return app
