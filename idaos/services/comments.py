"""The discussion thread of a proposal: members comment (everyone reads), one level of replies,
edits within 10 minutes, steward moderation (hide with a reason, anchored), rate limits."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledger import services as ledger_services
from portal.models import User

from ..errors import Conflict, Forbidden, InvalidInput, NotFound, NotMember, NotSteward, RateLimited
from ..models import Membership, MembershipStatus, Proposal, ProposalState, Role
from ..models_treasury import ProposalComment

EDIT_WINDOW = timedelta(minutes=10)
MAX_BODY = 10_000


def _limits() -> tuple[int, int]:
    """(comments per minute, comments per hour) one member may post across the portal."""
    return (
        getattr(settings, "IDAOS_COMMENTS_PER_MINUTE", 5),
        getattr(settings, "IDAOS_COMMENTS_PER_HOUR", 60),
    )


def _body(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Write something: a comment is 1 to 10,000 characters of Markdown.")
    if len(text) > MAX_BODY:
        raise InvalidInput(f"A comment is at most {MAX_BODY:,} characters.")
    return text.strip()


def _active(idao_id: int, user: User, *, steward: bool = False) -> bool:
    qs = Membership.objects.filter(idao_id=idao_id, user=user, status=MembershipStatus.ACTIVE)
    return (qs.filter(role=Role.STEWARD) if steward else qs).exists()


def comment_post(
    *, proposal_id: int, author: User, body: str, parent_id: int | None = None, now: datetime | None = None
) -> ProposalComment:
    """A member comments on a (submitted) proposal of their iDAO; a reply to a reply joins the
    same thread (one level)."""
    now = now or timezone.now()
    text = _body(body)
    proposal = Proposal.objects.filter(pk=proposal_id).exclude(state=ProposalState.DRAFT).first()
    if proposal is None:
        raise NotFound("There is no such proposal.", code="proposal_not_found")
    if not _active(proposal.idao_id, author):
        raise NotMember("Only members of the iDAO may comment on its proposals.")
    parent = None
    if parent_id is not None:
        parent = ProposalComment.objects.filter(pk=parent_id, proposal=proposal).first()
        if parent is None:
            raise NotFound("There is no such comment on this proposal.", code="comment_not_found")
        if parent.parent_id is not None:
            parent = parent.parent
    per_minute, per_hour = _limits()
    with transaction.atomic():
        # One author's comments queue on their user row, so the limits cannot be raced past.
        User.objects.select_for_update().filter(pk=author.pk).first()
        recent = ProposalComment.objects.filter(author=author, created_at__gt=now - timedelta(hours=1))
        if recent.filter(created_at__gt=now - timedelta(minutes=1)).count() >= per_minute or recent.count() >= per_hour:
            raise RateLimited(
                f"At most {per_minute} comments a minute and {per_hour} an hour; wait a little.", code="rate_limited"
            )
        return ProposalComment.objects.create(
            proposal=proposal, parent=parent, author=author, body=text, created_at=now
        )


def comment_edit(*, comment_id: int, author: User, body: str, now: datetime | None = None) -> ProposalComment:
    now = now or timezone.now()
    text = _body(body)
    with transaction.atomic():
        comment = ProposalComment.objects.select_for_update().filter(pk=comment_id).first()
        if comment is None:
            raise NotFound("There is no such comment.", code="comment_not_found")
        if comment.author_id != author.pk:
            raise Forbidden("Only the author may edit a comment.", code="not_author")
        if comment.hidden_at is not None or now - comment.created_at > EDIT_WINDOW:
            raise Conflict(
                "A comment can be edited within 10 minutes of posting, unless a steward hid it.",
                code="comment_not_editable",
            )
        comment.body = text
        comment.edited_at = now
        comment.save(update_fields=["body", "edited_at"])
    return comment


def comment_hide(*, comment_id: int, steward: User, reason: str, now: datetime | None = None) -> ProposalComment:
    """A steward hides a comment with a published reason; the moderation is anchored. Staff still
    see the text with the reason."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise InvalidInput("Write the reason for hiding the comment (3 to 500 characters); it is published.")
    with transaction.atomic():
        comment = (
            ProposalComment.objects.select_for_update(of=("self",))
            .select_related("proposal__idao")
            .filter(pk=comment_id)
            .first()
        )
        if comment is None:
            raise NotFound("There is no such comment.", code="comment_not_found")
        idao = comment.proposal.idao
        if not _active(idao.pk, steward, steward=True):
            raise NotSteward(f"Only stewards of {idao.name} may hide comments.")
        if comment.hidden_at is not None:
            return comment
        leaf = ledger_services.anchor(
            kind="idao.comment.hidden",
            subject=f"comment:{comment.pk}",
            payload={
                "idao": idao.slug,
                "proposal": comment.proposal_id,
                "comment": comment.pk,
                "steward": steward.address,
                "reason": reason,
                "at": now.isoformat(),
            },
        )
        comment.hidden_at, comment.hidden_by, comment.hidden_reason = now, steward, reason
        comment.hidden_leaf_id = leaf.pk
        comment.save(update_fields=["hidden_at", "hidden_by", "hidden_reason", "hidden_leaf_id"])
    return comment


def discussion_url_set(*, proposal_id: int, author: User, url: str) -> Proposal:
    """The author links an external discussion (a forum thread); an empty url removes the link."""
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    url = (url or "").strip()
    if url:
        try:
            URLValidator(schemes=["https", "http"])(url)
        except ValidationError:
            raise InvalidInput("The discussion link is an http(s) URL of at most 500 characters.") from None
        if len(url) > 500:
            raise InvalidInput("The discussion link is an http(s) URL of at most 500 characters.")
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(pk=proposal_id)
        if proposal.author_id != author.pk:
            raise Forbidden("Only the author may link a discussion.", code="not_author")
        proposal.discussion_url = url
        proposal.save(update_fields=["discussion_url"])
    return proposal
