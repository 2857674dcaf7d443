"""Every event kind the portal emits, its label, who receives it when the emitter names nobody,
and where a notification about it links to."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import NoReverseMatch, reverse

from idaos.models import Membership, MembershipStatus, Role
from portal.models import Event

KINDS: dict[str, str] = {
    "proposal.submitted": "A proposal was submitted",
    "proposal.voting_opened": "Voting opened on a proposal",
    "proposal.closes_24h": "Voting closes in 24 hours",
    "proposal.closes_1h": "Voting closes in 1 hour",
    "proposal.passed": "A proposal passed",
    "proposal.rejected": "A proposal was rejected",
    "proposal.executed": "A proposal was executed",
    "proposal.failed": "A proposal's execution failed",
    "proposal.vetoed": "A steward vetoed a passed proposal in its timelock",
    "membership.requested": "Someone asked to join an iDAO you steward",
    "membership.approved": "Your membership was approved",
    "membership.denied": "Your membership was denied",
    "contribution.routed": "Your contribution was routed to a quorum",
    "contribution.accepted": "Your contribution was accepted (a DAT was minted)",
    "contribution.rejected": "Your contribution was rejected",
    "validator.drawn": "You were drawn onto a validation round",
    "round.expiring": "A round expires soon without your verdict",
    "validator.slashed": "You were slashed",
    "validator.jailed": "You were jailed",
    "dat.access_granted": "DAT access granted",
    "dat.access_denied": "DAT access denied",
    "dat.policy_changed": "A DAT's policy changed",
    "dat.revoked": "A DAT was revoked",
    "dat.transferred": "A DAT was transferred",
    "dat.parents_added": "Parents were declared for a DAT",
    "dat.challenged": "Your DAT was challenged",
    "dat.challenge_decided": "A DAT challenge was decided",
    "appeal.filed": "A validation decision was appealed",
    "appeal.decided": "Your appeal was decided",
    "payout.received": "You received an epoch payout",
    "quorum.moderation": "A moderation action on a quorum you validate for",
    "delegate.voted": "Your delegate voted on your behalf",
    "delegation.expiring": "Your delegation expires soon",
    "webhook.disabled": "Your webhook was disabled after repeated failures",
    "webhook.test": "A test event",
}

MEMBER_KINDS = frozenset(k for k in KINDS if k.startswith("proposal."))
STEWARD_KINDS = frozenset({"membership.requested"})


def resolve_recipients(event: Event) -> list[int]:
    """The user ids an event reaches: the ones its emitter named, else by kind."""
    if event.recipients is not None:
        return list(event.recipients)
    if event.idao_id is None:
        return []
    members = Membership.objects.filter(idao_id=event.idao_id, status=MembershipStatus.ACTIVE)
    if event.kind in STEWARD_KINDS:
        members = members.filter(role=Role.STEWARD)
    elif event.kind not in MEMBER_KINDS:
        return []
    return list(members.order_by("user_id").values_list("user_id", flat=True))


LINKS: dict[str, Callable[[str], str]] = {
    "proposal": lambda ref: reverse("idaos:proposal", args=[int(ref)]),
    "dat": lambda ref: reverse("dats:dat_detail", args=[int(ref)]),
    "webhook": lambda ref: reverse("notifications:settings"),
    # "My delegations" (the delegation pages' branch); until it exists the inbox is the fallback
    "delegation": lambda ref: reverse("idaos:my_delegations"),
}


def link(event: Event) -> str:
    """The page a notification about this event opens (the payload's "url" wins)."""
    url = (event.payload or {}).get("url")
    if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
        return url
    prefix, _, ref = event.subject.partition(":")
    try:
        return LINKS[prefix](ref) if prefix in LINKS else reverse("notifications:inbox")
    except (NoReverseMatch, ValueError):
        return reverse("notifications:inbox")


def title(event: Event) -> str:
    text = (event.payload or {}).get("title")
    label = KINDS.get(event.kind, event.kind)
    return f"{label}: {text}" if isinstance(text, str) and text else label
