"""Every crawled page passes axe-core's WCAG 2.x A/AA rules in Chromium with no serious or critical
violation, for a visitor, a member, a steward and a staff user. axe-core is vendored for the test
only (tests/e2e/vendor/axe-core); the pages are those tests/e2e/crawl.py reaches from the
navigation, one per route (ids replaced), excluding Django's admin and the Swagger UI, which are
third-party interfaces."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from tests.e2e.crawl import crawl
from tests.e2e.test_pages import NAV, SIGNED_IN_NAV, STAFF_NAV, make_staff
from tests.personas import ALICE, MALLORY, persona

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ERIN = persona("erin", 0x55)
THIRD_PARTY = ("/admin/", "/api/v1/docs")
RUN_AXE = """async () => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
  return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`);
}"""


def routes(client, seeds: list[str], seen: set[str]) -> list[str]:
    """One crawled HTML page per route not checked yet for an earlier role: /dats/12/ and /dats/13/
    are the same template; the signed-in header is checked on every role's first page."""
    result = crawl(client, seeds)
    chosen: dict[str, str] = {}
    for key, visit in result.visits.items():
        path = urlsplit(visit.url).path
        if key.endswith(" [htmx]") or visit.status != 200 or not visit.content_type.startswith("text/html"):
            continue
        if path.startswith(THIRD_PARTY):
            continue
        route = re.sub(r"/(0x[0-9a-fA-F]+|[0-9]+|[A-Za-z0-9_-]{20,})(?=/|$|\.)", "/<id>", path)
        if route not in seen:
            chosen.setdefault(route, visit.url)
    seen.update(chosen)
    return sorted(set(chosen.values()))


def violations(browser, live_server, client, urls: list[str]) -> list[str]:
    # bypass_csp: the test injects axe as a script tag, which the portal's CSP rightly forbids.
    context = browser.new_context(bypass_csp=True)
    session = client.cookies.get("sessionid")
    if session is not None:
        context.add_cookies([{"name": "sessionid", "value": session.value, "url": live_server.url}])
    page = context.new_page()
    found: list[str] = []
    try:
        for url in urls:
            page.goto(live_server.url + url, wait_until="load")
            page.add_script_tag(path=str(AXE))
            found += [f"{url}: {v}" for v in page.evaluate(RUN_AXE)]
    finally:
        context.close()
    return found


@pytest.fixture
def demo(transactional_db):
    call_command("demo_data", stdout=io.StringIO())
    call_command("seal_block", stdout=io.StringIO())


def test_every_page_has_no_serious_accessibility_violation_for_any_role(demo, live_server, browser, signed_in):
    from django.test import Client

    visitor = Client()
    member = signed_in(ERIN)
    steward = signed_in(ALICE)
    staff = signed_in(MALLORY)
    make_staff(MALLORY.address)
    problems: list[str] = []
    checked, seen = 0, set()
    for client, seeds in (
        (visitor, NAV),
        (member, NAV + SIGNED_IN_NAV),
        (steward, NAV + SIGNED_IN_NAV + ["/idaos/open-health/members"]),
        (staff, NAV + SIGNED_IN_NAV + STAFF_NAV),
    ):
        urls = sorted({"/", *routes(client, seeds, seen)})  # "/" again: each role's header
        checked += len(urls)
        problems += violations(browser, live_server, client, urls)
    assert checked >= 40, checked
    assert not problems, "\n".join(problems)
