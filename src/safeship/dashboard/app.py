"""The dashboard's ASGI application (`safeship serve` runs it under uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from safeship.dashboard.templating import STATIC_DIR

if TYPE_CHECKING:
    from safeship.config.loader import LoadedConfig


def create_app(loaded: LoadedConfig) -> FastAPI:
    """The dashboard for the project ``loaded`` describes.

    Pages, the JSON API (under /api, its OpenAPI document at /api/openapi.json), the live
    streams and the signed-in actions are routers included here; the app's state holds the
    loaded config, which every route reads through ``request.app.state.loaded``.
    """
    app = FastAPI(
        title="safeship",
        summary="Deployments, their health and their history",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.loaded = loaded
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
