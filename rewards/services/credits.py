"""Compute credits: a steward moves CREDIT from the iDAO treasury to a member."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from idaos import selectors as idao_selectors
from idaos.models import IDAO
from idaos.rules import steward_limit_check
from ledger import owners
from ledger import services as ledger_services
from ledger.errors import IdempotencyKeyReused
from portal.models import User, checksum

from ..errors import InvalidGrant, NotMember, NotSteward
from ..models import CreditGrant
from .epochs import epoch_current

_KEY_RE = re.compile(r"^[!-~]{1,100}$")
MAX_GRANT = 10**30


def credit_grant(
    *, idao: IDAO, steward: User, member_address: str, amount: int, request_key: str, memo: str = ""
) -> CreditGrant:
    """A steward moves CREDIT from the iDAO treasury to an active member, to pay for running
    models and agents (usage fees, DAT access fees). The ledger's rule for keys: the same request
    key with the same request (steward, member, amount, memo) returns the first grant and moves
    nothing; with a different request it is refused with `idempotency_key_reused` (409)."""
    if not idao_selectors.is_steward(idao=idao, user=steward):
        raise NotSteward(f"Only stewards of {idao.name} may grant compute credits.")
    if type(amount) is not int or not 0 < amount <= MAX_GRANT:
        raise InvalidGrant("A grant is a positive whole number of CREDIT units.")
    if not isinstance(request_key, str) or not _KEY_RE.match(request_key):
        raise InvalidGrant("A request key (1 to 100 printable characters) makes the grant safe to retry.")
    if len(memo or "") > 200:
        raise InvalidGrant("The memo is at most 200 characters.")
    try:
        address = checksum(member_address)
    except ValueError:
        raise InvalidGrant(f"{member_address!r} is not an Ethereum address.") from None
    member = User.objects.filter(address=address).first()
    if member is None or not idao_selectors.is_member(idao=idao, user=member):
        raise NotMember(f"{address} is not an active member of {idao.name}.")
    key = f"{idao.pk}:{request_key}"
    request = (steward.pk, member.pk, amount, memo or "")
    existing = CreditGrant.objects.filter(request_key=key).first()
    if existing is not None:
        return _replay(existing, request)
    try:
        with transaction.atomic():
            # Grants of one iDAO queue on its row, so two cannot both fit under the limit.
            locked = IDAO.objects.select_for_update().get(pk=idao.pk)
            since = epoch_current(now=timezone.now()).starts_at
            spent = CreditGrant.objects.filter(idao=locked, created_at__gte=since).aggregate(s=Sum("amount"))["s"]
            steward_limit_check(locked, asset="CREDIT", amount=amount, spent=int(spent or 0))
            grant = CreditGrant.objects.create(
                idao=idao, steward=steward, member=member, amount=amount, memo=memo or "", request_key=key
            )
            grant.ledger_tx_id = ledger_services.transfer(
                source=idao.treasury_owner,
                destination=owners.user(address),
                asset="CREDIT",
                amount=amount,
                kind="transfer",
                idempotency_key=f"rewards:credit-grant:{grant.pk}",
                memo=f"Compute credits from {idao.slug}" + (f": {memo}" if memo else ""),
            ).pk
            grant.save(update_fields=["ledger_tx_id"])
    except IntegrityError:
        # The same request key committed concurrently: that grant is the answer, if it is this request.
        return _replay(CreditGrant.objects.get(request_key=key), request)
    return grant


def _replay(grant: CreditGrant, request: tuple[int, int, int, str]) -> CreditGrant:
    if (grant.steward_id, grant.member_id, int(grant.amount), grant.memo) != request:
        raise IdempotencyKeyReused(
            f"This request key was already used for a grant of {int(grant.amount)} CREDIT to "
            f"{grant.member.address}; use a new key for a different grant."
        )
    return grant
