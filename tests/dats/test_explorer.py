"""The public explorer: filters, keyset pages with a fixed query count, the DAT page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dats import services as dat_services
from dats.lineage import lineage_graph, render_svg
from dats.models import DAT
from quorums.models import Quorum, Seat, Validator, Verdict
from tests.dats.factories import make_idao, minted, user_of
from tests.personas import ALICE, BOB, CAROL


def _rows(response) -> list[int]:
    import re

    return [int(x) for x in re.findall(rb'href="/dats/(\d+)/">#', response.content)]


@pytest.mark.django_db
def test_filters_by_idao_class_owner_hash_and_date(client):
    a, b = make_idao(ALICE, slug="alpha"), make_idao(ALICE, slug="beta")
    d1 = minted(a, BOB)
    d2 = minted(a, CAROL, kind="model_weights")
    d3 = minted(b, BOB)
    DAT.objects.filter(pk=d3.pk).update(minted_at=timezone.now() - timedelta(days=10))
    assert _rows(client.get("/dats/")) == [d2.pk, d1.pk, d3.pk]
    assert _rows(client.get("/dats/?idao=alpha")) == [d2.pk, d1.pk]
    assert _rows(client.get("/dats/?klass=model")) == [d2.pk]
    assert _rows(client.get(f"/dats/?owner={BOB.address.lower()}")) == [d1.pk, d3.pk]
    assert _rows(client.get(f"/dats/?hash={d1.keccak256}")) == [d1.pk]
    assert _rows(client.get(f"/dats/?hash={d3.sha256}")) == [d3.pk]
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert _rows(client.get(f"/dats/?since={since}")) == [d2.pk, d1.pk]
    assert _rows(client.get("/dats/?idao=nope")) == []
    bad = client.get("/dats/?hash=0x12")
    assert bad.status_code == 422 and b"64 hex digits" in bad.content
    api = client.get("/api/v1/dats", {"idao": "alpha", "klass": "dataset"}).json()
    assert [r["tokenId"] for r in api["results"]] == [d1.pk]


@pytest.mark.django_db
def test_pages_follow_a_keyset_cursor_with_a_query_count_independent_of_the_data(client):
    idao = make_idao(ALICE, slug="many")
    dats = [minted(idao, BOB) for _ in range(6)]

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/dats", {"idao": "many", "limit": 2}).status_code == 200
        return len(ctx.captured_queries)

    small = page_queries()
    dats += [minted(idao, BOB) for _ in range(6)]
    assert page_queries() == small
    seen, after = [], ""
    while True:
        body = client.get("/api/v1/dats", {"idao": "many", "limit": 5, "after": after}).json()
        seen += [r["tokenId"] for r in body["results"]]
        if not body["next"]:
            break
        after = body["next"]
    assert seen == sorted((d.pk for d in dats), reverse=True)
    html = client.get("/dats/?idao=many&limit=5")
    assert b'rel="next"' in html.content and len(_rows(html)) == 5
    assert client.get("/api/v1/dats", {"after": "garbage"}).json()["error"] == "invalid_filter"


@pytest.mark.django_db
def test_dat_page_shows_lineage_round_verdicts_policy_history_usage_and_verify(client):
    idao = make_idao(ALICE)
    parent = minted(idao, CAROL)
    dat = minted(idao, BOB, parents=[parent], title="Clinical notes")
    child = minted(idao, BOB, parents=[dat])
    quorum = Quorum.objects.get()
    validator = Validator.objects.create(quorum=quorum, user=user_of(CAROL), address=CAROL.address, stake=500)
    Seat.objects.create(round=dat.round, validator=validator, address=CAROL.address, stake=500)
    Verdict.objects.create(
        round=dat.round, validator=validator, verdict="approve", signature="0x" + "11" * 65, digest="0x" + "22" * 32
    )
    dat_services.dat_policy_change(dat_id=dat.pk, actor=dat.owner, changes={"price_credit": 3})
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(f"/dats/{dat.pk}/")
    assert page.status_code == 200 and len(ctx.captured_queries) <= 25
    html = page.content.decode()
    assert "Clinical notes" in html and dat.sha256 in html
    assert f'data-dat="{parent.pk}"' in html and f'data-dat="{child.pk}"' in html and "<svg" in html
    assert 'data-testid="round-outcome">accepted' in html and CAROL.address in html
    assert html.count("<tr><td>1</td>") == 1 and "<tr><td>2</td>" in html  # two policy versions
    assert 'data-testid="usage"' in html and "data-verify-dat" in html and "js/verify.js" in html
    assert client.get("/dats/99999/").status_code == 404


def test_lineage_svg_escapes_titles():
    class Fake:
        def __init__(self, pk, title):
            self.pk, self.title, self.klass = pk, title, "dataset"

    from dats.lineage import Graph

    g = Graph(focus=1, nodes={1: Fake(1, "<script>x</script>"), 2: Fake(2, "a&b")}, depth={1: 0, 2: -1}, edges={(2, 1)})
    svg = render_svg(g)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg and "<line" in svg


@pytest.mark.django_db
def test_lineage_graph_finds_ancestors_and_descendants():
    idao = make_idao(ALICE)
    a = minted(idao, BOB)
    b = minted(idao, BOB, parents=[a])
    c = minted(idao, BOB, parents=[b])
    graph = lineage_graph(b)
    assert [d.pk for d in graph.ancestors] == [a.pk] and [d.pk for d in graph.descendants] == [c.pk]


@pytest.mark.django_db
def test_owner_changes_policy_and_transfers_from_the_dat_page(signed_in):
    dat = minted(make_idao(ALICE), BOB)
    bob = signed_in(BOB)
    response = bob.post(
        f"/dats/{dat.pk}/policy", {"allowed_uses": ["evaluation"], "price_credit": "4", "quota": "", "expires_at": ""}
    )
    assert response.status_code == 302
    dat.refresh_from_db()
    assert (dat.allowed_uses, dat.price_credit) == (["evaluation"], 4)
    signed_in(CAROL).post(f"/dats/{dat.pk}/transfer", {"to": CAROL.address})
    dat.refresh_from_db()
    assert dat.owner.address == BOB.address  # carol is not the owner
    bob.post(f"/dats/{dat.pk}/transfer", {"to": CAROL.address})
    dat.refresh_from_db()
    assert dat.owner.address == CAROL.address
