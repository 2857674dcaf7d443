"""A draft exists for its author only: the proposal page, the API, the lists and the export all
answer as if it did not exist for anyone else (one selector, selectors.proposals_visible)."""

from __future__ import annotations

import pytest
from django.test import Client

from idaos.services import proposals
from portal.models import ApiToken
from tests.idaos.conftest import ballot, make_idao, user_of
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft():
    idao = make_idao(members=[BOB, CAROL])
    return proposals.proposal_create(idao=idao, author=user_of(BOB), kind="signal", title="Not yet", submit=False)


def bearer(p) -> str:
    raw, prefix, digest = ApiToken.generate()
    ApiToken.objects.create(user=user_of(p), name="script", scopes=[], prefix=prefix, key_hash=digest)
    return f"Bearer {raw}"


def test_the_author_sees_the_draft_page_others_and_anonymous_get_404(draft, signed_in):
    assert signed_in(BOB).get(f"/proposals/{draft.pk}").status_code == 200
    assert signed_in(CAROL).get(f"/proposals/{draft.pk}").status_code == 404
    assert Client().get(f"/proposals/{draft.pk}").status_code == 404


def test_the_api_shows_a_draft_to_its_author_only(draft, signed_in):
    url = f"/api/v1/proposals/{draft.pk}"
    mine = signed_in(BOB).get(url)
    assert mine.status_code == 200 and mine.json()["state"] == "draft"
    assert Client().get(url, HTTP_AUTHORIZATION=bearer(BOB)).json()["id"] == draft.pk
    for response in (signed_in(CAROL).get(url), Client().get(url), Client().get(url, HTTP_AUTHORIZATION=bearer(ALICE))):
        assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_lists_include_a_draft_for_its_author_only(draft, signed_in):
    api = f"/api/v1/idaos/{draft.idao.slug}/proposals"
    assert [p["id"] for p in signed_in(BOB).get(api).json()["items"]] == [draft.pk]
    assert signed_in(CAROL).get(api).json()["items"] == []
    assert Client().get(api, {"state": "draft"}).json()["items"] == []
    page = f"/idaos/{draft.idao.slug}/proposals/"
    assert "Not yet" in signed_in(BOB).get(page).content.decode()
    assert "Not yet" not in signed_in(CAROL).get(page).content.decode()
    assert "Not yet" not in Client().get(page).content.decode()
    assert "Not yet" not in Client().get(f"/idaos/{draft.idao.slug}/").content.decode()


def test_a_drafts_export_and_actions_are_404_for_others(draft, signed_in):
    assert Client().get(f"/proposals/{draft.pk}/ballots.json").status_code == 404
    assert signed_in(CAROL).post(f"/proposals/{draft.pk}/submit").status_code == 404
    draft.refresh_from_db()
    assert draft.state == "draft"


def test_a_vote_on_another_authors_draft_answers_as_for_a_missing_proposal(draft, signed_in):
    carol = signed_in(CAROL)
    url = f"/api/v1/proposals/{draft.pk}/votes"
    for body in (ballot(CAROL, draft), ballot(CAROL, draft, idao="somewhere-else")):
        response = carol.post(url, body, content_type="application/json")
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
    # Its author is told the truth: voting has not opened.
    response = signed_in(BOB).post(url, ballot(BOB, draft), content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (409, "voting_not_open")
