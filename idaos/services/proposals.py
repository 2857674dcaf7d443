"""Proposal lifecycle: draft → pending → active → passed | rejected | quorum_not_met →
executed | execution_failed, or cancelled by the author before any vote.

Activation and closing claim their work with a conditional UPDATE (state = … AND time reached),
so Celery beat may run them any number of times: the first run does the work, later runs
change nothing."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from ledger import owners
from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from portal.errors import DomainError
from portal.events import emit, emit_many
from portal.models import User

from .. import delegation, selectors, tally
from ..errors import Conflict, Forbidden, InvalidInput, NotMember, RateLimited
from ..models import (
    IDAO,
    Ballot,
    DelegationShare,
    Membership,
    MembershipStatus,
    Proposal,
    ProposalState,
    VotingPower,
)
from ..rules import TREASURY_KINDS
from ..selectors import counted_rows, live_tally
from . import actions
from .ballots import proposal_lock

log = logging.getLogger(__name__)


def max_active_per_author() -> int:
    return getattr(settings, "IDAOS_MAX_ACTIVE_PROPOSALS_PER_AUTHOR", 5)


def max_daily_per_idao() -> int:
    return getattr(settings, "IDAOS_MAX_DAILY_PROPOSALS_PER_IDAO", 20)


OPEN_STATES = (ProposalState.PENDING, ProposalState.ACTIVE)


def _check_may_propose(idao: IDAO, author: User, now: datetime) -> None:
    membership = Membership.objects.filter(idao=idao, user=author, status=MembershipStatus.ACTIVE).first()
    if membership is None:
        raise NotMember(f"Only members of {idao.name} may make proposals.")
    age = now - (membership.joined_at or now)
    if age < idao.proposal_min_membership_age:
        raise Forbidden(
            f"The charter lets members propose after {idao.proposal_min_membership_age} of membership; "
            f"you joined {age} ago.",
            code="proposal_threshold",
        )
    if idao.proposal_min_stake:
        stake = ledger_selectors.balance(owners.user(author.address), "LAZ")
        if stake < int(idao.proposal_min_stake):
            raise Forbidden(
                f"The charter requires {int(idao.proposal_min_stake)} LAZ base units to propose; you hold {stake}.",
                code="proposal_threshold",
            )


def _check_limits(idao: IDAO, author: User, now: datetime) -> None:
    limit = max_active_per_author()
    if Proposal.objects.filter(idao=idao, author=author, state__in=OPEN_STATES).count() >= limit:
        raise RateLimited(
            f"Limit reached: at most {limit} open proposals per author in an iDAO; wait for one to close.",
            code="active_proposal_limit",
        )
    daily = max_daily_per_idao()
    if Proposal.objects.filter(idao=idao, submitted_at__gt=now - timedelta(days=1)).count() >= daily:
        raise RateLimited(
            f"Limit reached: at most {daily} proposals per iDAO in 24 hours; try again later.",
            code="daily_proposal_limit",
        )


def _submit(proposal: Proposal, idao: IDAO, now: datetime) -> None:
    proposal.state = ProposalState.PENDING
    proposal.submitted_at = now
    proposal.voting_starts_at = now + idao.voting_delay
    proposal.voting_ends_at = proposal.voting_starts_at + idao.voting_period
    proposal.save(update_fields=["state", "submitted_at", "voting_starts_at", "voting_ends_at"])
    emit(
        kind="proposal.submitted",
        idao=idao,
        subject=f"proposal:{proposal.pk}",
        actor=proposal.author_id,
        payload={"title": proposal.title},
    )
    if idao.voting_delay <= timedelta(0):
        _activate(proposal, idao, now)


def _live_delegations(idao: IDAO, now: datetime) -> list[tuple[str, list[tuple[str, int]], int]]:
    """(delegator, [(delegate, bps)]) of every live delegation that applies to this iDAO, the most
    specific scope per delegator (idao > domain > global), earliest delegation first: one query."""
    rank = {f"idao:{idao.slug}": 0, f"domain:{idao.domain}": 1, "global": 2}
    rows = (
        DelegationShare.objects.filter(
            delegation__ended_at=None, delegation__expires_at__gt=now, delegation__scope__in=list(rank)
        )
        .order_by("delegation__created_at", "delegation_id", "id")
        .values_list("delegation_id", "delegation__delegator", "delegation__scope", "delegate", "bps")
    )
    best: dict[str, tuple[int, int]] = {}
    shares: dict[int, list[tuple[str, int]]] = {}
    order: list[int] = []
    for delegation_id, delegator, scope, delegate, bps in rows:
        if delegation_id not in shares:
            shares[delegation_id] = []
            order.append(delegation_id)
            if delegator not in best or rank[scope] < best[delegator][0]:
                best[delegator] = (rank[scope], delegation_id)
        shares[delegation_id].append((delegate, bps))
    chosen = {delegation_id: delegator for delegator, (_, delegation_id) in best.items()}
    return [(chosen[i], shares[i], i) for i in order if i in chosen]


def _activate(proposal: Proposal, idao: IDAO, now: datetime) -> None:
    """Snapshot every active member's voting power; later joiners and later LAZ do not count.
    Live delegations resolve into the snapshot here (idaos.delegation.resolve)."""
    addresses = list(
        Membership.objects.filter(idao=idao, status=MembershipStatus.ACTIVE, joined_at__lte=now)
        .order_by("id")
        .values_list("user__address", flat=True)
    )
    rule = idao.voting_rule
    balances = (
        ledger_selectors.balances([owners.user(a) for a in addresses], "LAZ") if rule != "one_member_one_vote" else {}
    )
    weights = {}
    balance_of = {}
    for address in addresses:
        balance_of[address] = balances.get(owners.user(address), 0) if balances else 0
        weights[address] = tally.weight_for(rule, balance_of[address])
    cap = -(-len(addresses) * idao.delegation_cap_bps // 10000) if rule == "one_member_one_vote" else None
    live = _live_delegations(idao, now)
    applied = {delegator: delegation_id for delegator, _, delegation_id in live}
    resolution = delegation.resolve(weights=weights, delegations=[(d, s) for d, s, _ in live], cap=cap)
    received = resolution.received()
    rows = []
    for address in addresses:
        got = received.get(address, [])
        flows = resolution.flows.get(address, [])
        rows.append(
            VotingPower(
                proposal=proposal,
                voter=address,
                balance=balance_of[address],
                weight=weights[address],
                delegated=sum(a for _, _, a in got),
                delegated_from=[{"from": o, "via": list(v), "amount": str(a)} for o, v, a in got],
                delegated_out=sum(a for _, a in flows),
                flows=[{"via": list(v), "amount": str(a)} for v, a in flows],
                delegation_id=applied.get(address),
            )
        )
    VotingPower.objects.bulk_create(rows, batch_size=1000)
    proposal.state = ProposalState.ACTIVE
    proposal.activated_at = now
    proposal.voting_rule = rule
    proposal.quorum_bps = idao.quorum_bps
    proposal.approval_threshold_bps = idao.approval_threshold_bps
    proposal.eligible_power = sum(weights.values())
    proposal.delegation_cap = cap
    proposal.save(
        update_fields=[
            "state",
            "activated_at",
            "voting_rule",
            "quorum_bps",
            "approval_threshold_bps",
            "eligible_power",
            "delegation_cap",
        ]
    )
    emit(
        kind="proposal.voting_opened",
        idao=idao,
        subject=f"proposal:{proposal.pk}",
        payload={
            "title": proposal.title,
            "voting_ends_at": proposal.voting_ends_at.isoformat() if proposal.voting_ends_at else None,
        },
    )


def proposal_validate(*, idao: IDAO, kind: str, payload: Any) -> dict:
    """The payload `proposal_create` would store for this kind, or the DomainError it would raise
    (the builder's preview; nothing is written)."""
    if not isinstance(kind, str) or not kind:
        raise InvalidInput("kind names the proposal's action.")
    return actions.validate(idao, kind, payload if payload is not None else {})


def proposal_create(
    *,
    idao: IDAO,
    author: User,
    kind: str,
    title: str,
    description: str = "",
    payload: dict | None = None,
    submit: bool = True,
    now: datetime | None = None,
) -> Proposal:
    """Create a proposal with a validated payload, as a draft or submitted straight away."""
    now = now or timezone.now()
    title = (title or "").strip()
    if not 1 <= len(title) <= 200:
        raise InvalidInput("The title is 1-200 characters.")
    if len(description or "") > 20000:
        raise InvalidInput("The description is at most 20,000 characters.")
    if not isinstance(kind, str) or not kind:
        raise InvalidInput("kind names the proposal's action.")
    cleaned = actions.validate(idao, kind, payload if payload is not None else {})
    with transaction.atomic():
        # One proposal at a time per iDAO, so the spam limits cannot be raced past.
        locked = IDAO.objects.select_for_update().get(pk=idao.pk)
        _check_may_propose(locked, author, now)
        if submit:
            _check_limits(locked, author, now)
        proposal = Proposal.objects.create(
            idao=locked,
            author=author,
            kind=kind,
            title=title,
            description=description or "",
            payload=cleaned,
            created_at=now,
        )
        if submit:
            _submit(proposal, locked, now)
    return proposal


def proposal_submit(*, proposal_id: int, author: User, now: datetime | None = None) -> Proposal:
    now = now or timezone.now()
    with transaction.atomic():
        proposal = Proposal.objects.select_related("idao").get(pk=proposal_id)
        idao = IDAO.objects.select_for_update().get(pk=proposal.idao_id)
        proposal = Proposal.objects.select_for_update().get(pk=proposal_id)
        if proposal.author_id != author.pk:
            raise Forbidden("Only the author may submit this proposal.", code="not_author")
        if proposal.state != ProposalState.DRAFT:
            raise Conflict("Only a draft can be submitted.", code="not_draft")
        _check_may_propose(idao, author, now)
        _check_limits(idao, author, now)
        # Objects may have changed since the draft was written: validate again.
        proposal.payload = actions.validate(idao, proposal.kind, proposal.payload)
        proposal.save(update_fields=["payload"])
        _submit(proposal, idao, now)
    return proposal


def proposal_cancel(*, proposal_id: int, author: User) -> Proposal:
    """The author withdraws a proposal nobody has voted on yet."""
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(pk=proposal_id)
        if proposal.author_id != author.pk:
            raise Forbidden("Only the author may cancel this proposal.", code="not_author")
        if proposal.state not in (ProposalState.DRAFT, *OPEN_STATES):
            raise Conflict(f"A {proposal.state} proposal cannot be cancelled.", code="not_cancellable")
        if Ballot.objects.filter(proposal=proposal).exists():
            raise Conflict("Members have already voted; the proposal can no longer be cancelled.", code="has_votes")
        proposal.state = ProposalState.CANCELLED
        proposal.closed_at = timezone.now()
        proposal.save(update_fields=["state", "closed_at"])
    return proposal


def proposal_activate(*, proposal_id: int, now: datetime | None = None) -> bool:
    """Open voting if the delay has passed; False when there was nothing to do."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            Proposal.objects.filter(pk=proposal_id, state=ProposalState.PENDING, voting_starts_at__lte=now)
            .select_for_update(skip_locked=True)
            .first()
        )
        if claimed is None:
            return False
        idao = IDAO.objects.get(pk=claimed.idao_id)
        _activate(claimed, idao, now)
    return True


def _emit_delegated_votes(proposal: Proposal) -> None:
    """Tell each delegator who did not vote which delegates' ballots carried their power."""
    carried = selectors.delegated_votes(proposal)
    users = dict(User.objects.filter(address__in=list(carried)).values_list("address", "pk"))
    emit_many(
        [
            {
                "kind": "delegate.voted",
                "idao": proposal.idao_id,
                "subject": f"proposal:{proposal.pk}",
                "payload": {"title": proposal.title, "votes": votes},
                "recipients": [users[origin]],
            }
            for origin, votes in sorted(carried.items())
            if origin in users
        ]
    )


def proposal_close(*, proposal_id: int, now: datetime | None = None) -> bool:
    """Close voting at the deadline: tally, anchor the result with the ballots' Merkle root and,
    if passed, execute the action and anchor the execution, all in one transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        # Wait for in-flight ballots (they hold the proposal's lock shared) and keep new ones out;
        # then the claim: only one closer's conditional UPDATE finds the proposal still active.
        proposal_lock(proposal_id, shared=False)
        claimed = Proposal.objects.filter(pk=proposal_id, state=ProposalState.ACTIVE, voting_ends_at__lte=now).update(
            state=ProposalState.REJECTED, closed_at=now
        )
        if not claimed:
            return False
        proposal = Proposal.objects.select_related("idao").get(pk=proposal_id)
        result = live_tally(proposal)
        root = tally.ballots_root(counted_rows(proposal))
        proposal.tally = result
        proposal.ballots_root = root
        proposal.state = result["outcome"]
        subject = f"proposal:{proposal.pk}"
        leaf = ledger_services.anchor(
            kind="idao.proposal.result",
            subject=subject,
            payload={
                "idao": proposal.idao.slug,
                "proposal": proposal.pk,
                "kind": proposal.kind,
                "payload": proposal.payload,
                "voting_rule": proposal.voting_rule,
                "tally": result,
                "ballots_root": root,
                "closed_at": now.isoformat(),
            },
        )
        proposal.result_leaf_id = leaf.id
        if proposal.state == ProposalState.PASSED:
            delay = proposal.idao.execution_delay
            if proposal.kind in TREASURY_KINDS and delay > timedelta(0):
                # The timelock: proposal_execute_due runs it once the delay has passed.
                proposal.execute_after = now + delay
            else:
                _execute(proposal, now)
        proposal.save(
            update_fields=[
                "tally",
                "ballots_root",
                "state",
                "result_leaf_id",
                "execution_leaf_id",
                "execution_result",
                "execution_error",
                "executed_at",
                "execute_after",
            ]
        )
        emit(
            kind="proposal.passed" if result["outcome"] == ProposalState.PASSED else "proposal.rejected",
            idao=proposal.idao_id,
            subject=subject,
            payload={"title": proposal.title, "outcome": result["outcome"]},
        )
        if proposal.state in (ProposalState.EXECUTED, ProposalState.EXECUTION_FAILED):
            emit(
                kind="proposal.executed" if proposal.state == ProposalState.EXECUTED else "proposal.failed",
                idao=proposal.idao_id,
                subject=subject,
                payload={"title": proposal.title, "error": proposal.execution_error},
            )
        _emit_delegated_votes(proposal)
    return True


def proposal_execute_due(*, proposal_id: int) -> bool:
    """Execute a passed proposal whose timelock has ended, judged by the database's clock. The
    claim is the row lock on a still-passed proposal: a second run finds it executed (or failed)
    and does nothing. False when there was nothing to do."""
    with transaction.atomic():
        proposal = (
            Proposal.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("idao")
            .filter(pk=proposal_id, state=ProposalState.PASSED, execute_after__lte=Now())
            .first()
        )
        if proposal is None:
            return False
        _execute(proposal, timezone.now())
        proposal.save(
            update_fields=["state", "execution_leaf_id", "execution_result", "execution_error", "executed_at"]
        )
        emit(
            kind="proposal.executed" if proposal.state == ProposalState.EXECUTED else "proposal.failed",
            idao=proposal.idao_id,
            subject=f"proposal:{proposal.pk}",
            payload={"title": proposal.title, "error": proposal.execution_error},
        )
    return True


def _execute(proposal: Proposal, now: datetime) -> None:
    try:
        with transaction.atomic():
            outcome = actions.execute(proposal)
    except DomainError as exc:
        proposal.state = ProposalState.EXECUTION_FAILED
        proposal.execution_error = f"{exc.code}: {exc.detail}"
        outcome = {}
    except Exception as exc:  # a downstream handler's bug must not leave the proposal unclosed
        log.exception("executing proposal %s failed", proposal.pk)
        proposal.state = ProposalState.EXECUTION_FAILED
        proposal.execution_error = f"{type(exc).__name__}: {exc}"[:2000]
        outcome = {}
    else:
        proposal.state = ProposalState.EXECUTED
        proposal.executed_at = now
    proposal.execution_result = outcome
    leaf = ledger_services.anchor(
        kind="idao.proposal.execution",
        subject=f"proposal:{proposal.pk}",
        payload={
            "idao": proposal.idao.slug,
            "proposal": proposal.pk,
            "kind": proposal.kind,
            "state": proposal.state,
            "result": outcome,
            "error": proposal.execution_error,
            "at": now.isoformat(),
        },
    )
    proposal.execution_leaf_id = leaf.id
