"""The dashboard's ASGI application (`safeship serve` runs it under uvicorn)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from safeship.dashboard import api, errors, live, pages, security
from safeship.dashboard.templating import STATIC_DIR

if TYPE_CHECKING:
    from safeship.config.loader import LoadedConfig

log = logging.getLogger(__name__)


def create_app(loaded: LoadedConfig, *, jobs: bool = False) -> FastAPI:
    """The dashboard for the project ``loaded`` describes.

    Pages, the JSON API (under /api, its OpenAPI document at /api/openapi.json), the live
    streams and the signed-in actions are routers included here; the app's state holds the
    loaded config, which every route reads through ``request.app.state.loaded``. With
    ``jobs`` the lifespan starts the background jobs (outbox, drift, watch) and stops them.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.live = live.LiveHub(loaded)
        app.state.jobs = None
        if jobs:
            from safeship import core

            app.state.jobs = core.background_jobs(loaded)
            app.state.jobs.start()
        try:
            yield
        finally:
            await app.state.live.stop()
            if app.state.jobs is not None:
                app.state.jobs.stop()

    app = FastAPI(
        title="safeship",
        summary="Deployments, their health and their history",
        # No Swagger UI: FastAPI loads it from a CDN, and the dashboard works with no internet.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.loaded = loaded
    # Before the lifespan runs (an in-process test client without it): a hub all the same.
    app.state.live = live.LiveHub(loaded)
    app.state.jobs = None
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(live.router)
    app.include_router(pages.router)
    app.add_exception_handler(RequestValidationError, errors.on_validation_error)
    app.add_exception_handler(HTTPException, errors.on_http_error)
    # Sign-in, sessions, CSRF, the roles and the actions (docs/security.md).
    security.install(app)
    app.add_middleware(errors.OneLineErrors)
    return app
