"""Quorum pages: directory, quorum, round, validator inbox, staff moderation, EIP-712 schema."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.errors import DomainError
from portal.http import AuthedRequest, PortalRequest
from portal.models import ParkedTask

from . import api, services
from .models import Appeal, AuditEntry, FraudCase, Quorum, Round, RoundState, Slash, Validator, ValidatorState
from .selectors import (
    appeal_chain,
    appeal_list,
    assignment_list,
    candidates_json,
    quorum_list,
    subject_facts,
    total_stake,
    verdicts_sealed,
)


def eip712_json(request: PortalRequest) -> JsonResponse:
    """Alias of GET /api/v1/quorums/eip712: the same operation, the same schema."""
    return JsonResponse(api.verdict_publication(request).model_dump())


def quorum_directory(request: PortalRequest) -> HttpResponse:
    return render(request, "quorums/quorum_list.html", {"quorums": quorum_list()})


def quorum_detail(request: PortalRequest, quorum_id: int) -> HttpResponse:
    quorum = get_object_or_404(Quorum, pk=quorum_id)
    validators = quorum.validators.select_related("user").order_by("-stake", "pk")
    context = {
        "quorum": quorum,
        "validators": validators,
        "total_stake": total_stake(quorum),
        "open_rounds": quorum.rounds.filter(state=RoundState.OPEN).select_related("idao")[:50],
        "recent_rounds": quorum.rounds.filter(state=RoundState.CLOSED).select_related("idao")[:20],
        "slashes": Slash.objects.filter(validator__quorum=quorum).select_related("validator")[:50],
        "trusted_by": quorum.trusts.filter(active=True).select_related("idao"),
        "open_appeals": [a for a in appeal_list(quorum_id=quorum.pk, limit=50) if a.state == Appeal.State.OPEN],
        # Panel rounds no appeal opened: a downstream app's challenge (a DAT challenge) is deciding them.
        "open_challenges": quorum.rounds.filter(
            state=RoundState.OPEN, appeal_of__isnull=False, appealed_by__isnull=True
        )[:50],
        "mine": validators.filter(user_id=request.user.pk).first() if request.user.is_authenticated else None,
    }
    return render(request, "quorums/quorum_detail.html", context)


@login_required
@require_POST
def quorum_bond(request: AuthedRequest, quorum_id: int) -> HttpResponse:
    try:
        amount = int(request.POST.get("amount", ""))
        if request.POST.get("action") == "unbond":
            services.validator_unbond(quorum_id=quorum_id, user=request.user, amount=amount)
            messages.success(request, f"Unbonding {amount} LAZ; it returns after the quorum's delay.")
        else:
            services.validator_bond(quorum_id=quorum_id, user=request.user, amount=amount)
            messages.success(request, f"Bonded {amount} LAZ.")
    except ValueError:
        messages.error(request, "Enter a whole amount of LAZ.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("quorums:quorum_detail", quorum_id=quorum_id)


@login_required
@require_POST
def round_appeal(request: AuthedRequest, round_id: int) -> HttpResponse:
    """The contributor's "Appeal this decision" form: the bond moves to escrow and a panel is drawn."""
    try:
        appeal = services.appeal_file(round_id=round_id, user=request.user, reason=request.POST.get("reason", ""))
        messages.success(
            request,
            f"Appeal filed: {appeal.bond} {appeal.bond_asset} in escrow; round {appeal.appeal_round_id} re-decides it.",
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("quorums:round_detail", round_id=round_id)


def round_detail(request: PortalRequest, round_id: int) -> HttpResponse:
    r = get_object_or_404(Round.objects.select_related("quorum", "idao"), pk=round_id)
    seats = r.seats.select_related("validator").order_by("pk")
    # While an appeal of this decision is open, its verdicts are sealed: the panel sees them
    # only after it has voted.
    sealed = verdicts_sealed(r)
    verdicts = r.verdicts.none() if sealed else r.verdicts.select_related("validator").order_by("pk")
    chain = appeal_chain(r)
    appeals = {a.round_id: a for a in Appeal.objects.filter(round__in=chain)}
    try:
        subject = subject_facts([r])[r.pk]
    except Exception:  # the subject may be gone; the round's record stands on its own
        subject = {}
    context = {
        "round": r,
        "seats": seats,
        "verdicts": verdicts,
        "subject": subject,
        "equivocations": r.equivocations.select_related("validator", "first", "second"),
        "slashes": r.slashes.select_related("validator"),
        "candidates": candidates_json(r),
        "sealed": sealed,
        "chain": [(c, appeals.get(c.pk)) for c in chain],
        "appeal": appeals.get(r.pk),
    }
    template = "quorums/round_detail.html#progress" if request.htmx else "quorums/round_detail.html"
    return render(request, template, context)


def round_bundle(request: PortalRequest, round_id: int) -> HttpResponse:
    """GET /rounds/<id>/bundle.json: the round's seed, candidates, committee, signed verdicts,
    outcome and Merkle proofs, for `manage.py verify_round` (quorums.bundles)."""
    from ledger.errors import LeafNotSealed

    from .bundles import export

    r = Round.objects.filter(pk=round_id).first()
    if r is not None and verdicts_sealed(r):  # the bundle carries the verdicts the panel must not see yet
        detail = "An appeal or challenge panel re-decides this round: its verdicts are sealed until it has voted."
        return JsonResponse({"error": "verdicts_sealed", "detail": detail}, status=409)
    try:
        bundle = export(round_id)
    except LeafNotSealed as exc:
        detail = "A record of this round is waiting for the next ledger block; try again in a few seconds."
        return JsonResponse({"error": exc.code, "detail": detail}, status=409)
    except DomainError as exc:
        return JsonResponse({"error": exc.code, "detail": exc.detail}, status=exc.status)
    response = JsonResponse(bundle, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="round-{round_id}.json"'
    return response


@login_required
def validator_inbox(request: AuthedRequest) -> HttpResponse:
    assigned = list(assignment_list(address=request.user.address))
    facts = subject_facts([seat.round for seat in assigned])
    items = [{"seat": seat, "round": seat.round, "subject": facts[seat.round_id]} for seat in assigned]
    seats = Validator.objects.filter(user=request.user).select_related("quorum")
    return render(request, "quorums/inbox.html", {"items": items, "seats": seats})


# --- staff moderation --------------------------------------------------------------------------


# Actions that hurt a validator or a round: the form must carry confirm=1 ("I confirm" ticked).
DESTRUCTIVE = frozenset({"jail", "remove", "slash_case", "force_close"})


def _staff(request: PortalRequest) -> None:
    if not (request.user.is_authenticated and request.user.is_staff):
        raise PermissionDenied("Only portal staff may moderate quorums.")


def moderation(request: PortalRequest) -> HttpResponse:
    _staff(request)
    context = {
        "quorums": Quorum.objects.prefetch_related(
            Prefetch("validators", queryset=Validator.objects.exclude(state=ValidatorState.REMOVED).order_by("pk"))
        ),
        "stuck": Round.objects.filter(state=RoundState.OPEN).select_related("quorum")[:100],
        "cases": FraudCase.objects.select_related("validator", "round").order_by("-pk")[:100],
        "audit": AuditEntry.objects.select_related("actor")[:100],
        "parked": ParkedTask.objects.filter(resolved=False)[:100],
    }
    return render(request, "quorums/moderation.html", context)


def _posted_parameters(post: Any) -> dict[str, Any]:
    """The quorum parameters a moderation form filled in (blank fields are left unchanged); the
    score weights and minimums come as one field per criterion (`score_weights.quality`)."""
    given: dict[str, Any] = {name: post[name].strip() for name in services.PARAMETERS if post.get(name, "").strip()}
    for group in ("score_weights", "score_minimums"):
        parts = {
            key.partition(".")[2]: post[key].strip()
            for key in post
            if key.startswith(group + ".") and post.get(key, "").strip()
        }
        if parts:
            given[group] = parts
    if post.get("appeal_bond_asset", "").strip():
        given["appeal_bond_asset"] = post["appeal_bond_asset"].strip()
    return given


@require_POST
def moderation_action(request: PortalRequest) -> HttpResponse:
    _staff(request)
    post, actor = request.POST, request.user
    action, reason = post.get("action", ""), post.get("reason", "")
    if action in DESTRUCTIVE and post.get("confirm") != "1":
        messages.error(request, f"Nothing done: tick “I confirm” to {action.replace('_case', '').replace('_', ' ')}.")
        return redirect("quorums:moderation")
    try:
        if action == "create_quorum":
            services.quorum_create(
                actor=actor,
                name=post.get("name", ""),
                description=post.get("description", ""),
                reason=reason,
                **_posted_parameters(post),
            )
        elif action == "update_quorum":
            services.quorum_update(
                actor=actor, quorum_id=int(post["quorum"]), reason=reason, **_posted_parameters(post)
            )
        elif action in ("pause", "resume"):
            services.quorum_set_paused(
                actor=actor, quorum_id=int(post["quorum"]), paused=action == "pause", reason=reason
            )
        elif action in ("jail", "unjail", "remove"):
            state = {"jail": ValidatorState.JAILED, "unjail": ValidatorState.ACTIVE, "remove": ValidatorState.REMOVED}[
                action
            ]
            services.validator_set_state(actor=actor, validator_id=int(post["validator"]), state=state, reason=reason)
        elif action == "open_case":
            services.fraud_case_open(
                actor=actor,
                validator_id=int(post["validator"]),
                allegation=reason,
                round_id=int(post["round"]) if post.get("round") else None,
            )
        elif action in ("slash_case", "dismiss_case"):
            services.fraud_case_decide(
                actor=actor,
                case_id=int(post["case"]),
                slash=action == "slash_case",
                reason=reason,
                rate_bps=int(post.get("rate_bps") or 0),
                jail=bool(post.get("jail")),
            )
        elif action == "force_close":
            services.round_force_close(actor=actor, round_id=int(post["round"]), reason=reason)
        elif action == "resolve_parked":
            services.parked_resolve(
                actor=actor, parked_id=int(post["parked"]), reason=reason, retry=bool(post.get("retry"))
            )
        else:
            messages.error(request, "Unknown moderation action.")
            return redirect("quorums:moderation")
        messages.success(request, f"Done: {action.replace('_', ' ')}.")
    except (KeyError, ValueError):
        messages.error(request, "The form was incomplete.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("quorums:moderation")
