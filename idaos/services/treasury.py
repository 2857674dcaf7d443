"""The treasury belongs to the members: proposals that spend it, streams the reward epoch close
pays, and the guardian veto during the timelock.

- `treasury_transfer` moves LAZ or CREDIT from the iDAO treasury to an address or another iDAO;
- `treasury_stream` pays a member a fixed amount per reward epoch for N epochs;
- `treasury_stream_cancel` ends a stream before its last epoch.

These kinds are registered into idaos.hooks from IdaosConfig.ready() like any downstream kind, so
the generic action code stays as it is. Every movement goes through ledger.services with a key
derived from the proposal (or the stream and epoch), so executing twice moves money once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from ledger import owners
from ledger import services as ledger_services
from ledger.models import Asset
from portal.events import emit
from portal.models import User, checksum

from .. import hooks
from ..errors import Conflict, Forbidden, InvalidInput, NotSteward
from ..models import IDAO, Membership, MembershipStatus, Proposal, ProposalState, Role
from ..models_treasury import StreamPayment, TreasuryStream

MAX_AMOUNT = 2**255 - 1
MAX_STREAM_EPOCHS = 520
MAX_MEMO = 200


def _keys(payload: dict, required: set[str], optional: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    missing, extra = required - set(payload), set(payload) - required - optional
    if missing:
        raise InvalidInput(f"The payload is missing: {', '.join(sorted(missing))}.")
    if extra:
        raise InvalidInput(f"The payload has unexpected field(s): {', '.join(sorted(extra))}.")


def _asset(value: Any) -> str:
    if value not in Asset.values:
        raise InvalidInput(f"asset is one of {', '.join(Asset.values)}.")
    return value


def _amount(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{name} is a whole number of base units (a string or an integer).")
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} is a whole number of base units.") from None
    if not 0 < number <= MAX_AMOUNT:
        raise InvalidInput(f"{name} must be positive and below 2^255.")
    return number


def _memo(payload: dict) -> str:
    memo = payload.get("memo", "")
    if not isinstance(memo, str) or len(memo) > MAX_MEMO:
        raise InvalidInput(f"memo is text of at most {MAX_MEMO} characters.")
    return memo.strip()


def _destination(idao: IDAO, value: Any) -> str:
    """A ledger owner: `user:<address>` for an address, `idao:<slug>` for another iDAO."""
    if isinstance(value, str) and value.startswith("idao:"):
        other = IDAO.objects.filter(slug=value[5:]).first()
        if other is None:
            raise InvalidInput(f"No iDAO with the slug {value[5:80]!r}.")
        if other.pk == idao.pk:
            raise InvalidInput("An iDAO cannot transfer to its own treasury.")
        return owners.idao(other.slug)
    try:
        return owners.user(checksum(value))
    except ValueError:
        raise InvalidInput("to is an Ethereum address (0x + 40 hex digits) or idao:<slug>.") from None


def _member_address(idao: IDAO, value: Any) -> str:
    try:
        address = checksum(value)
    except ValueError:
        raise InvalidInput("to is the Ethereum address of a member.") from None
    if not Membership.objects.filter(idao=idao, user__address=address, status=MembershipStatus.ACTIVE).exists():
        raise InvalidInput(f"{address} is not an active member of {idao.name}.")
    return address


def transfer_validate(idao: IDAO, payload: dict) -> dict:
    _keys(payload, {"asset", "amount", "to"}, {"memo"})
    return {
        "asset": _asset(payload["asset"]),
        "amount": str(_amount(payload["amount"], "amount")),
        "to": _destination(idao, payload["to"]).removeprefix("user:"),
        "memo": _memo(payload),
    }


def _owner_of(to: str) -> str:
    return to if to.startswith("idao:") else owners.user(to)


def transfer_execute(proposal: Proposal, payload: dict) -> dict:
    """Move the funds; a treasury holding too little raises insufficient_funds (execution fails)."""
    memo = payload.get("memo") or ""
    tx = ledger_services.transfer(
        source=proposal.idao.treasury_owner,
        destination=_owner_of(payload["to"]),
        asset=payload["asset"],
        amount=int(payload["amount"]),
        kind="transfer",
        idempotency_key=f"idaos:proposal:{proposal.pk}:treasury-transfer",
        memo=f"Treasury transfer by proposal #{proposal.pk}" + (f": {memo}" if memo else ""),
    )
    return {"ledger_tx": tx.pk}


def transfer_describe(payload: dict) -> str:
    memo = f" ({payload['memo']})" if payload.get("memo") else ""
    return f"Transfer {payload['amount']} {payload['asset']} base units from the treasury to {payload['to']}{memo}."


def stream_validate(idao: IDAO, payload: dict) -> dict:
    _keys(payload, {"asset", "amount_per_epoch", "epochs", "to"}, {"memo"})
    epochs = payload["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_STREAM_EPOCHS:
        raise InvalidInput(f"epochs is a whole number of reward epochs between 1 and {MAX_STREAM_EPOCHS}.")
    return {
        "asset": _asset(payload["asset"]),
        "amount_per_epoch": str(_amount(payload["amount_per_epoch"], "amount_per_epoch")),
        "epochs": epochs,
        "to": _member_address(idao, payload["to"]),
        "memo": _memo(payload),
    }


def stream_execute(proposal: Proposal, payload: dict) -> dict:
    stream, _ = TreasuryStream.objects.get_or_create(
        proposal=proposal,
        defaults={
            "idao": proposal.idao,
            "recipient": owners.user(payload["to"]),
            "asset": payload["asset"],
            "amount": int(payload["amount_per_epoch"]),
            "epochs": payload["epochs"],
        },
    )
    return {"stream": stream.pk}


def stream_describe(payload: dict) -> str:
    return (
        f"Pay {payload['to']} {payload['amount_per_epoch']} {payload['asset']} base units from the treasury "
        f"at each reward epoch close, for {payload['epochs']} epoch(s)."
    )


def _live_stream(idao: IDAO, payload: dict) -> TreasuryStream:
    ref = payload.get("stream_proposal")
    if isinstance(ref, bool) or not isinstance(ref, int) or ref <= 0:
        raise InvalidInput("stream_proposal is the id of the treasury_stream proposal that created the stream.")
    stream = TreasuryStream.objects.filter(proposal_id=ref, idao=idao).first()
    if stream is None or not stream.live:
        raise InvalidInput(f"{idao.name} has no running stream created by proposal #{ref}.")
    return stream


def stream_cancel_validate(idao: IDAO, payload: dict) -> dict:
    _keys(payload, {"stream_proposal"})
    _live_stream(idao, payload)
    return {"stream_proposal": payload["stream_proposal"]}


def stream_cancel_execute(proposal: Proposal, payload: dict) -> dict:
    stream = TreasuryStream.objects.select_for_update().get(proposal_id=payload["stream_proposal"])
    if not stream.live:
        raise Conflict("The stream has already ended.", code="stream_ended")
    stream.cancelled_at = timezone.now()
    stream.cancelled_by = proposal
    stream.save(update_fields=["cancelled_at", "cancelled_by"])
    return {"stream": stream.pk, "paid_epochs": stream.paid_epochs}


def stream_cancel_describe(payload: dict) -> str:
    return f"Stop the treasury stream created by proposal #{payload['stream_proposal']}."


def register() -> None:
    """Called from IdaosConfig.ready()."""
    hooks.register_action(
        "treasury_transfer", validate=transfer_validate, execute=transfer_execute, describe=transfer_describe
    )
    hooks.register_action("treasury_stream", validate=stream_validate, execute=stream_execute, describe=stream_describe)
    hooks.register_action(
        "treasury_stream_cancel",
        validate=stream_cancel_validate,
        execute=stream_cancel_execute,
        describe=stream_cancel_describe,
    )


def streams_pay(*, epoch_number: int) -> list[StreamPayment]:
    """Pay every running stream its amount for reward epoch `epoch_number`, inside the caller's
    transaction (rewards' epoch close). A stream is paid at most once per epoch (a unique row); a
    treasury that holds too little is recorded as a refused payment and the stream goes on."""
    streams = list(
        TreasuryStream.objects.select_for_update(of=("self",))
        .filter(cancelled_at=None, paid_epochs__lt=F("epochs"))
        .exclude(payments__epoch_number=epoch_number)
        .select_related("idao")
        .order_by("id")
    )
    if not streams:
        return []
    results = ledger_services.transfers_post(
        transfers=[
            ledger_services.TransferIn(
                source=s.idao.treasury_owner,
                destination=s.recipient,
                asset=s.asset,
                amount=int(s.amount),
                kind="transfer",
                idempotency_key=f"idaos:stream:{s.pk}:epoch:{epoch_number}",
                memo=f"Treasury stream of proposal #{s.proposal_id}, epoch {epoch_number}",
            )
            for s in streams
        ],
        atomic=False,
    )
    payments = []
    for stream, result in zip(streams, results, strict=True):
        if result.transaction is not None:
            payments.append(StreamPayment(stream=stream, epoch_number=epoch_number, ledger_tx_id=result.transaction.pk))
            TreasuryStream.objects.filter(pk=stream.pk).update(paid_epochs=F("paid_epochs") + 1)
        else:
            error = result.error
            payments.append(
                StreamPayment(
                    stream=stream,
                    epoch_number=epoch_number,
                    error=f"{error.code}: {error.detail}" if error else "refused",
                )
            )
    return StreamPayment.objects.bulk_create(payments)


def proposal_veto(*, proposal_id: int, steward: User, reason: str, now: datetime | None = None) -> Proposal:
    """A steward cancels a passed treasury proposal during its timelock, if the charter allows a
    guardian veto. Audited (who, why) and anchored."""
    reason = (reason or "").strip()
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update(of=("self",)).select_related("idao").get(pk=proposal_id)
        idao = proposal.idao
        if not Membership.objects.filter(
            idao=idao, user=steward, status=MembershipStatus.ACTIVE, role=Role.STEWARD
        ).exists():
            raise NotSteward(f"Only stewards of {idao.name} may veto.")
        if not idao.guardian_veto:
            raise Forbidden(f"The charter of {idao.name} does not allow a guardian veto.", code="veto_not_allowed")
        in_timelock = Proposal.objects.filter(
            pk=proposal.pk, state=ProposalState.PASSED, execute_after__gt=Now()
        ).exists()
        if not in_timelock:
            raise Conflict("Only a passed proposal waiting in its timelock can be vetoed.", code="not_in_timelock")
        if not 3 <= len(reason) <= 2000:
            raise InvalidInput("Write the reason for the veto (3 to 2,000 characters); it is published.")
        at = now or timezone.now()
        leaf = ledger_services.anchor(
            kind="idao.proposal.veto",
            subject=f"proposal:{proposal.pk}",
            payload={
                "idao": idao.slug,
                "proposal": proposal.pk,
                "steward": steward.address,
                "reason": reason,
                "at": at.isoformat(),
            },
        )
        proposal.state = ProposalState.CANCELLED
        proposal.vetoed_by = steward
        proposal.veto_reason = reason
        proposal.veto_leaf_id = leaf.pk
        proposal.save(update_fields=["state", "vetoed_by", "veto_reason", "veto_leaf_id"])
        emit(
            kind="proposal.vetoed",
            idao=idao,
            subject=f"proposal:{proposal.pk}",
            actor=steward,
            payload={"title": proposal.title, "reason": reason},
        )
    return proposal
