"""End to end in headless Chromium (Debian's, driven by Playwright): search, diff, and a reviewer's approval."""

from __future__ import annotations

import re
from importlib import import_module
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission

from governance.services import delegation_submit
from registry.demo import seed
from registry.models import Action
from tests.conftest import ROOT
from tests.web.conftest import certificate, new_signer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser(tmp_path, monkeypatch):
    """A fresh Chromium profile per test. Playwright's own browser downloads are never used."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap installs Debian's chromium (apt-get, as root)")
    # Playwright's sync API runs an event loop in this thread: from here on Django would hand the ORM a
    # different (never closed) connection, so every check while the browser is open goes over HTTP.
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"])
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


def groups_restore() -> None:
    """The live server needs committed data (transactional tests), and their flush also drops the rows the
    data migration made: put the governance groups back with the migration's own permission lists."""
    groups = import_module("governance.migrations.0003_permission_groups").GROUPS
    for name, codenames in groups.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(codename__in=codenames,
                                                        content_type__app_label__in=["governance", "core"]))


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def demo_catalog(catalog, tmp_path) -> int:
    """The test catalog among real tool schemas (BFCL); the number of actions."""
    seed(directory=tmp_path / "demo", limit=30)  # enough for a second page of results
    return Action.objects.filter(latest_version__isnull=False).count()


# Data fixtures come before `browser` in each signature: they run before Playwright's event loop exists in
# this thread, which the publish path's after-commit fan-out (async_to_sync) could not run inside.

def test_search_and_open_an_action(live_server, demo_catalog, browser):
    page = browser.new_page()
    page.goto(live_server.url + "/")
    assert page.locator("#results-count").inner_text() == f"Showing 1–25 of {demo_catalog} actions."
    shot(page, "catalog")
    page.screenshot(path=str(ARTIFACTS / "catalog-viewport.png"))  # the README's picture (docs/catalog.png)

    # Instant search: typing is enough (no Enter); the server renders the fragment and the URL follows.
    page.get_by_label("Search actions").press_sequentially("weather", delay=20)
    page.wait_for_url(re.compile(r"\?q=weather"))
    results = page.locator("#results .results a.name")
    results.first.wait_for()
    names = results.all_inner_texts()
    assert "weather.forecast" in names and "ssh.exec" not in names
    status = page.locator("#search-status").text_content()
    assert re.fullmatch(r"Showing 1–\d+ of \d+ actions? matching “weather”\.", status), status
    shot(page, "catalog-search")

    page.get_by_role("link", name="weather.forecast", exact=True).click()
    page.wait_for_url(re.compile(r"/actions/weather\.forecast/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "weather.forecast"
    assert "✓ Verified" in page.locator("#verification").inner_text()
    assert page.get_by_role("table").first.locator("th[scope=row]").all_inner_texts() == ["city"]
    shot(page, "action")

    page.get_by_role("link", name="1.0.0").first.click()
    page.wait_for_url(re.compile(r"/versions/1\.0\.0/$"))
    copy = page.get_by_role("button", name="Copy: Verify with the CLI")
    copy.click()
    assert page.evaluate("navigator.clipboard.readText()") == "action-registry verify weather.forecast 1.0.0"
    shot(page, "version")


def test_view_a_diff(live_server, catalog, browser):
    page = browser.new_page()
    page.goto(live_server.url + "/actions/ssh.exec/")
    page.get_by_role("link", name="Compare versions").click()
    page.get_by_label("Older version").select_option("1.0.0")
    page.get_by_label("Newer version").select_option("2.0.0")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"from=1\.0\.0&to=2\.0\.0"))
    assert page.locator("#implied-bump").inner_text() == "major"
    breaking = page.locator("tr.breaking")
    assert breaking.count() == 1 and "input/properties/port" in breaking.inner_text()
    # Highlighted for the eye, and labelled in words for everyone else.
    assert breaking.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 226, 225)"
    assert breaking.locator(".badge").inner_text() == "breaking"
    shot(page, "diff")

    page.goto(live_server.url + "/actions/ssh.exec/graph/")
    assert page.locator("figure.graph-picture svg").count() == 1
    shot(page, "graph")


@pytest.fixture
def pending_delegation(catalog, django_user_model):
    """gina (governance team) submitted acme-org-1 under the root; rita is a security reviewer."""
    groups_restore()
    governor = django_user_model.objects.create_user("gina", password="gina-pass-1", is_staff=True)
    governor.groups.add(Group.objects.get(name="governance team"))
    reviewer = django_user_model.objects.create_user("rita", password="rita-pass-1", is_staff=True)
    reviewer.groups.add(Group.objects.get(name="security reviewers"))
    org = new_signer("acme-org-1")
    return org, delegation_submit(envelope=certificate(catalog, org, ["acme"]), actor="user:gina", user=governor)


def test_security_reviewer_approves_a_pending_delegation(live_server, catalog, pending_delegation, browser):
    org, pending = pending_delegation

    page = browser.new_page()
    page.goto(live_server.url + "/trust/")
    assert "Pending approval" in page.locator(f"#key-acme-org-1-{org.alg}").inner_text()

    page.goto(live_server.url + "/admin/login/?next=/admin/governance/delegationrequest/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("rita-pass-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="acme-org-1").click()
    page.wait_for_url(re.compile(rf"/delegationrequest/{pending.pk}/change/"))
    body = page.locator("#content").inner_text()
    assert "gina submitted this request and cannot approve or reject it" in body
    assert catalog.kid in body and '"parent_kid": "test-root-1"' in body  # the chain and the certificate
    shot(page, "admin-delegation-review")
    page.get_by_label("Reason (required, kept in the audit log)").fill("acme's org key, ticket SEC-42")
    page.get_by_role("button", name="Approve delegation").click()
    page.wait_for_url(re.compile(r"/admin/governance/delegationrequest/$"))
    assert "acme-org-1 approved" in page.locator(".messagelist").inner_text().lower()

    page.goto(live_server.url + "/trust/")
    node = page.locator(f"#key-{catalog.kid}-{catalog.alg} #key-acme-org-1-{org.alg}")  # under its root
    text = node.inner_text()
    assert "Active" in text and "Approved by rita" in text and "acme" in text
    shot(page, "trust-tree")
    key = page.request.get(f"{live_server.url}/v1/keys/acme-org-1").json()
    assert key["status"] == "active" and key["parent_kid"] == catalog.kid, key


# WCAG 2 contrast of every visible text element against the first opaque background behind it, and a name for
# every form control. Computed in the page, so it judges the CSS as the browser actually applied it.
AUDIT_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
                                    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === "hidden" || style.display === "none" || !el.getClientRects().length) continue;
    if (el.closest("svg, .skip-link")) continue;  // charts carry their numbers in tables; the skip link is off-screen
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && style.fontWeight >= 700);
    if (ratio < (large ? 3 : 4.5)) low.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  const unnamed = [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
    .map(e => e.outerHTML.slice(0, 80));
  return {low, unnamed};
}"""


def test_accessible_and_readable_without_javascript(live_server, catalog, browser):
    page = browser.new_page()
    for path in ("/", "/?q=ssh", "/actions/ssh.exec/", "/actions/ssh.exec/versions/1.1.0/",
                 "/actions/ssh.exec/diff/?from=1.1.0&to=2.0.0", "/actions/ssh.exec/graph/", "/trust/", "/analytics/",
                 "/analytics/actions/ssh.exec/"):
        page.goto(live_server.url + path)
        audit = page.evaluate(AUDIT_JS)
        assert audit == {"low": [], "unnamed": []}, path
    # Keyboard: Tab order reaches the search box after the skip link and the navigation, with a visible ring.
    page.goto(live_server.url + "/")
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"

    # A phone without JavaScript: searching, reading and the commands all work.
    page = browser.new_page()
    page.set_viewport_size({"width": 375, "height": 740})
    page.route("**/*.js", lambda route: route.abort())  # our only script: the page must do without it
    page.goto(live_server.url + "/")
    page.get_by_label("Search actions").fill("ssh")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"\?q=ssh"))
    assert page.locator("#results a.name").all_inner_texts() == ["ssh.exec"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    # Keyboard: the first Tab lands on the skip link, which is then visible.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    shot(page, "catalog-phone-nojs")
    page.goto(live_server.url + "/actions/ssh.exec/versions/2.0.0/")
    assert page.get_by_role("button", name=re.compile("^Copy")).count() == 0  # hidden without JS
    assert page.locator("code", has_text="action-registry verify ssh.exec 2.0.0").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
