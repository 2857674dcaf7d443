"""Bonding and unbonding: LAZ moves between a validator's account and the quorum's escrow.

Every function is one transaction; LAZ moves only through ledger.services with keys derived from
the business event (`bond:<id>`, `unbond:<id>`)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from ledger import owners
from ledger import services as ledger
from ledger.models import Asset
from ledger.models import Kind as LedgerKind

from ..errors import BondTooSmall, QuorumPaused, ValidatorNotActive
from ..models import Bond, FraudCase, Validator, ValidatorState
from ..selectors import quorum_get


def validator_bond(*, quorum_id: int, user: Any, amount: int) -> Validator:
    """Bond LAZ into the quorum's escrow; the first bond (at least min_bond) makes the user a validator."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BondTooSmall("Bond a positive whole amount of LAZ (smallest unit).")
    with transaction.atomic():
        quorum = quorum_get(quorum_id)
        if quorum.paused:
            raise QuorumPaused(f"Quorum {quorum.name} is paused and takes no new bonds.")
        validator, _ = Validator.objects.select_for_update().get_or_create(
            quorum=quorum, user=user, defaults={"address": user.address}
        )
        if validator.state == ValidatorState.REMOVED:
            raise ValidatorNotActive("This validator was removed from the quorum and cannot bond again.")
        if int(validator.stake) + amount < int(quorum.min_bond):
            raise BondTooSmall(f"Quorum {quorum.name} needs a bond of at least {quorum.min_bond} LAZ in total.")
        bond = Bond.objects.create(validator=validator, kind=Bond.Kind.BOND, amount=amount)
        ledger.transfer(
            source=owners.user(user.address),
            destination=owners.escrow(quorum.pk),
            asset=Asset.LAZ,
            amount=amount,
            kind=LedgerKind.BOND,
            idempotency_key=f"bond:{bond.pk}",
            memo=f"Bond into quorum {quorum.pk}",
        )
        Validator.objects.filter(pk=validator.pk).update(stake=F("stake") + amount)
        validator.refresh_from_db()
        return validator


def validator_unbond(*, quorum_id: int, user: Any, amount: int) -> Bond:
    """Request an unbond: the stake stops counting for new committees now; the LAZ returns after
    the quorum's delay, and stays slashable until then (quorums.services.slashing)."""
    with transaction.atomic():
        quorum = quorum_get(quorum_id)
        validator = Validator.objects.select_for_update().filter(quorum=quorum, user=user).first()
        if validator is None:
            raise ValidatorNotActive("You are not a validator of this quorum.")
        if not isinstance(amount, int) or amount <= 0 or amount > int(validator.stake):
            raise BondTooSmall(f"Unbond between 1 and your stake ({validator.stake}) LAZ.")
        Validator.objects.filter(pk=validator.pk).update(stake=F("stake") - amount)
        bond = Bond.objects.create(validator=validator, kind=Bond.Kind.UNBOND, amount=amount)
        Bond.objects.filter(pk=bond.pk).update(available_at=Now() + quorum.unbond_delay)
        bond.refresh_from_db()
        return bond


def unbonds_release_due() -> int:
    """Return matured unbonds from escrow (database time decides maturity), minus what slashes
    took from them. Frozen: the unbonds of a jailed validator, and of any validator with an
    open fraud case, until staff decide (unjail, remove, decide the case). Safe to run twice."""
    released = 0
    for bond_id in _releasable().values_list("pk", flat=True):
        with transaction.atomic():
            bond = _releasable().select_for_update(of=("self",)).select_related("validator").filter(pk=bond_id).first()
            if bond is None:
                continue
            amount = int(bond.amount) - int(bond.slashed)
            if amount > 0:
                ledger.transfer(
                    source=owners.escrow(bond.validator.quorum_id),
                    destination=owners.user(bond.validator.address),
                    asset=Asset.LAZ,
                    amount=amount,
                    kind=LedgerKind.UNBOND,
                    idempotency_key=f"unbond:{bond.pk}",
                )
            Bond.objects.filter(pk=bond.pk).update(released_at=timezone.now())
            released += 1
    return released


def _releasable() -> QuerySet[Bond]:
    open_cases = FraudCase.objects.filter(validator_id=OuterRef("validator_id"), state=FraudCase.State.OPEN)
    return (
        Bond.objects.filter(kind=Bond.Kind.UNBOND, released_at__isnull=True, available_at__lte=Now())
        .exclude(validator__state=ValidatorState.JAILED)
        .exclude(Exists(open_cases))
    )


def demo_accounts(*, count: int = 3, seed: int = 0x5EED) -> list[Any]:
    """Deterministic (publicly derivable, so demo-only) validator keys."""
    from eth_account import Account

    return [Account.from_key((seed * 1000 + i + 1).to_bytes(32, "big")) for i in range(count)]


def demo_validators(*, quorum_id: int, count: int = 3, stake: int = 1000, seed: int = 0x5EED) -> list[Any]:
    """Create `count` demo validator accounts, fund and bond them into the quorum (once); returns
    eth_account LocalAccounts (manage.py run_validator --demo writes their keys for the nodes). Demo data only."""
    from portal.models import User

    accounts = demo_accounts(count=count, seed=seed)
    for i, account in enumerate(accounts):
        user, _ = User.objects.get_or_create(
            address=account.address, defaults={"display_name": f"Demo validator {i + 1}"}
        )
        if not Validator.objects.filter(quorum_id=quorum_id, user=user).exists():
            ledger.mint(
                to=owners.user(user.address),
                asset=Asset.LAZ,
                amount=stake,
                idempotency_key=f"demo-validator-fund:{quorum_id}:{account.address}",
            )
            validator_bond(quorum_id=quorum_id, user=user, amount=stake)
    return accounts
