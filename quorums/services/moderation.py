"""Quorum writes and staff moderation: creation, trust (from governance), pausing, jailing,
fraud cases, forced closes, parked tasks.

Every function is one transaction; every staff action leaves an anchored AuditEntry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger import services as ledger
from portal.events import emit
from portal.models import ParkedTask

from .. import scores
from ..errors import (
    BondTooSmall,
    InvalidQuorumParameters,
    QuorumNameTaken,
    QuorumPaused,
    ReasonRequired,
    StaffOnly,
    ValidatorNotActive,
)
from ..models import (
    AuditEntry,
    FraudCase,
    Quorum,
    QuorumTrust,
    Round,
    SlashReason,
    Validator,
    ValidatorState,
)
from ..selectors import quorum_get
from .rounds import round_close
from .slashing import apply_slash


def _require_staff(actor: Any) -> None:
    if actor is None or not getattr(actor, "is_staff", False):
        raise StaffOnly("Only portal staff may moderate quorums.")


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise ReasonRequired("Write the reason for this action (a few words at least); it is audited.")
    return reason


def audit(*, actor: Any, action: str, target: str, reason: str, details: dict | None = None) -> AuditEntry:
    """Record and anchor a staff action; call inside the action's transaction."""
    entry = AuditEntry.objects.create(actor=actor, action=action, target=target, reason=reason, details=details or {})
    leaf = ledger.anchor(
        kind="audit",
        subject=f"audit:{entry.pk}",
        payload={
            "actor": actor.address,
            "action": action,
            "target": target,
            "reason": reason,
            "details": details or {},
        },
    )
    AuditEntry.objects.filter(pk=entry.pk).update(anchor_leaf_id=leaf.pk)
    entry.anchor_leaf_id = leaf.pk
    return entry


# name: (lowest, highest) for the parameters staff set; durations are whole seconds.
PARAMETERS: dict[str, tuple[int, int]] = {
    "committee_size": (1, 100),
    "threshold_bps": (5001, 10_000),
    "min_participation_bps": (0, 10_000),
    "slash_equivocation_bps": (0, 10_000),
    "slash_minority_bps": (0, 10_000),
    "slash_absence_bps": (0, 10_000),
    "min_bond": (1, 10**30),
    "round_duration": (60, 30 * 86_400),
    "unbond_delay": (0, 365 * 86_400),
    "appeal_window": (0, 90 * 86_400),
    "appeal_bond": (1, 10**30),
    "appeal_bounty_bps": (0, 10_000),
    "appeal_fee_bps": (0, 10_000),
    "score_low_bps": (0, 10_000),
}
DURATIONS = {"round_duration", "unbond_delay", "appeal_window"}


def _clean_asset(value: Any) -> str:
    if value not in BOND_ASSETS:
        raise ValueError(f"appeal_bond_asset is one of {', '.join(BOND_ASSETS)}.")
    return str(value)


BOND_ASSETS = ("CREDIT", "LAZ")
# Parameters that are not one whole number: name -> cleaner (ValueError with a sentence if invalid).
STRUCTURED: dict[str, Any] = {
    "score_weights": scores.clean_weights,  # every criterion, basis points summing to 10000
    "score_minimums": scores.clean_minimums,  # criteria (and composite), 0–10000 each
    "appeal_bond_asset": _clean_asset,
}


def quorum_parameters_clean(raw: dict[str, Any]) -> dict[str, Any]:
    """Staff input (numbers, or numeric strings from a form) as model values; an unknown name, a
    non-integer or a value out of range raises InvalidQuorumParameters naming it."""
    unknown = sorted(set(raw) - set(PARAMETERS) - set(STRUCTURED))
    if unknown:
        raise InvalidQuorumParameters(f"Unknown quorum parameter(s): {', '.join(unknown)}.")
    clean: dict[str, Any] = {}
    for name, value in raw.items():
        if name in STRUCTURED:
            if isinstance(value, dict) and any(isinstance(v, bool | float) for v in value.values()):
                raise InvalidQuorumParameters(f"{name} holds whole numbers of basis points.")
            try:
                clean[name] = STRUCTURED[name](value)
            except (TypeError, ValueError) as err:
                raise InvalidQuorumParameters(f"{name}: {err}") from None
            continue
        low, high = PARAMETERS[name]
        if isinstance(value, timedelta):
            value = int(value.total_seconds())
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidQuorumParameters(f"{name} is a whole number.") from None
        if not low <= number <= high:
            raise InvalidQuorumParameters(f"{name} is between {low} and {high}.")
        clean[name] = timedelta(seconds=number) if name in DURATIONS else number
    return clean


def _param_json(name: str, value: Any) -> Any:
    if name in STRUCTURED:
        return dict(value) if isinstance(value, dict) else str(value)
    return int(value.total_seconds()) if name in DURATIONS else int(value)


def quorum_create(*, actor: Any, name: str, reason: str = "created", description: str = "", **params: Any) -> Quorum:
    """Create a quorum (staff only, audited and anchored). params: see PARAMETERS (durations in
    seconds or as timedelta); the rest keep the model's defaults."""
    _require_staff(actor)
    reason = _reason(reason)
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidQuorumParameters("Give the quorum a name (at most 120 characters).")
    if len(description or "") > 2000:
        raise InvalidQuorumParameters("The description is at most 2000 characters.")
    clean = quorum_parameters_clean(params)
    try:
        with transaction.atomic():
            quorum = Quorum.objects.create(name=name, description=description or "", created_by=actor, **clean)
            audit(
                actor=actor,
                action="quorum_create",
                target=f"quorum:{quorum.pk}",
                reason=reason,
                details={
                    "name": name,
                    **{k: v if k in STRUCTURED else str(_param_json(k, v)) for k, v in clean.items()},
                },
            )
            return quorum
    except IntegrityError:
        if Quorum.objects.filter(name=name).exists():
            raise QuorumNameTaken(f"There is already a quorum named {name!r}.") from None
        raise


def quorum_update(*, actor: Any, quorum_id: int, reason: str, **changes: Any) -> Quorum:
    """Change a quorum's parameters (staff only, audited and anchored with each old and new
    value). Rounds already open keep the rules they opened with (Round.params); the change
    applies to rounds opened after it."""
    _require_staff(actor)
    reason = _reason(reason)
    clean = quorum_parameters_clean(changes)
    if not clean:
        raise InvalidQuorumParameters("Name at least one parameter to change.")
    with transaction.atomic():
        quorum = quorum_get(quorum_id, lock=True)
        changed = {
            k: {"from": _param_json(k, getattr(quorum, k)), "to": _param_json(k, v)}
            for k, v in clean.items()
            if getattr(quorum, k) != v
        }
        if not changed:
            return quorum
        Quorum.objects.filter(pk=quorum.pk).update(**{k: clean[k] for k in changed})
        audit(actor=actor, action="quorum_update", target=f"quorum:{quorum.pk}", reason=reason, details=changed)
        quorum.refresh_from_db()
        return quorum


def trust_set(*, idao: Any, quorum_id: int, active: bool) -> QuorumTrust:
    """Called by the governance actions trust_quorum / drop_quorum inside their transaction."""
    quorum = quorum_get(quorum_id)
    trust, _ = QuorumTrust.objects.update_or_create(idao=idao, quorum=quorum, defaults={"active": active})
    return trust


def quorum_set_paused(*, actor: Any, quorum_id: int, paused: bool, reason: str) -> Quorum:
    _require_staff(actor)
    reason = _reason(reason)
    with transaction.atomic():
        quorum = quorum_get(quorum_id, lock=True)
        Quorum.objects.filter(pk=quorum.pk).update(paused=paused)
        audit(
            actor=actor,
            action="quorum_pause" if paused else "quorum_resume",
            target=f"quorum:{quorum.pk}",
            reason=reason,
        )
        emit(
            kind="quorum.moderation",
            subject=f"quorum:{quorum.pk}",
            actor=actor,
            recipients=Validator.objects.filter(quorum=quorum, state=ValidatorState.ACTIVE).values_list(
                "user_id", flat=True
            ),
            payload={"title": f"{quorum.name} {'paused' if paused else 'resumed'}: {reason}"},
        )
        quorum.paused = paused
        return quorum


def validator_set_state(*, actor: Any, validator_id: int, state: str, reason: str) -> Validator:
    """Jail, unjail (state=active) or remove a validator."""
    _require_staff(actor)
    reason = _reason(reason)
    if state not in ValidatorState.values:
        raise ValidatorNotActive(f"Unknown validator state {state!r}.")
    with transaction.atomic():
        validator = Validator.objects.select_for_update().get(pk=validator_id)
        if validator.state == ValidatorState.REMOVED:
            raise ValidatorNotActive("A removed validator stays removed.")
        Validator.objects.filter(pk=validator.pk).update(state=state)
        audit(
            actor=actor,
            action=f"validator_{state}",
            target=f"validator:{validator.pk}",
            reason=reason,
            details={"from": validator.state, "to": state},
        )
        emit(
            kind="validator.jailed" if state == ValidatorState.JAILED else "quorum.moderation",
            subject=f"validator:{validator.pk}",
            actor=actor,
            recipients=[validator.user_id],
            payload={"title": f"validator {state}: {reason}", "state": state},
        )
        validator.state = state
        return validator


def fraud_case_open(*, actor: Any, validator_id: int, allegation: str, round_id: int | None = None) -> FraudCase:
    _require_staff(actor)
    allegation = _reason(allegation)
    with transaction.atomic():
        validator = Validator.objects.get(pk=validator_id)
        case = FraudCase.objects.create(validator=validator, round_id=round_id, allegation=allegation, opened_by=actor)
        audit(
            actor=actor,
            action="fraud_case_open",
            target=f"fraud_case:{case.pk}",
            reason=allegation,
            details={"validator": validator.address, "round": round_id},
        )
        return case


def fraud_case_decide(
    *, actor: Any, case_id: int, slash: bool, reason: str, rate_bps: int = 0, jail: bool = False
) -> FraudCase:
    """Slash (at rate_bps of current stake, optionally jail) or dismiss, with a written reason."""
    _require_staff(actor)
    reason = _reason(reason)
    with transaction.atomic():
        case = (
            FraudCase.objects.select_for_update(of=("self",)).select_related("validator", "round__idao").get(pk=case_id)
        )
        if case.state != FraudCase.State.OPEN:
            raise QuorumPaused(f"Fraud case {case.pk} was already decided ({case.state}).", code="case_decided")
        details: dict[str, Any] = {"slash": slash, "rate_bps": rate_bps, "jail": jail}
        if slash:
            if not 0 < rate_bps <= 10_000:
                raise BondTooSmall("A fraud slash rate is between 1 and 10000 basis points.", code="invalid_rate")
            s = apply_slash(
                validator=case.validator,
                round_=case.round,
                reason=SlashReason.FRAUD,
                rate_bps=rate_bps,
                key=f"slash:fraud_case:{case.pk}",
                idao=case.round.idao if case.round else None,
            )
            details["amount"] = int(s.amount) if s else 0
            if jail:
                Validator.objects.filter(pk=case.validator_id).exclude(state=ValidatorState.REMOVED).update(
                    state=ValidatorState.JAILED
                )
        state = FraudCase.State.SLASHED if slash else FraudCase.State.DISMISSED
        FraudCase.objects.filter(pk=case.pk).update(
            state=state, decision=reason, decided_by=actor, decided_at=timezone.now(), rate_bps=rate_bps
        )
        audit(actor=actor, action=f"fraud_case_{state}", target=f"fraud_case:{case.pk}", reason=reason, details=details)
        case.refresh_from_db()
        return case


def round_force_close(*, actor: Any, round_id: int, reason: str) -> Round:
    """Close a stuck round now, as if its deadline had passed (staff only, audited)."""
    _require_staff(actor)
    reason = _reason(reason)
    with transaction.atomic():
        audit(actor=actor, action="round_force_close", target=f"round:{round_id}", reason=reason)
        return round_close(round_id=round_id, force=True)


def parked_resolve(*, actor: Any, parked_id: int, reason: str, retry: bool) -> None:
    """Mark a parked task handled; with retry, send it to the broker again after commit."""
    from celery import current_app

    _require_staff(actor)
    reason = _reason(reason)
    with transaction.atomic():
        parked = ParkedTask.objects.select_for_update().get(pk=parked_id)
        if parked.resolved:
            return
        ParkedTask.objects.filter(pk=parked.pk).update(resolved=True)
        audit(
            actor=actor,
            action="parked_retry" if retry else "parked_dismiss",
            target=f"parked:{parked.pk}",
            reason=reason,
            details={"task": parked.task_name, "args": parked.args},
        )
        if retry:
            name, args, kwargs = parked.task_name, parked.args, parked.kwargs
            transaction.on_commit(lambda: current_app.send_task(name, args=args, kwargs=kwargs))
