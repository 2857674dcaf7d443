"""Proposal actions: validate a payload on creation, execute it when the proposal passes (how a
proposal is described for humans is a read: idaos.selectors.proposal_describe). Kinds idaos does
not own are delegated to the handlers registered in idaos.hooks."""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from .. import hooks
from ..errors import Conflict, InvalidInput
from ..models import IDAO, Agent, AgentVersion, AIModel, ManifestEntry, ModelVersion, Proposal, ProposalKind
from ..rules import charter_of, clean_charter, clean_data_refs, clean_hash, clean_policy


def _keys(payload: dict, required: set[str], optional: frozenset[str] = frozenset()) -> None:
    missing = required - set(payload)
    extra = set(payload) - required - optional
    if missing:
        raise InvalidInput(f"The payload is missing: {', '.join(sorted(missing))}.")
    if extra:
        raise InvalidInput(f"The payload has unexpected field(s): {', '.join(sorted(extra))}.")


def _int_id(payload: dict, name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidInput(f"{name} is a positive integer id.")
    return value


def _model(idao: IDAO, payload: dict) -> AIModel:
    model = AIModel.objects.filter(pk=_int_id(payload, "model_id"), idao=idao).first()
    if model is None:
        raise InvalidInput(f"{idao.name} has no model with id {payload['model_id']}.")
    return model


def _current(model: AIModel) -> ModelVersion:
    version = model.versions.filter(current=True).first()
    if version is None:
        raise Conflict(f"Model “{model.name}” has no current version.", code="no_current_version")
    return version


SIGNAL_METHODS = ("single", "approval", "ranked")
MIN_OPTIONS, MAX_OPTIONS, MAX_OPTION_LABEL = 2, 10, 200


def clean_signal(payload: dict) -> dict:
    """A signal's payload: empty (for, against, abstain), or `options` (2 to 10 distinct labels)
    with a `method`: single (one option), approval (any non-empty subset) or ranked (instant
    runoff); docs/governance.md "Signals with several options"."""
    if not payload:
        return {}
    _keys(payload, {"options", "method"})
    options, method = payload["options"], payload["method"]
    if method not in SIGNAL_METHODS:
        raise InvalidInput(f"method is one of {', '.join(SIGNAL_METHODS)}.", code="invalid_options")
    if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise InvalidInput(
            f"options is a list of {MIN_OPTIONS} to {MAX_OPTIONS} option labels.", code="invalid_options"
        )
    labels = []
    for i, label in enumerate(options):
        if not isinstance(label, str) or not label.strip() or len(label.strip()) > MAX_OPTION_LABEL:
            raise InvalidInput(
                f"Option {i + 1} is a label of 1 to {MAX_OPTION_LABEL} characters.", code="invalid_options"
            )
        labels.append(" ".join(label.split()))
    if len({label.casefold() for label in labels}) != len(labels):
        raise InvalidInput("Two options have the same label.", code="invalid_options")
    return {"options": labels, "method": method}


def validate(idao: IDAO, kind: str, payload: Any) -> dict:
    """Return the cleaned payload for `kind` or raise InvalidInput with the precise reason."""
    if not isinstance(payload, dict):
        raise InvalidInput("The payload is a JSON object.")
    if kind == ProposalKind.SIGNAL:
        return clean_signal(payload)
    if kind in (ProposalKind.INCLUDE_DATA, ProposalKind.REMOVE_DATA):
        payload = dict(payload)
        if "data_ref" in payload and "data_refs" not in payload:
            payload["data_refs"] = [payload.pop("data_ref")]
        _keys(payload, {"model_id", "data_refs"})
        model = _model(idao, payload)
        if kind == ProposalKind.INCLUDE_DATA:
            refs = clean_data_refs(idao, payload["data_refs"])
        else:
            if not isinstance(payload["data_refs"], list) or not payload["data_refs"]:
                raise InvalidInput("data_refs is a non-empty list of references in the current manifest.")
            refs = [r.lower() if isinstance(r, str) and r.startswith("0x") else r for r in payload["data_refs"]]
        present = set(
            ManifestEntry.objects.filter(model_version=_current(model), data_ref__in=refs).values_list(
                "data_ref", flat=True
            )
        )
        if kind == ProposalKind.INCLUDE_DATA and present:
            raise InvalidInput(f"Already in the training manifest: {', '.join(sorted(present))}.")
        if kind == ProposalKind.REMOVE_DATA and set(refs) - present:
            raise InvalidInput(f"Not in the training manifest: {', '.join(sorted(set(refs) - present))}.")
        return {"model_id": model.pk, "data_refs": refs}
    if kind == ProposalKind.APPROVE_MODEL_UPDATE:
        _keys(payload, {"model_id", "artifact_hash"})
        model = _model(idao, payload)
        return {"model_id": model.pk, "artifact_hash": clean_hash(payload["artifact_hash"])}
    if kind == ProposalKind.CHANGE_AGENT_POLICY:
        _keys(payload, {"agent_id", "behaviour_policy"}, frozenset({"artifact_hash"}))
        agent = Agent.objects.filter(pk=_int_id(payload, "agent_id"), idao=idao).first()
        if agent is None:
            raise InvalidInput(f"{idao.name} has no agent with id {payload['agent_id']}.")
        cleaned = {"agent_id": agent.pk, "behaviour_policy": clean_policy(payload["behaviour_policy"])}
        if payload.get("artifact_hash"):
            cleaned["artifact_hash"] = clean_hash(payload["artifact_hash"])
        return cleaned
    if kind == ProposalKind.CHANGE_CHARTER:
        _keys(payload, {"changes"})
        changes = payload["changes"]
        if not isinstance(changes, dict) or not changes:
            raise InvalidInput("changes is a non-empty object of charter fields.")
        clean_charter(changes, base=charter_of(idao))
        return {"changes": changes}
    handler = hooks.action_handler(kind)
    if handler is None:
        raise InvalidInput(f"Unknown proposal kind “{kind}”.", code="unknown_kind")
    return handler.validate(idao, payload)


def execute(proposal: Proposal) -> dict:
    """Apply a passed proposal's action. Runs inside the closing transaction; raises to fail."""
    kind, payload, idao = proposal.kind, proposal.payload, proposal.idao
    if kind == ProposalKind.SIGNAL:
        return {}
    if kind == ProposalKind.INCLUDE_DATA:
        version = _current(AIModel.objects.get(pk=payload["model_id"], idao=idao))
        added = []
        for ref in payload["data_refs"]:
            hooks.check_data_ref(idao, ref, "training")
            _, created = ManifestEntry.objects.get_or_create(
                model_version=version, data_ref=ref, defaults={"added_by_proposal": proposal}
            )
            if created:
                added.append(ref)
        return {"model_version_id": version.pk, "added": added}
    if kind == ProposalKind.REMOVE_DATA:
        version = _current(AIModel.objects.get(pk=payload["model_id"], idao=idao))
        removed, _ = ManifestEntry.objects.filter(model_version=version, data_ref__in=payload["data_refs"]).delete()
        return {"model_version_id": version.pk, "removed": removed}
    if kind == ProposalKind.APPROVE_MODEL_UPDATE:
        model = AIModel.objects.select_for_update().get(pk=payload["model_id"], idao=idao)
        previous = model.versions.filter(current=True).first()
        number = (model.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        model.versions.filter(current=True).update(current=False)
        version = ModelVersion.objects.create(
            model=model,
            number=number,
            artifact_hash=payload["artifact_hash"],
            current=True,
            approved_by_proposal=proposal,
        )
        if previous is not None:
            # The new version inherits the manifest it was approved to learn from.
            ManifestEntry.objects.bulk_create(
                [
                    ManifestEntry(model_version=version, data_ref=e.data_ref, added_by_proposal=e.added_by_proposal)
                    for e in previous.manifest.all()
                ]
            )
        return {"model_version_id": version.pk, "number": number}
    if kind == ProposalKind.CHANGE_AGENT_POLICY:
        agent = Agent.objects.select_for_update().get(pk=payload["agent_id"], idao=idao)
        last = agent.versions.order_by("-number").first()
        number = (last.number if last else 0) + 1
        # The version's artifact is the one the proposal names, else the agent's running artifact
        # (a policy change keeps the code): usage reports attribute rewards by it.
        artifact = payload.get("artifact_hash") or (last.artifact_hash if last else "")
        AgentVersion.objects.create(
            agent=agent,
            number=number,
            behaviour_policy=payload["behaviour_policy"],
            artifact_hash=artifact,
            approved_by_proposal=proposal,
        )
        agent.behaviour_policy = payload["behaviour_policy"]
        agent.save(update_fields=["behaviour_policy"])
        return {"agent_version": number}
    if kind == ProposalKind.CHANGE_CHARTER:
        locked = IDAO.objects.select_for_update().get(pk=idao.pk)
        fields = clean_charter(payload["changes"], base=charter_of(locked))
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
        return {"changed": sorted(payload["changes"])}
    handler = hooks.action_handler(kind)
    if handler is None:
        raise InvalidInput(f"No handler is registered for proposal kind “{kind}”.", code="unknown_kind")
    return handler.execute(proposal, payload) or {}
