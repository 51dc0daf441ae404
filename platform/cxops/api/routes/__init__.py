"""The routes of the platform API, one router per area. A new area is a module with an `APIRouter` named
`router`, listed in `ROUTERS`; a new route is one function in it that declares its access (see
`cxops.api.access`) and returns a response model from `cxops.api.schemas`."""

from __future__ import annotations

from fastapi import APIRouter

from cxops.api.routes import audit, auth, canary, models, monitoring, outcomes, records, system

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    models.router,
    audit.router,
    auth.router,
    records.router,
    canary.router,
    monitoring.router,
    outcomes.router,
)
