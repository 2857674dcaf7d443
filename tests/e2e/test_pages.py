"""Crawl the portal over the demo data as a visitor, a member, a steward and a staff user: every page
reachable from the navigation and from links on those pages answers as intended, is never an error
page, carries no inline script or style (CSP), and every JSON endpoint answers JSON."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.test import Client

from portal.models import User
from tests.e2e.crawl import crawl
from tests.personas import ALICE, MALLORY, persona

# Erin is a plain member of the demo iDAOs (Dave is the demo's staff member, Alice a steward).
ERIN = persona("erin", 0x55)


def make_staff(address: str) -> None:
    """Save (not update) so the cached user row is dropped, as the admin and grant_admin do."""
    user = User.objects.get(address=address)
    user.is_staff = user.is_superuser = True
    user.save()


pytestmark = pytest.mark.django_db

NAV = [
    "/",
    "/idaos/",
    "/proposals/",
    "/proposals/?state=all",
    "/quorums/",
    "/dats/",
    "/ledger/",
    "/earnings/",
    "/api/v1/docs",
    "/api/v1/openapi.json",
    "/ledger/headers.json",
    "/governance/eip712.json",
    "/delegates/healthcare/",
    "/quorums/eip712.json",
    "/earnings/epochs/",
    "/login",
    "/healthz",
    "/readyz",
]
SIGNED_IN_NAV = [
    "/tokens/",
    "/contributions/new",
    "/contributions/mine",
    "/validator/inbox",
    "/auth/me",
    "/delegations/",
    "/votes/",
]
STAFF_NAV = ["/quorums/moderation/", "/admin/"]
# What a page may answer besides 200: where sign-in or staff is required.
SIGN_IN_REQUIRED = (
    "/earnings/",
    "/tokens/",
    "/contributions/new",
    "/contributions/mine",
    "/validator/inbox",
    "/quorums/moderation/",
    "/delegations/",
    "/votes/",
)
STAFF_ONLY = ("/quorums/moderation/", "/admin/")


@pytest.fixture
def demo(db):
    """The demo data, sealed as the beat would seal it a few seconds after loading."""
    call_command("demo_data", stdout=io.StringIO())
    call_command("seal_block", stdout=io.StringIO())


def unexpected(result, *, allowed) -> list[str]:
    """Answers that are not 200, a followed redirect, or an allowed refusal for this role."""
    out = []
    for url, visit in result.visits.items():
        status = visit.status
        if status == 200 or (status == 302 and visit.source == "seed") or status in allowed(url):
            continue
        if status == 302 and visit.location.startswith("/login?next=") and allowed is visitor_allowed:
            continue  # a visitor following a members' link is asked to sign in
        out.append(f"{url} (from {visit.source}) answered {status}")
    return out


def assert_clean(result, *, allowed, minimum: int) -> None:
    assert len(result.visits) >= minimum, sorted(result.visits)
    counts: dict[int, int] = {}
    for visit in result.visits.values():
        counts[visit.status] = counts.get(visit.status, 0) + 1
    fragments = sum(url.endswith(" [htmx]") for url in result.visits)
    print(f"crawled {len(result.visits)} pages ({fragments} htmx fragments): {dict(sorted(counts.items()))}")
    problems = result.problems + unexpected(result, allowed=allowed)
    assert not problems, "\n".join(problems)


def visitor_allowed(url: str) -> set[int]:
    if url.startswith(SIGN_IN_REQUIRED) or url.startswith("/auth/me"):
        return {302, 401, 403}
    return set()


def member_allowed(url: str) -> set[int]:
    if url.startswith(STAFF_ONLY):
        return {302, 403}
    return set()


def test_a_visitor_reaches_every_public_page_cleanly(demo):
    started = time.monotonic()
    result = crawl(Client(), NAV + SIGNED_IN_NAV)
    assert_clean(result, allowed=visitor_allowed, minimum=40)
    assert result.statuses()["/earnings/"] in (200, 302)
    assert time.monotonic() - started < 30


def test_a_member_reaches_every_page_cleanly(demo, signed_in):
    client = signed_in(ERIN)
    assert not User.objects.get(address=ERIN.address).is_staff
    result = crawl(client, NAV + SIGNED_IN_NAV + STAFF_NAV)
    assert_clean(result, allowed=member_allowed, minimum=40)
    assert result.statuses()["/quorums/moderation/"] in (302, 403)


def test_a_steward_reaches_every_page_cleanly(demo, signed_in):
    result = crawl(signed_in(ALICE), NAV + SIGNED_IN_NAV + ["/idaos/open-health/members"])
    assert_clean(result, allowed=member_allowed, minimum=40)
    assert result.statuses()["/idaos/open-health/members"] == 200


def test_a_staff_user_reaches_every_page_and_the_admin_cleanly(demo, signed_in):
    client = signed_in(MALLORY)
    make_staff(MALLORY.address)
    result = crawl(client, NAV + SIGNED_IN_NAV + STAFF_NAV)
    assert_clean(result, allowed=lambda url: set(), minimum=40)
    assert result.statuses()["/quorums/moderation/"] == 200
    assert result.statuses()["/admin/"] == 200
