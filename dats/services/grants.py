"""Access grants: an AI pipeline (an API token acting for a user or an iDAO) asks to use a DAT for
one purpose. The policy decides; a grant moves the CREDIT fee on the ledger to the owner and the
iDAO per the charter split, counts against the quota and is anchored, all in one transaction.
A repeated request with the same idempotency key returns the first grant and moves nothing.
(Reads of grants are in dats.selectors; what grants plug into upstream, in dats.integrations.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from idaos.selectors import is_steward
from ledger import owners
from ledger import selectors as ledger_selectors
from ledger import services as ledger
from ledger.errors import InsufficientFunds
from portal.errors import Conflict, DomainError, Forbidden, NotFound
from portal.events import emit
from portal.models import ApiToken, User

from .. import policies
from ..models import DAT, AccessGrant
from ..policies import policy_of
from .denials import tell_owner_when_denied

GRANT_LEAF_KIND = "dat.access"
GRANT_LIFETIME = timedelta(days=1)
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,120}$")


class AccessDenied(DomainError):
    """The policy said no; `code` is the exact reason (see dats.policies)."""

    status = 403


class TokenRequired(Forbidden):
    code = "token_required"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class AccessResult:
    grant: AccessGrant
    replayed: bool


def payer_of(token: ApiToken) -> str:
    """The ledger account a token pays from: its iDAO's treasury for `idao:<slug>` tokens (while
    the token's creator is still a steward), otherwise its user's account."""
    if token.subject.startswith("idao:"):
        from idaos.models import IDAO

        idao = IDAO.objects.filter(slug=token.subject.removeprefix("idao:")).first()
        if idao is None or not is_steward(idao=idao, user=token.user):
            raise Forbidden(
                f"This token acts for {token.subject}, and its creator is no longer a steward there.",
                code="token_subject_forbidden",
            )
        return owners.idao(idao.slug)
    return owners.user(token.user.address)


def _postings(payer: str, legs: list[tuple[str, int]]) -> list[tuple[str, str, int]]:
    net: dict[str, int] = {}
    for owner, amount in legs:
        net[owner] = net.get(owner, 0) + amount
    return [(o, "CREDIT", a) for o, a in sorted(net.items()) if a != 0]


def _replay(key: str, *, dat_id: int, use: str) -> AccessResult | None:
    grant = AccessGrant.objects.filter(idempotency_key=key).first()
    if grant is None:
        return None
    if grant.dat_id != dat_id or grant.use != use:
        raise IdempotencyKeyReused(
            f"This idempotency key was already used for {grant.use} of DAT #{grant.dat_id}; use a new key per request."
        )
    return AccessResult(grant=grant, replayed=True)


@tell_owner_when_denied(AccessDenied)
def access_request(
    *,
    dat_id: int,
    token: ApiToken | None,
    use: str,
    idempotency_key: str,
    now: datetime | None = None,
    user: User | None = None,
) -> AccessResult:
    """Grant `use` of the DAT to the token's pipeline (or, from the DAT's access page, to the
    signed-in `user`, paying from their own CREDIT) or raise AccessDenied with the reason code."""
    if token is None and user is None:
        raise TokenRequired("Access grants are requested with an API token: send Authorization: Bearer <token>.")
    if not isinstance(idempotency_key, str) or not _KEY_RE.match(idempotency_key):
        raise DomainError(
            "Send an Idempotency-Key of 1-120 letters, digits or _.:- characters.",
            code="invalid_idempotency_key",
            status=422,
        )
    if not isinstance(use, str) or not use:
        raise DomainError("Name the use you ask for.", code="invalid_use", status=422)
    # Token keys are `<token id>:…`; a person's own requests from the page are `session:<user id>:…`.
    if token is not None:
        grantee: User = token.user
        key = f"{token.pk}:{idempotency_key}"
    else:
        grantee = cast(User, user)  # one of the two is set (checked above)
        key = f"session:{grantee.pk}:{idempotency_key}"
    replay = _replay(key, dat_id=dat_id, use=use)
    if replay is not None:
        return replay
    payer = payer_of(token) if token is not None else owners.user(grantee.address)
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serialises grants of one DAT, so the quota count cannot race.
        dat = DAT.objects.select_for_update().select_related("owner", "idao").filter(pk=dat_id).first()
        if dat is None:
            raise NotFound(f"There is no DAT #{dat_id}.", code="dat_not_found")
        replay = _replay(key, dat_id=dat_id, use=use)
        if replay is not None:
            return replay
        policy = policy_of(dat)
        balance = ledger_selectors.balance(payer, "CREDIT")
        decision = policies.decide(policy, use=use, used=dat.used, now=now, balance=balance)
        if not decision.allowed:
            raise AccessDenied(decision.detail, code=decision.code, status=policies.DENIAL_STATUS[decision.code])
        fee = policy.price_credit
        owner_share, idao_share = policies.split_fee(fee, contributors_bps=dat.idao.split_contributors_bps)
        try:
            with transaction.atomic():
                grant = AccessGrant.objects.create(
                    dat=dat,
                    token=token,
                    user=grantee,
                    payer=payer,
                    use=use,
                    fee=fee,
                    owner_share=owner_share,
                    idao_share=idao_share,
                    idempotency_key=key,
                    created_at=now,
                    valid_until=now + GRANT_LIFETIME,
                )
        except IntegrityError:
            replay = _replay(key, dat_id=dat_id, use=use)
            if replay is None:
                raise
            return replay
        DAT.objects.filter(pk=dat.pk).update(used=F("used") + 1)
        tx = None
        postings = _postings(
            payer, [(payer, -fee), (owners.user(dat.owner.address), owner_share), (dat.idao.treasury_owner, idao_share)]
        )
        if fee and len(postings) >= 2:
            try:
                charge = ledger.TransactionIn(
                    kind="fee",
                    postings=postings,
                    idempotency_key=f"dat-access:{key}",
                    memo=f"{use} of DAT #{dat.pk} (grant {grant.pk})",
                )
                tx = ledger.transactions_post(transactions=[charge])[0].transaction
            except InsufficientFunds:
                raise AccessDenied(
                    f"Access costs {fee} CREDIT and {payer} cannot pay it.", code=policies.UNPAID, status=402
                ) from None
        leaf = ledger.anchor(
            kind=GRANT_LEAF_KIND,
            subject=f"grant:{grant.pk}",
            payload={
                "grant": grant.pk,
                "tokenId": dat.pk,
                "use": use,
                "payer": payer,
                "fee": str(fee),
                "ownerShare": str(owner_share),
                "idaoShare": str(idao_share),
                "ledgerTx": tx.pk if tx else None,
                "policyVersion": dat.policy_version,
                "at": now.isoformat(),
            },
        )
        AccessGrant.objects.filter(pk=grant.pk).update(ledger_transaction=tx, anchor_leaf_id=leaf.pk)
        grant.ledger_transaction, grant.anchor_leaf_id = tx, leaf.pk
        emit(
            kind="dat.access_granted",
            idao=dat.idao_id,
            subject=f"dat:{dat.pk}",
            actor=grantee.pk,
            recipients=[grantee.pk, dat.owner_id],
            payload={"title": dat.title, "use": use, "grant": grant.pk},
        )
        return AccessResult(grant=grant, replayed=False)
