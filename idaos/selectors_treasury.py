"""Reads for the treasury page and API (balance, inflows by source, outflows by proposal or steward
grant, streams, proposals in their timelock) and for a proposal's discussion thread."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from ledger.models import Account, Asset, Balance, Posting

from .markdown import render
from .models import IDAO, Membership, MembershipStatus, Proposal, ProposalState, Role
from .models_treasury import ProposalComment, TreasuryStream

# Where money comes from, by ledger transaction kind (who pays the treasury uses these kinds:
# rewards' epoch close, dats' access fees, quorums' slashes).
INFLOW_SOURCES = {"reward": "Epoch share", "fee": "Access fees", "slash": "Slashes", "mint": "Minted"}
_PROPOSAL_KEY = re.compile(r"^idaos:proposal:(\d+):")
_STREAM_KEY = re.compile(r"^idaos:stream:(\d+):epoch:(\d+)$")
_GRANT_KEY = re.compile(r"^rewards:credit-grant:(\d+)$")
OUTFLOW_LIMIT = 100


def _outflow_source(key: str, streams: dict[int, int]) -> dict[str, Any]:
    """What spent the money: a proposal (transfer or stream payment) or a steward's grant."""
    if m := _PROPOSAL_KEY.match(key):
        return {"source": "proposal", "proposal": int(m.group(1)), "label": f"Proposal #{m.group(1)}"}
    if m := _STREAM_KEY.match(key):
        proposal = streams.get(int(m.group(1)))
        return {
            "source": "stream",
            "proposal": proposal,
            "label": f"Stream of proposal #{proposal}, epoch {m.group(2)}",
        }
    if _GRANT_KEY.match(key):
        return {"source": "steward_grant", "proposal": None, "label": "Steward grant"}
    return {"source": "other", "proposal": None, "label": "Other"}


def treasury_get(idao: IDAO) -> dict[str, Any]:
    """The treasury as the page and `GET /api/v1/idaos/{slug}/treasury` show it (amounts as ints)."""
    owner = idao.treasury_owner
    account = Account.objects.filter(owner=owner).first()
    balances = {asset: 0 for asset in Asset.values}
    inflows: list[dict[str, Any]] = []
    outflows: list[dict[str, Any]] = []
    if account is not None:
        for asset, amount in Balance.objects.filter(account=account).values_list("asset", "amount"):
            balances[asset] += int(amount)
        rows = (
            Posting.objects.filter(account=account, amount__gt=0)
            .values("transaction__kind", "asset")
            .annotate(total=Sum("amount"))
            .order_by("transaction__kind", "asset")
        )
        for row in rows:
            kind = row["transaction__kind"]
            inflows.append(
                {
                    "source": INFLOW_SOURCES.get(kind, "Transfers in"),
                    "kind": kind,
                    "asset": row["asset"],
                    "amount": int(row["total"]),
                }
            )
        streams = dict(TreasuryStream.objects.filter(idao=idao).values_list("pk", "proposal_id"))
        spent = (
            Posting.objects.filter(account=account, amount__lt=0)
            .select_related("transaction")
            .order_by("-id")[:OUTFLOW_LIMIT]
        )
        for p in spent:
            outflows.append(
                {
                    "ledger_tx": p.transaction_id,
                    "asset": p.asset,
                    "amount": -int(p.amount),
                    "memo": p.transaction.memo,
                    "at": p.transaction.created_at,
                    **_outflow_source(p.transaction.idempotency_key, streams),
                }
            )
    stream_rows = [
        {
            "proposal": s.proposal_id,
            "recipient": s.recipient,
            "asset": s.asset,
            "amount_per_epoch": int(s.amount),
            "epochs": s.epochs,
            "paid_epochs": s.paid_epochs,
            "live": s.live,
            "cancelled_by": s.cancelled_by_id,
        }
        for s in TreasuryStream.objects.filter(idao=idao).order_by("-id")[:100]
    ]
    waiting = [
        {"id": p.pk, "title": p.title, "kind": p.kind, "execute_after": p.execute_after}
        for p in Proposal.objects.filter(idao=idao, state=ProposalState.PASSED, execute_after__isnull=False).order_by(
            "execute_after"
        )
    ]
    return {
        "idao": idao.slug,
        "owner": owner,
        "has_account": account is not None,
        "balances": balances,
        "inflows": inflows,
        "outflows": outflows,
        "streams": stream_rows,
        "timelocked": waiting,
        "steward_spend_limit": idao.steward_spend_limit or {},
        "execution_delay_seconds": int(idao.execution_delay.total_seconds()),
        "guardian_veto": idao.guardian_veto,
    }


def viewer_role(proposal: Proposal, user: Any) -> str | None:
    """The viewer's active role in the proposal's iDAO (member or steward), None for others: one
    query a page can share between the timelock, the discussion and its forms."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Membership.objects.filter(idao_id=proposal.idao_id, user=user, status=MembershipStatus.ACTIVE)
        .values_list("role", flat=True)
        .first()
    )


def _is_steward(proposal: Proposal, user: Any, steward: bool | None) -> bool:
    return viewer_role(proposal, user) == Role.STEWARD if steward is None else steward


def timelock(proposal: Proposal, user: Any, *, steward: bool | None = None) -> dict[str, Any] | None:
    """The countdown of a passed proposal waiting to execute, and whether this viewer may veto it
    (`steward`: the viewer's role when the caller knows it already)."""
    if proposal.state != ProposalState.PASSED or proposal.execute_after is None:
        return None
    remaining = max(0, int((proposal.execute_after - timezone.now()).total_seconds()))
    may_veto = bool(proposal.idao.guardian_veto and remaining > 0 and _is_steward(proposal, user, steward))
    return {"execute_after": proposal.execute_after, "remaining_seconds": remaining, "may_veto": may_veto}


def _sees_hidden(proposal: Proposal, user: Any, steward: bool | None = None) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_staff) or _is_steward(proposal, user, steward)


def comment_dict(comment: ProposalComment, *, sees_hidden: bool, viewer_id: int | None = None) -> dict[str, Any]:
    """A comment for the page and the API: hidden ones show their body only to staff and stewards,
    and the moderation reason to everyone."""
    hidden = comment.hidden_at is not None
    shown = not hidden or sees_hidden
    return {
        "id": comment.pk,
        "proposal": comment.proposal_id,
        "parent": comment.parent_id,
        "author": comment.author.address,
        "body": comment.body if shown else None,
        "html": render(comment.body) if shown else None,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
        "hidden": hidden,
        "hidden_reason": comment.hidden_reason or None,
        "hidden_leaf_id": comment.hidden_leaf_id,
        "mine": viewer_id is not None and viewer_id == comment.author_id,
    }


def comment_thread(proposal: Proposal, user: Any, *, steward: bool | None = None) -> list[dict[str, Any]]:
    """Top-level comments oldest first, each with its replies (one level): two queries, one when
    the caller passes the viewer's role (`steward`)."""
    sees = _sees_hidden(proposal, user, steward)
    viewer = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    rows = list(ProposalComment.objects.filter(proposal=proposal).select_related("author").order_by("created_at", "id"))
    replies: dict[int, list[dict[str, Any]]] = {}
    for c in rows:
        if c.parent_id is not None:
            replies.setdefault(c.parent_id, []).append(comment_dict(c, sees_hidden=sees, viewer_id=viewer))
    return [
        {**comment_dict(c, sees_hidden=sees, viewer_id=viewer), "replies": replies.get(c.pk, [])}
        for c in rows
        if c.parent_id is None
    ]
