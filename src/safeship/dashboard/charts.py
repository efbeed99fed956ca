"""The analytics page's charts: SVG rendered on the server with pygal.

No JavaScript (``js=[]``), no external URL (pygal's default script links to a CDN), and each
chart says what it shows in its ``<title>`` and ``<desc>``; the page shows the same figures in
a table beside it (a chart is never the only way to read a figure).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from safeship.core import SeriesPoint

# Colours with at least 3:1 contrast on white (WCAG's figure for graphics).
PALETTE: Final = ("#0550ae", "#a40e26", "#116329", "#7d4e00", "#6639ba", "#1b1f24")
MAX_POINTS: Final = 400


@dataclass(frozen=True)
class Chart:
    name: str  # the series' name
    title: str
    description: str
    kind: str  # "line" | "bar" | "stacked"
    unit: str
    points: tuple[SeriesPoint, ...]
    extras: tuple[str, ...] = ()  # stacked: the extra keys drawn as series

    def svg(self) -> Markup:
        return render(self)


def _style() -> object:
    from pygal.style import Style  # type: ignore[import-untyped]

    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1b1f24",
        foreground_strong="#1b1f24",
        foreground_subtle="#4a5360",
        colors=PALETTE,
        font_family="system-ui, sans-serif",
    )


def render(chart: Chart) -> Markup:
    """The chart as inline SVG markup (no script, no external reference)."""
    import pygal  # type: ignore[import-untyped]

    points = chart.points[-MAX_POINTS:]
    kinds = {"line": pygal.Line, "bar": pygal.Bar, "stacked": pygal.StackedBar}
    graph = kinds[chart.kind](
        js=[],
        style=_style(),
        width=720,
        height=300,
        show_legend=bool(chart.extras),
        legend_at_bottom=True,
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_count=12,
        truncate_label=12,
        disable_xml_declaration=True,
        explicit_size=True,
        no_data_text="no data in the period",
        print_values=False,
        css=[],
    )
    graph.x_labels = [p.label for p in points]
    if chart.extras:
        for key in chart.extras:
            graph.add(key.replace("_", " "), [p.extra.get(key) for p in points])
    else:
        graph.add(chart.unit, [p.value for p in points])
    # pygal writes its config as an inline script even with js=[]: nothing runs it here.
    svg = _SCRIPT.sub("", str(graph.render(is_unicode=True)))
    return _labelled(svg, chart)


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
# pygal's inline config script and its comments (which name its web site).
_SCRIPT = re.compile(r"<script\b.*?</script>|<!--.*?-->", re.DOTALL)


def _labelled(svg: str, chart: Chart) -> Markup:
    """Give the SVG its accessible name and description (role img, title, desc)."""
    ident = f"chart-{chart.name}"
    match = _SVG_OPEN.search(svg)
    if match is None:
        return Markup("")
    opening = match.group(0)
    labelled = opening[:-1] + (
        f' role="img" aria-labelledby="{ident}-title {ident}-desc" class="chart">'
        f'<title id="{ident}-title">{escape(chart.title)}</title>'
        f'<desc id="{ident}-desc">{escape(chart.description)}</desc>'
    )
    return Markup(svg[: match.start()] + labelled + svg[match.end() :])


# The analytics page's charts, in order: (series name, title, kind, unit, stacked keys).
CHARTS: Final = (
    ("deployments_per_day", "Deployments per day", "stacked", "deployments",
     ("succeeded", "failed", "rolled_back")),
    ("success_rate_per_day", "Success rate per day", "line", "ratio", ()),
    ("duration_seconds", "Deployment duration", "line", "seconds", ()),
    ("recovery_minutes", "Time to recover", "bar", "minutes", ()),
    ("rollbacks_by_rule", "Rollbacks by rule", "bar", "rollbacks", ()),
    ("latency_p95_by_version", "Latency p95 per version", "bar", "ms", ()),
)  # fmt: skip


def analytics_charts(series: dict[str, Sequence[SeriesPoint]]) -> list[Chart]:
    charts = []
    for name, title, kind, unit, extras in CHARTS:
        points = tuple(series.get(name, ()))
        described = (
            f"{title}: {len(points)} point{'s' if len(points) != 1 else ''}"
            + (f", from {points[0].label} to {points[-1].label}" if points else "")
            + f" ({unit}); the table below gives every figure."
        )
        charts.append(Chart(name, title, described, kind, unit, points, extras))
    return charts
