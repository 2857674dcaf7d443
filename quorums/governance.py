"""The governance actions quorums offers idaos: a passed proposal trusts or drops a quorum."""

from __future__ import annotations

from typing import Any

from portal.errors import DomainError

from .models import Quorum


def validate(idao: Any, payload: dict) -> dict:
    quorum_id = payload.get("quorum_id") if isinstance(payload, dict) else None
    if not isinstance(quorum_id, int) or isinstance(quorum_id, bool):
        raise DomainError(
            'A quorum action names the quorum by its integer id: {"quorum_id": 1}.', code="invalid_payload", status=422
        )
    if not Quorum.objects.filter(pk=quorum_id).exists():
        raise DomainError(f"There is no quorum {quorum_id}.", code="unknown_quorum", status=422)
    return {"quorum_id": quorum_id}


def _idao_of(proposal: Any) -> Any:
    return getattr(proposal, "idao", proposal)


def execute_trust(proposal: Any, payload: dict) -> dict:
    from .services import trust_set

    trust = trust_set(idao=_idao_of(proposal), quorum_id=payload["quorum_id"], active=True)
    return {"quorum_id": trust.quorum_id, "trusted": True}


def execute_drop(proposal: Any, payload: dict) -> dict:
    from .services import trust_set

    trust = trust_set(idao=_idao_of(proposal), quorum_id=payload["quorum_id"], active=False)
    return {"quorum_id": trust.quorum_id, "trusted": False}


def _name(payload: dict) -> str:
    q = Quorum.objects.filter(pk=payload.get("quorum_id")).first()  # type: ignore[misc]  # pk=None is a valid (empty) lookup
    return q.name if q else f"quorum {payload.get('quorum_id')}"


def describe_trust(payload: dict) -> str:
    return f"Trust {_name(payload)} to validate this iDAO's contributions."


def describe_drop(payload: dict) -> str:
    return f"Stop trusting {_name(payload)}; open rounds finish, no new ones are routed to it."
