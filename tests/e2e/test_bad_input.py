"""Unknown objects and absurd query strings on the pages: a 404 or 4xx page in the portal's layout
(or JSON for .json addresses), never a 500; the sign-in page never sends anyone to another site."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

from tests.e2e.crawl import check_response
from tests.personas import persona

pytestmark = pytest.mark.django_db

ERIN = persona("erin", 0x55)

UNKNOWN = [
    "/idaos/no-such-idao/",
    "/idaos/no-such-idao/proposals/",
    "/idaos/no-such-idao/members",
    "/proposals/999999999",
    "/proposals/999999999/ballots.json",
    "/proposals/999999999/ballots.csv",
    "/ballots/999999999",
    "/ledger/blocks/999999999",
    "/ledger/blocks/999999999.json",
    "/ledger/tx/999999999",
    "/ledger/proofs/999999999",
    "/ledger/proofs/999999999.json",
    "/dats/999999999/",
    "/dats/999999999/bundle.json",
    "/dats/models/999999999/",
    "/quorums/999999999/",
    "/rounds/999999999/",
    "/earnings/epochs/999999999/",
    "/earnings/dats/999999999/",
    "/earnings/idaos/no-such-idao/",
    "/earnings/epochs/999999999/payouts/1/proof.json",
    "/no/such/page",
    "/contributions/nope/file",
]

ABSURD_QUERIES = [
    "/idaos/?q=%3Cscript%3Ealert(1)%3C/script%3E&domain=nonsense",
    "/idaos/?q=" + "x" * 5000,
    "/idaos/open-health/proposals/?page=abc",
    "/idaos/open-health/proposals/?page=-1",
    "/idaos/open-health/proposals/?page=99999",
    "/idaos/open-health/proposals/new?kind=%00",
    "/dats/?idao=%00&klass=nonsense&owner=0xZZ&hash=not-a-hash&since=yesterday&until=2024-13-45&after=garbage&limit=-5",
    "/dats/?limit=1000000",
    "/dats/?after=" + "9" * 40,
    "/dats/?since=0001-01-01&until=9999-12-31",
    "/dats/models/1/?version=abc",
    "/dats/models/1/?version=-1",
    "/ledger/headers.json?after=abc&limit=xyz",
    "/ledger/headers.json?after=-5&limit=-1",
    "/ledger/headers.json?limit=99999999",
    "/ledger/accounts/%00",
    "/ledger/accounts/%00/statement.csv",
    "/idaos/?q=%00&domain=%00",
    "/dats/?owner=%00&hash=%00",
    "/dats/?idao=open-health%00",
    "/api/v1/idaos?q=%00&domain=%00",
    "/api/v1/dats?owner=%00&hash=%00&idao=%00",
    "/api/v1/ledger/accounts/%00/balances",
    "/ledger/proofs/1?x=%00",
    "/ledger/accounts/" + "a" * 500,
    "/ledger/accounts/user:0xZZ/statement.csv",
    "/proposals/1?partial=%00",
    "/earnings/?page=abc",
    "/earnings/epochs/?page=abc",
]


@pytest.fixture
def demo(db):
    call_command("demo_data", stdout=io.StringIO())
    call_command("seal_block", stdout=io.StringIO())


@pytest.mark.parametrize("who", ["visitor", "member"])
def test_unknown_objects_are_404_pages_or_json_never_500(demo, signed_in, who):
    client = Client() if who == "visitor" else signed_in(ERIN)
    problems = []
    for url in UNKNOWN:
        response = client.get(url)
        found, _, _ = check_response(url, response)
        problems += [f"{url}: {p}" for p in found]
        # A file download without any credential is 401 (a validator node signs in again).
        credential_needed = who == "visitor" and url.endswith("/file") and response.status_code == 401
        if response.status_code not in (302, 404) and not credential_needed:
            problems.append(f"{url}: answered {response.status_code}, not 404")
        elif (
            response.status_code == 404
            and "text/html" in response["Content-Type"]
            and "Not found" not in response.content.decode()
        ):
            problems.append(f"{url}: a 404 outside the portal's not-found page")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("who", ["visitor", "member"])
def test_absurd_query_strings_never_give_a_500(demo, signed_in, who):
    client = Client() if who == "visitor" else signed_in(ERIN)
    problems = []
    for url in ABSURD_QUERIES:
        response = client.get(url)
        found, _, _ = check_response(url, response)
        problems += [f"{url}: {p}" for p in found]
        if response.status_code >= 500:
            problems.append(f"{url}: answered {response.status_code}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "/%5Cevil.example",
    ],
)
def test_the_sign_in_page_never_sends_anyone_to_another_site(client, target):
    page = client.get("/login", {"next": target}).content.decode()
    nexts = re.findall(r'data-next="([^"]*)"', page)
    # A path on this site: one leading slash, no backslash or control character a browser would read as "//".
    assert nexts and all(re.fullmatch(r"/(?![/\\])[^\\\x00-\x1f]*", n) for n in nexts), nexts


def test_the_sign_in_page_keeps_a_path_on_this_site(client):
    page = client.get("/login", {"next": "/idaos/open-health/?tab=members"}).content.decode()
    assert 'data-next="/idaos/open-health/?tab=members"' in page.replace("&amp;", "&")


def test_a_nul_byte_in_the_address_or_query_is_a_400_page_or_json_error(client):
    page = client.get("/ledger/accounts/%00")
    assert page.status_code == 400 and "Bad request" in page.content.decode()
    api = client.get("/api/v1/idaos", {"q": "\x00"})
    assert api.status_code == 400 and api.json()["error"] == "invalid_text"


def test_every_post_form_a_steward_sees_survives_nul_bytes_and_empty_fields(demo, signed_in):
    """Each HTML form posted with every field empty, then with NUL bytes: a page or redirect, never a 500."""
    from tests.e2e.crawl import crawl, forms_of
    from tests.personas import ALICE

    client = signed_in(ALICE)
    pages = crawl(
        client,
        [
            "/",
            "/idaos/",
            "/idaos/open-health/",
            "/idaos/open-health/members",
            "/tokens/",
            "/contributions/new",
            "/idaos/new",
            "/idaos/open-health/proposals/new",
            "/quorums/",
            "/earnings/idaos/open-health/",
        ],
        limit=120,
    )
    forms = {}
    for url in pages.visits:
        if url.endswith(" [htmx]") or not pages.visits[url].content_type.startswith("text/html"):
            continue
        for form in forms_of(client.get(url).content.decode()):
            action = form["action"] or url
            if form["method"] == "post" and "logout" not in action and "leave" not in action:
                forms.setdefault(action, form["fields"])
    assert len(forms) >= 5, sorted(forms)
    print(f"posting {len(forms)} forms: {sorted(forms)}")
    problems = []
    for action, fields in forms.items():
        for filler in ("", "\x00", "x" * 10_000):
            data = {name: (value if name == "csrfmiddlewaretoken" else filler) for name, value in fields.items()}
            response = client.post(action, data)
            if response.status_code >= 500:
                problems.append(f"POST {action} with {filler[:3]!r}… answered {response.status_code}")
    assert not problems, "\n".join(problems)
