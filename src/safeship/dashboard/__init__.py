"""`safeship serve`: the dashboard, a second face over the core API (docs/dashboard.md).

Server-rendered pages (Jinja2, autoescaped), a JSON API with its OpenAPI document, live
updates over server-sent events, and the actions (rollback, promote, abort) behind sign-in.
Like the CLI it calls ``safeship.core`` and ``safeship.config`` only (an import-linter
contract): nothing that decides anything lives here.
"""

from __future__ import annotations

from safeship.dashboard.app import create_app

__all__ = ["create_app"]
