"""Factories and small builders shared by the quorums and dats tests."""

from __future__ import annotations

import contextlib
import io
import itertools
from datetime import timedelta

import factory
from django.utils import timezone

from contributions.uploads import HashingUploadHandler
from idaos.models import IDAO, Membership
from ledger import owners
from ledger import services as ledger
from portal.models import User
from quorums import hooks, services
from quorums.eip712 import scored_verdict_typed_data, verdict_typed_data
from quorums.models import Quorum, QuorumTrust, Validator
from tests.factories import IdaoFactory, MembershipFactory, UserFactory, user_of  # noqa: F401
from tests.personas import Persona, many

_seq = itertools.count(1)


class QuorumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quorum

    name = factory.Sequence(lambda n: f"Quorum {n}")
    min_bond = 100
    committee_size = 3
    threshold_bps = 6667
    min_participation_bps = 5000
    round_duration = timedelta(hours=1)
    slash_equivocation_bps = 5000
    slash_minority_bps = 1000
    slash_absence_bps = 200


def member(idao: IDAO, p: Persona) -> User:
    user = user_of(p)
    Membership.objects.get_or_create(idao=idao, user=user, defaults={"status": "active", "joined_at": timezone.now()})
    return user


def fund(p: Persona, amount: int) -> None:
    ledger.mint(
        to=owners.user(p.address),
        asset="LAZ",
        amount=amount,
        idempotency_key=f"test-fund:{p.address}:{next(_seq)}:{timezone.now().timestamp()}",
    )


def bonded(quorum: Quorum, p: Persona, stake: int = 1000) -> Validator:
    fund(p, stake)
    return services.validator_bond(quorum_id=quorum.pk, user=user_of(p), amount=stake)


def setup_network(n_validators: int = 3, stakes: list[int] | None = None, **quorum_kwargs):
    """An iDAO trusting one quorum with n bonded validators. Returns (idao, quorum, personas)."""
    idao = IdaoFactory()
    quorum_kwargs.setdefault("committee_size", n_validators)
    quorum = QuorumFactory(**quorum_kwargs)
    QuorumTrust.objects.create(idao=idao, quorum=quorum, active=True)
    personas = many(n_validators, start=70_000 + next(_seq) * 100)
    for i, p in enumerate(personas):
        bonded(quorum, p, (stakes or [1000] * n_validators)[i])
    return idao, quorum, personas


def signed(p: Persona, round_, verdict: str = "approve", reason: str = "", **override) -> dict:
    typed = verdict_typed_data(
        validator=p.address, round_id=round_.pk, content_hash=round_.content_hash, verdict=verdict, reason=reason
    )
    typed["message"].update(override)
    return {"message": typed["message"], "signature": p.sign_typed(typed)}


def scored(
    p: Persona, round_, verdict: str = "approve", reason: str = "", *, scores: dict, evidence: str = "{}"
) -> dict:
    """A signed ScoredVerdict (EIP-712 version 2): `scores` may name only some criteria (the
    rest are 10000)."""
    full = {"authenticity": 10_000, "ownership": 10_000, "quality": 10_000, "uniqueness": 10_000} | scores
    typed = scored_verdict_typed_data(
        validator=p.address,
        round_id=round_.pk,
        content_hash=round_.content_hash,
        verdict=verdict,
        reason=reason,
        scores=full,
        evidence=evidence,
    )
    return {"message": typed["message"], "signature": p.sign_typed(typed)}


def staged(content: bytes, name: str = "data.csv", content_type: str = "text/csv"):
    """Run bytes through the real streaming upload handler; returns the HashedUpload."""
    handler = HashingUploadHandler()
    try:
        handler.new_file("file", name, content_type, len(content), None, None)
    except Exception as exc:  # StopFutureHandlers is how the handler claims the file
        if type(exc).__name__ != "StopFutureHandlers":
            raise
    stream = io.BytesIO(content)
    offset = 0
    for chunk in iter(lambda: stream.read(handler.chunk_size), b""):
        handler.receive_data_chunk(chunk, offset)
        offset += len(chunk)
    return handler.file_complete(offset)


# A subject kind of the tests' own, so rounds can be exercised without contributions (and
# without the downstream hooks that act on contributions).
PROBE = "probe"
hooks.register_subject_kind(
    PROBE,
    describe=lambda refs: {
        ref: {"title": f"probe {ref}", "size": len(f"probe {ref}".encode()), "flags": []} for ref in refs
    },
    open=lambda refs: {
        ref: (lambda ref=ref: (io.BytesIO(f"probe {ref}".encode()), f"probe-{ref}.txt")) for ref in refs
    },
)


@contextlib.contextmanager
def closed_hook(fn):
    """Run `fn` as an extra on_rounds_closed hook for the duration of the block."""
    hooks.on_rounds_closed(fn)
    try:
        yield
    finally:
        hooks._ON_ROUNDS_CLOSED.remove(fn)
