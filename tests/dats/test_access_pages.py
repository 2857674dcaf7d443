"""Requesting access from a DAT's page (paid from your own CREDIT, then the download) and declaring
lineage with the DAT picker: the same services, rules and errors as the API."""

from __future__ import annotations

import hashlib

import pytest

from contributions.models import Contribution
from dats.models import AccessGrant, DatParent, DeclaredLineage
from ledger.selectors import balance
from tests.dats.factories import credit, make_contribution, make_idao, minted, user_owner
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


@pytest.fixture
def dat(db):
    idao = make_idao(
        ALICE, slug="open-science", split_contributors_bps=7000, split_treasury_bps=2000, split_validators_bps=1000
    )
    return minted(
        idao,
        BOB,
        title="Radiology notes",
        content=b"id,finding\n1,clear\n2,nodule\n",
        policy={"allowed_uses": ["training", "inference"], "price": 100, "quota": 2},
    )


def test_the_access_page_shows_terms_and_pays_from_your_credit_then_downloads(signed_in, dat):
    credit(user_owner(CAROL), 250)
    client = signed_in(CAROL)
    page = client.get(f"/dats/{dat.pk}/access").content.decode()
    assert 'data-testid="price"' in page and "100 CREDIT" in page and "2 of 2 uses" in page
    assert 'data-testid="download"' not in page
    assert client.get(f"/api/v1/dats/{dat.pk}/file").status_code == 403
    r = client.post(f"/dats/{dat.pk}/access", {"use": "training", "request_key": "form-1"}, follow=True)
    html = r.content.decode()
    assert "Access granted for training: 100 CREDIT paid" in html and "1 of 2 uses" in html
    assert balance(user_owner(CAROL), "CREDIT") == 150 and balance(user_owner(BOB), "CREDIT") == 70
    client.post(f"/dats/{dat.pk}/access", {"use": "training", "request_key": "form-1"})  # a resubmitted form
    assert AccessGrant.objects.count() == 1 and balance(user_owner(CAROL), "CREDIT") == 150
    download = client.get(f"/api/v1/dats/{dat.pk}/file")
    body = b"".join(download.streaming_content)
    assert download.status_code == 200 and "0x" + hashlib.sha256(body).hexdigest() == dat.sha256


def test_the_access_page_refuses_with_the_policy_reason_and_moves_nothing(signed_in, dat):
    credit(user_owner(CAROL), 50)
    client = signed_in(CAROL)
    poor = client.post(f"/dats/{dat.pk}/access", {"use": "training", "request_key": "a"}, follow=True)
    assert "Access costs 100 CREDIT" in poor.content.decode()
    wrong = client.post(f"/dats/{dat.pk}/access", {"use": "commercial", "request_key": "b"}, follow=True)
    assert "does not allow commercial" in wrong.content.decode()
    assert not AccessGrant.objects.exists() and balance(user_owner(CAROL), "CREDIT") == 50


def test_the_picker_finds_dats_by_title_or_number(client, dat):
    by_title = client.get("/dats/picker", {"q": "radio"}, HTTP_HX_REQUEST="true").content.decode()
    assert f'value="{dat.pk}"' in by_title and "<html" not in by_title
    assert f'value="{dat.pk}"' in client.get("/dats/picker", {"q": f"#{dat.pk}"}).content.decode()
    assert "No DAT matches" in client.get("/dats/picker", {"q": "zzz-nothing"}).content.decode()


def test_the_owner_declares_a_dats_parents_with_the_picker_and_a_cycle_is_refused(signed_in, dat):
    child = minted(dat.idao, CAROL, title="Derived notes")
    client = signed_in(CAROL)
    assert signed_in(BOB).get(f"/dats/{child.pk}/parents").status_code == 404
    page = client.get(f"/dats/{child.pk}/parents", {"q": "radiology"}).content.decode()
    assert f'data-testid="pick-{dat.pk}"' in page and f'data-testid="pick-{child.pk}"' not in page
    r = client.post(f"/dats/{child.pk}/parents", {"parents": [str(dat.pk)]})
    assert r.status_code == 302 and DatParent.objects.filter(child=child, parent=dat).exists()
    cycle = signed_in(BOB).post(f"/dats/{dat.pk}/parents", {"parents": [str(child.pk)]}, follow=True)
    assert "cycle" in cycle.content.decode() and not DatParent.objects.filter(child=dat).exists()


def test_a_contributor_declares_lineage_before_minting_from_the_page(signed_in, dat):
    contribution = make_contribution(dat.idao, CAROL, title="In review")
    client = signed_in(CAROL)
    assert signed_in(BOB).get(f"/contributions/{contribution.public_id}/parents").status_code == 404
    r = client.post(f"/contributions/{contribution.public_id}/parents", {"parents": [str(dat.pk)]})
    assert r.status_code == 302 and DeclaredLineage.objects.get(contribution=contribution).parent_ids == [dat.pk]
    unknown = client.post(f"/contributions/{contribution.public_id}/parents", {"parents": ["999999"]}, follow=True)
    assert "There is no DAT #999999" in unknown.content.decode()


def test_my_contributions_link_each_minted_dat_and_offer_lineage_before(signed_in, dat):
    waiting = make_contribution(dat.idao, BOB, title="Still in review")
    Contribution.objects.filter(pk=waiting.pk).update(state="in_review")
    html = signed_in(BOB).get("/contributions/mine").content.decode()
    assert f'href="/dats/{dat.pk}/" data-testid="dat-link">Radiology notes</a>' in html
    assert f'href="/contributions/{waiting.public_id}/parents"' in html
