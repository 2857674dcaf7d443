"""The main pages in headless Chromium over the demo data: no console errors, no uncaught page
errors, no Content-Security-Policy violations, no failed same-origin requests, for a visitor and for
a signed-in member. With E2E_SCREENSHOTS=<dir>, full-page screenshots at 1200px and 390px are saved."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from dats.models import DAT
from idaos.models import Proposal
from ledger.models import Leaf
from portal.models import User
from tests.personas import BOB, persona

# Erin is a plain member of the demo iDAOs (Dave is the demo's staff member, Alice a steward).
ERIN = persona("erin", 0x55)


def make_staff(address: str) -> None:
    """Save (not update) so the cached user row is dropped, as the admin and grant_admin do."""
    user = User.objects.get(address=address)
    user.is_staff = user.is_superuser = True
    user.save()


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("E2E_SCREENSHOTS")
# Pages whose content a script builds from a request of its own: what shows it is done. "networkidle"
# (no request for 500 ms) can come before that request starts when the script takes longer than
# that to run (Swagger UI's bundle on a loaded machine), and leaving the page then aborts it.
READY = {"/api/v1/docs": "#swagger-ui .opblock"}
# The innermost elements that stick out to the right of the viewport, to name them in a failure.
WIDE_ELEMENTS = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 1))
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().width) + 'px')"""


def load_demo() -> dict[str, str]:
    call_command("demo_data", stdout=io.StringIO())
    call_command("seal_block", stdout=io.StringIO())
    proposal = Proposal.objects.order_by("pk").first()
    leaf = Leaf.objects.filter(kind="validation_round").order_by("pk").first()
    return {
        "home": "/",
        "idaos": "/idaos/",
        "idao": "/idaos/open-health/",
        "proposal": f"/proposals/{proposal.pk}",
        "ledger": "/ledger/",
        "block": "/ledger/blocks/1",
        "proof": f"/ledger/proofs/{leaf.pk}",
        "dats": "/dats/",
        "dat": f"/dats/{DAT.objects.order_by('pk').first().pk}/",
        "earnings": "/earnings/",
        "quorums": "/quorums/",
        "epochs": "/earnings/epochs/",
        "api-docs": "/api/v1/docs",
        "delegates": "/idaos/open-health/delegates",
        "domain-delegates": "/delegates/healthcare/",
        "profile": f"/people/{BOB.address}/",
        "proposals": "/proposals/?state=all",
    }


def watch(page, origin: str) -> list[str]:
    """Collect console errors, CSP reports, page errors and failed same-origin requests."""
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            where = (message.location or {}).get("url", "")
            problems.append(f"console {message.type} on {page.url} ({where}): {message.text}")

    def on_response(response) -> None:
        if response.status >= 400:
            problems.append(f"{response.status} for {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} {request.failure}"))
    return problems


def visit_all(page, base: str, pages: dict[str, str], problems: list[str], *, label: str) -> None:
    for name, path in pages.items():
        for width in (1200, 390):
            page.set_viewport_size({"width": width, "height": 900})
            if width == 1200:
                page.goto(base + path, wait_until="networkidle")
                assert page.title(), path
                if path in READY:
                    page.wait_for_selector(READY[path], timeout=60_000)
            # Module scripts ran and layout settled: the document is complete and two frames were painted.
            page.wait_for_function("document.readyState === 'complete'")
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{SHOTS}/{label}-{name}-{width}.png", full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if overflow > 0:
                culprits = page.evaluate(WIDE_ELEMENTS)
                problems.append(f"{path}: the page scrolls sideways by {overflow}px at {width}px width: {culprits}")
    errors = [f"page error: {e}" for e in page.errors]
    assert not problems + errors, "\n".join(problems + errors)


def test_a_visitor_sees_the_main_pages_without_script_errors_or_csp_violations(live_server, page):
    pages = load_demo()
    problems = watch(page, live_server.url)
    visit_all(page, live_server.url, pages, problems, label="visitor")


def test_a_signed_in_member_sees_their_pages_without_script_errors_or_csp_violations(live_server, page, wallet):
    pages = load_demo()
    problems = watch(page, live_server.url)
    wallet(page, ERIN)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.get_by_test_id("signed-in-address").wait_for()
    assert User.objects.filter(address=ERIN.address).exists()
    member_pages = {name: pages[name] for name in ("idao", "proposal", "earnings", "dat", "profile", "proposals")}
    member_pages |= {
        "dashboard": "/",
        "my-votes": "/votes/",
        "upload": "/contributions/new",
        "mine": "/contributions/mine",
        "inbox": "/validator/inbox",
        "tokens": "/tokens/",
        "delegations": "/delegations/",
    }
    visit_all(page, live_server.url, member_pages, problems, label="member")
    assert not re.search(r"Sign in with Ethereum", page.content())


def test_a_steward_and_a_staff_member_see_their_pages_without_script_errors(live_server, page, wallet):
    pages = load_demo()
    problems = watch(page, live_server.url)
    wallet(page, BOB)  # steward of the demo's Law Commons, made staff here
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.get_by_test_id("signed-in-address").wait_for()
    make_staff(BOB.address)
    staff_pages = {
        "members": "/idaos/law-commons/members",
        "moderation": "/quorums/moderation/",
        "quorums": pages["quorums"],
        "admin": "/admin/",
        "idao-earnings": "/earnings/idaos/open-health/",
    }
    visit_all(page, live_server.url, staff_pages, problems, label="staff")
