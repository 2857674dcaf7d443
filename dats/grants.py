"""Access grants: an AI pipeline (an API token acting for a user or an iDAO) asks to use a DAT for
one purpose. The policy decides; a grant moves the CREDIT fee on the ledger to the owner and the
iDAO per the charter split, counts against the quota and is anchored, all in one transaction.
A repeated request with the same idempotency key returns the first grant and moves nothing.

Also the manifest check (idaos.hooks data-ref checker) and the file download a grant allows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from idaos.selectors import is_steward
from ledger import owners
from ledger import selectors as ledger_selectors
from ledger import services as ledger
from ledger.errors import InsufficientFunds
from portal.errors import Conflict, DomainError, Forbidden, NotFound
from portal.models import ApiToken

from . import policies
from .dat_models import DAT, AccessGrant
from .minting import policy_of

ACCESS_SCOPE = "dats:access"
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


def idao_token_subjects(user: Any) -> list[tuple[str, str]]:
    """API-token subjects `idao:<slug>` for the iDAOs the user stewards (portal.api_tokens registry)."""
    from idaos.models import IDAO, MembershipStatus, Role

    idaos = (
        IDAO.objects.filter(
            memberships__user=user, memberships__status=MembershipStatus.ACTIVE, memberships__role=Role.STEWARD
        )
        .order_by("name")
        .distinct()
    )
    return [(f"idao:{idao.slug}", f"{idao.name} (steward)") for idao in idaos]


def idao_token_authorise(user: Any, subject: str) -> None:
    """Only a steward of the iDAO may create an API token acting for (and paying from) it."""
    from idaos.models import IDAO
    from portal.api_tokens import InvalidToken

    idao = IDAO.objects.filter(slug=subject.removeprefix("idao:")).first()
    if idao is None:
        raise InvalidToken("A token acts for you or for an iDAO you steward (idao:<slug>).")
    if not is_steward(idao=idao, user=user):
        raise Forbidden(f"Only stewards of {idao.name} may create tokens for its pipelines.", code="not_a_steward")


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


def access_request(
    *, dat_id: int, token: ApiToken | None, use: str, idempotency_key: str, now: datetime | None = None
) -> AccessResult:
    """Grant `use` of the DAT to the token's pipeline or raise AccessDenied with the reason code."""
    if token is None:
        raise TokenRequired("Access grants are requested with an API token: send Authorization: Bearer <token>.")
    if ACCESS_SCOPE not in (token.scopes or []):
        raise Forbidden(f"This token lacks the {ACCESS_SCOPE} scope.", code="token_scope")
    if not isinstance(idempotency_key, str) or not _KEY_RE.match(idempotency_key):
        raise DomainError(
            "Send an Idempotency-Key of 1-120 letters, digits or _.:- characters.",
            code="invalid_idempotency_key",
            status=422,
        )
    if not isinstance(use, str) or not use:
        raise DomainError("Name the use you ask for.", code="invalid_use", status=422)
    key = f"{token.pk}:{idempotency_key}"
    replay = _replay(key, dat_id=dat_id, use=use)
    if replay is not None:
        return replay
    payer = payer_of(token)
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
                    user=token.user,
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
                tx = ledger.transaction_post(
                    kind="fee",
                    postings=postings,
                    idempotency_key=f"dat-access:{key}",
                    memo=f"{use} of DAT #{dat.pk} (grant {grant.pk})",
                )
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
        return AccessResult(grant=grant, replayed=False)


def valid_grant(*, dat: DAT, user: Any, now: datetime | None = None) -> AccessGrant | None:
    """A grant of this user for this DAT that has not run out (it lets them download the file)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return AccessGrant.objects.filter(dat=dat, user=user, valid_until__gt=now or timezone.now()).order_by("-id").first()


def contribution_download_grant(user: Any, contribution: Any) -> bool:
    """Registered in dats.contributions.DOWNLOAD_GRANTS: a valid grant lets its holder fetch the file."""
    dat = DAT.objects.filter(contribution=contribution).first()
    return dat is not None and valid_grant(dat=dat, user=user) is not None


# --- manifests (idaos.hooks.register_data_ref_checker) ----------------------------------------------


class DatForbidsTraining(DomainError):
    code = "dat_forbids_training"
    status = 422


def dat_for_ref(data_ref: str) -> DAT | None:
    """`dat:<id>` names a DAT; a 0x content hash finds the DAT with that SHA-256 or keccak-256."""
    if not isinstance(data_ref, str):
        return None
    if data_ref.startswith("dat:"):
        try:
            return DAT.objects.filter(pk=int(data_ref[4:])).first()
        except ValueError:
            return None
    value = data_ref.lower()
    return (
        DAT.objects.filter(sha256=value).order_by("id").first()
        or DAT.objects.filter(keccak256=value).order_by("id").first()
    )


def training_problem(dat: DAT, *, purpose: str = "training", now: datetime | None = None) -> str | None:
    """Why this DAT may not be trained on now (None if it may)."""
    decision = policies.decide(policy_of(dat), use=purpose, used=0, now=now or timezone.now(), balance=10**40)
    return None if decision.allowed else decision.detail


def check_data_ref(idao: Any, data_ref: str, purpose: str) -> None:
    if data_ref.startswith("dat:"):
        dat = dat_for_ref(data_ref)
        if dat is None:
            raise NotFound(f"There is no DAT #{data_ref[4:]}.", code="dat_not_found")
    else:
        dat = dat_for_ref(data_ref)
        if dat is None:
            return  # a plain content hash with no DAT: governance decides on its own
    problem = training_problem(dat, purpose=purpose)
    if problem:
        raise DatForbidsTraining(f"DAT #{dat.pk} cannot enter a training manifest: {problem}")
