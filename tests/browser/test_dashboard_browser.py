"""The dashboard in the machine's Chromium (Playwright): the overview, history filters, hostile
text that stays inert, keyboard navigation and contrast, and a deployment's page following a
real canary and its automatic rollback live, measured against the registry's clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from safeship.core import deployment_summary
from safeship.dashboard import create_app
from safeship.pipeline import operations
from safeship.registry import Registry
from testing.browser import screenshot, serve_app
from testing.dashboard import SeededProject
from testing.fixtures import ENV, Workspace

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from safeship.demo.load import LoadGenerator

# The main pages, checked for keyboard order, focus visibility and contrast.
MAIN_PAGES = ("/", "/history", "/analytics")


@pytest.fixture
def dashboard_url(seeded_project: SeededProject) -> Iterator[str]:
    with serve_app(create_app(seeded_project.loaded)) as base_url:
        yield base_url


def test_overview_shows_each_environment(dashboard_url: str, page: Page) -> None:
    page.goto(dashboard_url + "/")
    production = page.locator('section[data-environment="production"]')
    expect(production.locator("h2")).to_contain_text("production")
    expect(production.locator('[data-live="version"]')).to_have_text("v1.0.1")
    expect(production.locator('[data-live="running"]')).to_have_text("v1.2.0: progressing at 50%")
    expect(production.get_by_role("link", name="Roll back production")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live.")  # the stream is open
    snapshot = page.locator("main").aria_snapshot()
    assert '- heading "Environments" [level=1]' in snapshot
    assert "- table" in snapshot
    screenshot(page, "dashboard-overview")


def test_history_filters_in_the_browser(dashboard_url: str, page: Page) -> None:
    page.goto(dashboard_url + "/history")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(6)
    page.get_by_label("Environment").select_option("production")
    page.get_by_label("Status").select_option("rolled_back")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("v1.1.0")
    assert "status=rolled_back" in page.url and "environment=production" in page.url
    rows.first.get_by_role("link").click()
    expect(page.locator('[data-live="state"]')).to_have_text("rolled_back")
    screenshot(page, "dashboard-deployment-rolled-back")


def test_hostile_text_never_runs(
    dashboard_url: str, page: Page, seeded_project: SeededProject
) -> None:
    for path in ("/history", f"/deployments/{seeded_project.hostile_version}",
                 f"/deployments/{seeded_project.rolled_back}", "/"):  # fmt: skip
        page.goto(dashboard_url + path)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__pwned") == "undefined", path
    page.goto(dashboard_url + "/history")
    expect(page.locator("#history")).to_contain_text("<script>window.__pwned = 1</script>")


# Every focusable element in document order, and each text's contrast with its background
# (WCAG 2: 4.5:1, 3:1 for large text), computed from the rendered styles.
_FOCUSABLES_JS = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')];
  return all.filter(e => !e.disabled && getComputedStyle(e).visibility !== 'hidden'
                         && e.getClientRects().length > 0)
            .map((e, i) => { e.dataset.focusOrder = String(i); return i; }).length;
}"""
_CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4))
      .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = e => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const failures = [];
  let checked = 0;
  for (const e of document.querySelectorAll('body *')) {
    if (e.closest('svg') || !e.getClientRects().length) continue;
    const text = [...e.childNodes].filter(n => n.nodeType === 3)
        .map(n => n.textContent.trim()).join('');
    if (!text) continue;
    const style = getComputedStyle(e);
    if (style.visibility === 'hidden' || style.clip === 'rect(0px, 0px, 0px, 0px)') continue;
    const [a, b] = [lum(rgb(style.color)), lum(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    checked += 1;
    if (ratio < needed) failures.push(`${e.tagName} "${text.slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return {checked, failures};
}"""


@pytest.mark.parametrize("path", MAIN_PAGES)
def test_keyboard_reaches_everything_in_order_and_contrast_holds(
    dashboard_url: str, page: Page, path: str
) -> None:
    page.goto(dashboard_url + path)
    page.wait_for_load_state("load")
    count = page.evaluate(_FOCUSABLES_JS)
    assert 0 < count <= 300
    reached = []
    for _ in range(count):  # bounded: one Tab per focusable element
        page.keyboard.press("Tab")
        focused: dict[str, Any] = page.evaluate(
            """() => { const e = document.activeElement, s = getComputedStyle(e);
                 return {order: e.dataset.focusOrder ?? null,
                         outline: s.outlineStyle !== 'none'
                                  && parseFloat(s.outlineWidth) >= 2}; }"""
        )
        assert focused["outline"], f"no visible focus on element {focused['order']} of {path}"
        reached.append(focused["order"])
    assert reached == [str(i) for i in range(count)]  # every one, in document order
    contrast: dict[str, Any] = page.evaluate(_CONTRAST_JS)
    assert contrast["checked"] > 10
    assert contrast["failures"] == [], contrast["failures"]


# -- a real canary and its automatic rollback, followed live -------------------------------

# The state text the page shows (DeploymentSummary.state) -> when the registry first had it.
StateTimes = dict[str, float]


def _record_states(ws: Workspace, deployment_id: str, stop: threading.Event) -> StateTimes:
    """Poll the registry every 10 ms (bounded: 60 s) and note when each state first appears."""
    seen: StateTimes = {}
    deadline = time.monotonic() + 60
    with Registry(ws.loaded.registry_url()) as registry:
        while not stop.is_set() and time.monotonic() < deadline:
            record = registry.get(deployment_id)
            if record is not None:
                seen.setdefault(deployment_summary(record).state, time.time())
                if record.is_terminal:
                    break
            time.sleep(0.01)
    return seen


_OBSERVE_STATE_JS = """
window.__changes = [];
window.__liveAt = null;
document.addEventListener('DOMContentLoaded', () => {
  const status = document.getElementById('live-status');
  if (status) new MutationObserver(() => {
      if (status.textContent === 'Live.' && window.__liveAt === null) window.__liveAt = Date.now();
    }).observe(status, {childList: true, characterData: true, subtree: true});
  const node = document.querySelector('[data-live="state"]');
  if (!node) return;
  window.__changes.push({text: node.textContent, t: Date.now(), initial: true});
  new MutationObserver(() => window.__changes.push({text: node.textContent, t: Date.now()}))
    .observe(node, {childList: true, characterData: true, subtree: true});
});
"""


def test_a_deployments_page_follows_a_real_canary_and_its_rollback_live(
    page: Page,
    workspace_factory: Callable[..., Workspace],
    load_factory: Callable[..., LoadGenerator],
) -> None:
    # "bad" fails 20% of its requests: the error-rate rule (30 requests at least) cannot fire
    # at 10% (~10 requests/s) within the 1.5 s bake, so the page sees 10%, then 50%, then the
    # rollback. Over 3 s: two real deploys (releases, router, health checks, bakes) under load.
    ws = workspace_factory(behaviours={"bad": "error_rate=0.2"}, bake_time=1.5, min_requests=30)
    assert operations.deploy(ws.loaded, ENV, "good").ok
    load = load_factory(ws.url, rate=100)
    page.context.add_init_script(_OBSERVE_STATE_JS)
    outcome: list[Any] = []
    deploying = threading.Thread(
        target=lambda: outcome.append(operations.deploy(ws.loaded, ENV, "bad")), daemon=True
    )
    with serve_app(create_app(ws.loaded)) as base_url:
        deploying.start()
        deployment_id = None
        with Registry(ws.loaded.registry_url()) as registry:
            deadline = time.monotonic() + 15
            while deployment_id is None and time.monotonic() < deadline:
                active = [r for r in registry.active(ENV) if r.version == "bad"]
                deployment_id = active[0].id if active else None
                time.sleep(0.01)
        assert deployment_id is not None, "the deployment never started"
        stop = threading.Event()
        recorded: list[StateTimes] = []
        recorder = threading.Thread(
            target=lambda: recorded.append(_record_states(ws, deployment_id, stop)), daemon=True
        )
        recorder.start()
        page.goto(f"{base_url}/deployments/{deployment_id}")
        state = page.locator('[data-live="state"]')
        expect(page.locator('[data-live="traffic"]')).to_contain_text("bad", timeout=10_000)
        expect(state).to_have_text("rolled_back", timeout=30_000)
        expect(page.locator('[data-live="rollback"]')).to_contain_text("error", timeout=5_000)
        screenshot(page, "dashboard-live-rollback")
        deploying.join(timeout=30)
        stop.set()
        recorder.join(timeout=5)
        changes: list[dict[str, Any]] = page.evaluate("window.__changes")
        live_at: float = page.evaluate("window.__liveAt") / 1000
    load.stop()
    assert outcome and outcome[0].status.value == "rolled_back"
    registry_times = recorded[0]
    live = [c for c in changes if not c.get("initial")]
    assert [c["text"] for c in live][-1] == "rolled_back"
    assert len(live) >= 2, changes  # at least a step change and the rollback, without reload
    # Only the changes the registry recorded once the page's stream was open count: an
    # earlier one is in the page as it loads (the initial state), not a live update.
    delays = {
        c["text"]: c["t"] / 1000 - registry_times[c["text"]]
        for c in live
        if registry_times[c["text"]] >= live_at
    }
    assert "rolled_back" in delays and len(delays) >= 2, (delays, live_at, registry_times)
    # The recorder polls every 10 ms: it may note a state up to 10 ms late.
    assert max(delays.values()) + 0.01 < 1.0, delays
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
