"""Celery tasks: thin, take ids, safe to run twice (the services claim work with conditional
updates, so a repeated or concurrent run changes nothing)."""

from __future__ import annotations

from celery import shared_task

from . import selectors
from .services import ballots, proposals


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def activate_proposal(proposal_id: int) -> bool:
    return proposals.proposal_activate(proposal_id=proposal_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def close_proposal(proposal_id: int) -> bool:
    return proposals.proposal_close(proposal_id=proposal_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance_proposals() -> dict[str, int]:
    """Beat: open proposals whose delay has passed and close those whose period has ended. Each
    proposal is handled in its own transaction, so one failure does not hold back the others."""
    to_activate, to_close = selectors.proposals_due()
    activated = sum(1 for pk in to_activate if proposals.proposal_activate(proposal_id=pk))
    closed = sum(1 for pk in to_close if proposals.proposal_close(proposal_id=pk))
    return {"activated": activated, "closed": closed}


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_timelocked_proposals() -> int:
    """Beat: execute passed treasury proposals whose timelock has ended (each in its own
    transaction; a proposal already executed is skipped, so a repeated run moves nothing)."""
    return sum(1 for pk in selectors.proposals_timelock_due() if proposals.proposal_execute_due(proposal_id=pk))


@shared_task(ignore_result=True)
def demo_proposal_renew() -> int | None:
    """Beat, while the demo is on (PORTAL_DEMO_PROPOSALS): keep one demo proposal open."""
    from .demo import proposal_renew

    proposal = proposal_renew()
    return proposal.pk if proposal else None


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recheck_pending_ballots() -> dict[str, int]:
    """Beat: ask the chain whether the contract wallets of pending ballots (signature "0x", a
    Safe approving on chain) accept them now; count those that do, until their proposal closes."""
    return ballots.pending_ballots_recheck()
