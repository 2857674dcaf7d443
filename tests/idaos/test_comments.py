"""A proposal's discussion: members comment, everyone reads, Markdown is rendered safely, stewards
hide with a reason (staff still see the text), edits within 10 minutes, rate limits."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from idaos.errors import Conflict, Forbidden, NotSteward
from idaos.markdown import render
from idaos.models_treasury import ProposalComment
from idaos.services import comments
from ledger.models import Leaf
from portal.models import User
from tests.factories import user_of
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB, CAROL, MALLORY
from tests.siwe_helpers import sign_in

pytestmark = pytest.mark.django_db

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href='javascript:alert(1)'>x</a>",
    '<svg onload="alert(1)">',
    "<iframe src=https://evil.example></iframe>",
    '![x](https://evil.example/x.png" onerror="alert(1))',
    '<div style="background:url(javascript:alert(1))">',
    "`<script>`alert(1)",
    "<<script>script>alert(1)<</script>/script>",
]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


@pytest.mark.parametrize("payload", XSS)
def test_script_in_markdown_is_neutralised(payload):
    parser = _Elements()
    parser.feed(render(payload))
    for tag, attrs in parser.found:
        assert tag in {"p", "a", "code", "em", "strong", "pre"}, tag
        assert not any(name.startswith("on") or name == "style" for name in attrs), attrs
        if tag == "a":
            assert attrs["href"].startswith(("http://", "https://")) and attrs["rel"] == "nofollow noopener"


def test_links_are_nofollow_noopener_and_markdown_renders():
    html = render("**bold** and [docs](https://example.org/a?b=1)")
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org/a?b=1"' in html and 'rel="nofollow noopener"' in html


def thread(client, proposal) -> dict:
    response = client.get(f"/api/v1/proposals/{proposal.pk}/comments")
    assert response.status_code == 200
    return response.json()


def test_a_non_member_cannot_comment_403_on_the_api_and_the_page(client):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    sign_in(client, MALLORY)
    response = client.post(
        f"/api/v1/proposals/{proposal.pk}/comments", {"body": "spam"}, content_type="application/json"
    )
    assert response.status_code == 403 and response.json()["error"] == "not_member"
    assert client.post(f"/proposals/{proposal.pk}/comments", {"body": "spam"}).status_code == 403
    assert not ProposalComment.objects.exists()


def test_members_comment_and_reply_one_level_and_everyone_reads(client):
    idao = make_idao(members=[BOB, CAROL])
    proposal = make_proposal(idao)
    sign_in(client, BOB)
    top = client.post(
        f"/api/v1/proposals/{proposal.pk}/comments",
        {"body": "I *support* this <script>alert(1)</script>"},
        content_type="application/json",
    )
    assert top.status_code == 201
    top_id = top.json()["id"]
    reply = comments.comment_post(proposal_id=proposal.pk, author=user_of(CAROL), body="Why?", parent_id=top_id)
    deeper = comments.comment_post(proposal_id=proposal.pk, author=user_of(BOB), body="Because.", parent_id=reply.pk)
    assert deeper.parent_id == top_id  # a reply to a reply joins the same thread
    client.logout()
    data = thread(client, proposal)
    assert data["count"] == 3 and len(data["items"]) == 1
    assert [r["body"] for r in data["items"][0]["replies"]] == ["Why?", "Because."]
    assert "<em>support</em>" in data["items"][0]["html"] and "<script" not in data["items"][0]["html"]
    page = client.get(f"/proposals/{proposal.pk}").content.decode()
    assert "<em>support</em>" in page and "<script>alert(1)" not in page
    listing = client.get(f"/idaos/{idao.slug}/proposals/").content.decode()
    assert 'data-testid="comment-count">3<' in listing


def test_edits_are_allowed_to_the_author_within_ten_minutes():
    idao = make_idao(members=[BOB, CAROL])
    proposal = make_proposal(idao)
    now = timezone.now()
    comment = comments.comment_post(proposal_id=proposal.pk, author=user_of(BOB), body="typo", now=now)
    with pytest.raises(Forbidden):
        comments.comment_edit(comment_id=comment.pk, author=user_of(CAROL), body="mine now", now=now)
    edited = comments.comment_edit(
        comment_id=comment.pk, author=user_of(BOB), body="fixed", now=now + timedelta(minutes=9)
    )
    assert edited.body == "fixed" and edited.edited_at is not None
    with pytest.raises(Conflict) as late:
        comments.comment_edit(comment_id=comment.pk, author=user_of(BOB), body="later", now=now + timedelta(minutes=11))
    assert late.value.code == "comment_not_editable"


def test_hidden_comments_show_the_reason_to_all_and_the_text_to_staff_only(client):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    comment = comments.comment_post(proposal_id=proposal.pk, author=user_of(BOB), body="buy my token at scam.example")
    with pytest.raises(NotSteward):
        comments.comment_hide(comment_id=comment.pk, steward=user_of(BOB), reason="nope")
    sign_in(client, ALICE)  # the founder is a steward
    response = client.post(
        f"/api/v1/comments/{comment.pk}/hide", {"reason": "advertising"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["hidden_reason"] == "advertising"
    assert Leaf.objects.filter(kind="idao.comment.hidden", subject=f"comment:{comment.pk}").count() == 1
    client.logout()
    public = thread(client, proposal)["items"][0]
    assert public["hidden"] and public["body"] is None and public["hidden_reason"] == "advertising"
    assert "scam.example" not in client.get(f"/proposals/{proposal.pk}").content.decode()
    staff = user_of(CAROL)
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    sign_in(client, CAROL)
    seen = thread(client, proposal)["items"][0]
    assert seen["body"] == "buy my token at scam.example" and seen["hidden_reason"] == "advertising"
    page = client.get(f"/proposals/{proposal.pk}").content.decode()
    assert "scam.example" in page and "Hidden by a steward: advertising" in page


def test_comment_rate_limit_answers_429(client, settings):
    settings.IDAOS_COMMENTS_PER_MINUTE = 2
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    sign_in(client, BOB)
    url = f"/api/v1/proposals/{proposal.pk}/comments"
    for _ in range(2):
        assert client.post(url, {"body": "hi"}, content_type="application/json").status_code == 201
    response = client.post(url, {"body": "hi"}, content_type="application/json")
    assert response.status_code == 429 and response.json()["error"] == "rate_limited"
    assert ProposalComment.objects.count() == 2


def test_the_author_links_an_external_discussion(client):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    sign_in(client, ALICE)
    url = f"/api/v1/proposals/{proposal.pk}/discussion"
    bad = client.put(url, {"url": "javascript:alert(1)"}, content_type="application/json")
    assert bad.status_code == 422
    ok = client.put(url, {"url": "https://forum.example/t/42"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["discussion_url"] == "https://forum.example/t/42"
    page = client.get(f"/proposals/{proposal.pk}").content.decode()
    assert 'href="https://forum.example/t/42" rel="nofollow noopener"' in page
