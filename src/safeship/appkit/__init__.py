"""Drop-in health endpoints for Python web apps, in the format safeship's levels check.

    from safeship.appkit import HealthChecks, postgres_check, redis_check, http_check

    health = HealthChecks("/api/health", info={"version": VERSION})
    health.add("database", postgres_check(DATABASE_URL))
    health.add("cache", redis_check(REDIS_URL), critical=False)
    health.add("payments", http_check("https://status.example.com/api/v2/status.json"))

    @health.check("queue", timeout=1.0)
    def queue() -> bool:
        return queue_depth() < 10_000

    app.add_middleware(HealthMiddleware, health=health)   # FastAPI / Starlette
    app.wsgi_app = wsgi_app(health, app.wsgi_app)         # Flask

Standard library only at import time (see safeship.appkit.core).
"""

from safeship.appkit.asgi import HealthMiddleware, asgi_app
from safeship.appkit.checks import http_check, postgres_check, redis_check
from safeship.appkit.core import HealthChecks, Outcome
from safeship.appkit.wsgi import wsgi_app

__all__ = [
    "HealthChecks",
    "HealthMiddleware",
    "Outcome",
    "asgi_app",
    "http_check",
    "postgres_check",
    "redis_check",
    "wsgi_app",
]
