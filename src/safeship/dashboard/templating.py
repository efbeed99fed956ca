"""The dashboard's templates: one Jinja2 environment, autoescaped, for every page.

Templates are looked up in the dashboard's own folder, then in the deployment report's
(``safeship/analytics/templates``), so a deployment's page and its printable report render the
same body. Every value that comes from the registry (versions, reasons, commit subjects, who)
is untrusted text: autoescape is on for every template, whatever its name.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from starlette.templating import Jinja2Templates

DASHBOARD_TEMPLATES = Path(__file__).parent / "templates"
REPORT_TEMPLATES = Path(__file__).parent.parent / "analytics" / "templates"
STATIC_DIR = Path(__file__).parent / "static"
# The main navigation (base.html.j2), a template global: every page has it, whoever renders it.
NAV = (
    ("/", "Overview"),
    ("/history", "History"),
    ("/analytics", "Analytics"),
    ("/paths", "Deploy paths"),
    ("/drift", "Env drift"),
    ("/jobs", "Jobs"),
)


@cache
def templates() -> Jinja2Templates:
    """The one template set (built once per process: compiling templates is the slow part)."""
    environment = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(DASHBOARD_TEMPLATES), FileSystemLoader(REPORT_TEMPLATES)]
        ),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["nav"] = NAV
    return Jinja2Templates(env=environment)
