"""Signed ballots: verify, then record under a per-voter lock. A later ballot (by its signed
timestamp) replaces the voter's counted ballot; every accepted ballot stays as a receipt.

Recording has one implementation per database. On PostgreSQL it is the SQL function
idaos_cast_ballot() (idaos/sql/idaos_cast_ballot.sql, one round trip); `ballot_record_spec` is
the same steps in readable Python: the specification of that function, and the path SQLite takes
(SQLite has no stored functions). tests/idaos/test_ballot_record.py proves both give the same
result case by case."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from portal.models import User

from .. import eip712
from ..errors import (
    DuplicateBallot,
    Forbidden,
    InvalidBallot,
    NotEligible,
    NotFound,
    NotMember,
    Superseded,
    VotingClosed,
)
from ..models import Ballot, Choice, Membership, MembershipStatus, Proposal, ProposalState, VotingPower

MAX_REASON = 5000
MAX_FUTURE_SECONDS = 300
SIGNATURE_RE = re.compile(r"^0x[0-9a-fA-F]{130}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
UINT64 = 2**64
# The advisory-lock class for proposals (any constant of our own; the object id is the proposal id).
LOCK_CLASS = 7120


@dataclass(frozen=True)
class VerifiedBallot:
    message: dict[str, Any]
    signature: str
    signer: str
    digest: str


def _int(value: Any, name: str, bound: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidBallot(f"message.{name} is an unsigned integer.", code="malformed_ballot")
    if isinstance(value, str):
        if not value.isdigit():
            raise InvalidBallot(f"message.{name} is an unsigned integer.", code="malformed_ballot")
        value = int(value)
    if not 0 <= value < bound:
        raise InvalidBallot(f"message.{name} is out of range.", code="malformed_ballot")
    return value


def clean_message(message: Any) -> dict[str, Any]:
    """The canonical ballot message, or InvalidBallot naming what is wrong."""
    if not isinstance(message, dict):
        raise InvalidBallot("message is the EIP-712 Ballot object.", code="malformed_ballot")
    missing = [f for f in eip712.MESSAGE_FIELDS if f not in message]
    extra = sorted(set(message) - set(eip712.MESSAGE_FIELDS))
    if missing:
        raise InvalidBallot(f"The ballot is missing: {', '.join(missing)}.", code="malformed_ballot")
    if extra:
        raise InvalidBallot(
            f"The ballot has fields the Ballot type does not: {', '.join(extra)}.", code="unexpected_fields"
        )
    voter = message["voter"]
    if not isinstance(voter, str) or not ADDRESS_RE.match(voter):
        raise InvalidBallot("message.voter is an Ethereum address.", code="malformed_ballot")
    for name in ("idao", "choice", "reason"):
        if not isinstance(message[name], str):
            raise InvalidBallot(f"message.{name} is a string.", code="malformed_ballot")
    if message["choice"] not in Choice.values:
        raise InvalidBallot("message.choice is for, against or abstain.", code="malformed_ballot")
    if len(message["reason"]) > MAX_REASON:
        raise InvalidBallot(
            f"The reason is {len(message['reason']):,} characters; the limit is {MAX_REASON:,}.", code="reason_too_long"
        )
    return {
        "voter": voter,
        "idao": message["idao"],
        "proposal": _int(message["proposal"], "proposal", 2**256),
        "choice": message["choice"],
        "reason": message["reason"],
        "timestamp": _int(message["timestamp"], "timestamp", UINT64),
    }


def _check_declared(domain: Any, types: Any, primary_type: Any) -> None:
    """Clients may send the domain and types they signed; when they do, they must be ours."""
    if domain is not None:
        if not isinstance(domain, dict):
            raise InvalidBallot("domain is an object.", code="wrong_domain")
        expected = eip712.domain()
        if "chainId" in domain and domain.get("chainId") != expected["chainId"]:
            raise InvalidBallot(
                f"The ballot was signed for chain {domain.get('chainId')}; this portal counts chain {expected['chainId']}.",
                code="wrong_chain_id",
            )
        if domain != expected:
            raise InvalidBallot(
                f"The EIP-712 domain must be exactly {expected} (see /governance/eip712.json).", code="wrong_domain"
            )
    if types is not None:
        declared = dict(types) if isinstance(types, dict) else None
        if declared is not None:
            declared.setdefault("EIP712Domain", eip712.EIP712_DOMAIN_TYPE)
        if declared != eip712.types():
            raise InvalidBallot(
                "The EIP-712 types must be exactly the published Ballot type (see /governance/eip712.json).",
                code="wrong_types",
            )
    if primary_type is not None and primary_type != eip712.PRIMARY_TYPE:
        raise InvalidBallot("primaryType must be Ballot.", code="wrong_types")


def verify(
    message: Any, signature: Any, *, domain: Any = None, types: Any = None, primary_type: Any = None
) -> VerifiedBallot:
    """Check shape and signature; no database access."""
    clean = clean_message(message)
    _check_declared(domain, types, primary_type)
    if not isinstance(signature, str) or not SIGNATURE_RE.match(signature):
        raise InvalidBallot("signature is 0x followed by 130 hex digits (65 bytes).", code="bad_signature")
    try:
        signer, digest = eip712.verify(clean, signature)
    except Exception:  # eth_account raises several types for unusable signatures
        raise InvalidBallot("The signature cannot be recovered.", code="bad_signature") from None
    if signer.lower() != clean["voter"].lower():
        for chain_id in getattr(settings, "SIWE_CHAIN_IDS", []):
            if chain_id == settings.PORTAL_CHAIN_ID:
                continue
            try:
                other, _ = eip712.verify(clean, signature, chain_id=chain_id)
            except Exception:  # noqa: S112 - only a diagnostic
                continue
            if other.lower() == clean["voter"].lower():
                raise InvalidBallot(
                    f"The ballot was signed for chain {chain_id}; this portal counts chain {settings.PORTAL_CHAIN_ID}.",
                    code="wrong_chain_id",
                )
        raise InvalidBallot(
            "The signature does not match the voter in the ballot (wrong key, domain or types).", code="bad_signature"
        )
    clean["voter"] = signer
    return VerifiedBallot(message=clean, signature=signature.lower(), signer=signer, digest=digest)


def ballot_cast(
    *,
    proposal_id: int,
    message: Any,
    signature: Any,
    user: User | None,
    domain: Any = None,
    types: Any = None,
    primary_type: Any = None,
    now: datetime | None = None,
) -> Ballot:
    """Record a signed ballot for a proposal."""
    now = now or timezone.now()
    if not 0 < proposal_id < 2**63:
        raise NotFound(f"There is no proposal {proposal_id}.")
    ballot = verify(message, signature, domain=domain, types=types, primary_type=primary_type)
    msg = ballot.message
    if msg["proposal"] != proposal_id:
        raise InvalidBallot(
            f"This ballot was signed for proposal {msg['proposal']}, not proposal {proposal_id}.", code="wrong_proposal"
        )
    if user is not None and user.address != ballot.signer:
        raise Forbidden("You may submit only ballots signed by your own address.", code="not_your_ballot")
    if msg["timestamp"] > now.timestamp() + MAX_FUTURE_SECONDS:
        raise InvalidBallot(
            f"The ballot's timestamp is more than {MAX_FUTURE_SECONDS} seconds ahead of the server clock.",
            code="timestamp_in_future",
        )
    record = ballot_record_sql if connection.vendor == "postgresql" else ballot_record_spec
    try:
        code, ballot_id, weight, info = record(proposal_id=proposal_id, ballot=ballot, now=now)
    except IntegrityError:
        code, ballot_id, weight, info = "duplicate_ballot", None, None, ""
    if code != "ok":
        _refuse(code, proposal_id, ballot.signer, info, user)
    return Ballot(id=ballot_id, **_counted_ballot(proposal_id, ballot, weight, now))


def _counted_ballot(proposal_id: int, ballot: VerifiedBallot, weight: int | None, now: datetime) -> dict[str, Any]:
    """The fields of the row a recorded ballot becomes (the SQL function inserts the same)."""
    msg = ballot.message
    return {
        "proposal_id": proposal_id,
        "voter": ballot.signer,
        "choice": msg["choice"],
        "reason": msg["reason"],
        "timestamp": msg["timestamp"],
        "weight": weight,
        "message": msg,
        "signature": ballot.signature,
        "digest": ballot.digest,
        "received_at": now,
        "counted": True,
    }


def _refuse(code: str, proposal_id: int, signer: str, info: str, user: User | None = None) -> None:
    if code == "not_found":
        raise NotFound(f"There is no proposal {proposal_id}.")
    if code in ("wrong_idao", "voting_not_open"):
        from ..selectors import proposals_visible

        # Another author's draft does not exist for this caller: no other answer may reveal it.
        if not proposals_visible(user).filter(pk=proposal_id).exists():
            raise NotFound(f"There is no proposal {proposal_id}.")
    if code == "wrong_idao":
        raise InvalidBallot(
            f"This ballot was signed for another iDAO; proposal {proposal_id} belongs to “{info}”.", code="wrong_idao"
        )
    if code == "voting_not_open":
        raise VotingClosed("Voting on this proposal has not opened yet.", code="voting_not_open")
    if code == "voting_closed":
        raise VotingClosed("Voting on this proposal is closed.")
    if code == "timestamp_outside_window":
        raise InvalidBallot("The ballot's timestamp is outside the voting window.", code="timestamp_outside_window")
    if code == "no_voting_power":
        proposal = Proposal.objects.select_related("idao").get(pk=proposal_id)
        if Membership.objects.filter(idao=proposal.idao, user__address=signer, status=MembershipStatus.ACTIVE).exists():
            raise NotEligible("You joined after voting opened; members are counted as they were when the vote started.")
        raise NotMember(f"Only members of {proposal.idao.name} may vote on its proposals.")
    if code == "duplicate_ballot":
        raise DuplicateBallot("This exact ballot was already received; nothing changed.")
    if code == "superseded":
        raise Superseded(
            "A ballot with the same or a later timestamp is already counted; sign a newer one to change your vote."
        )
    raise InvalidBallot(f"The ballot was refused ({code}).", code=code)


def ballot_record_sql(
    *, proposal_id: int, ballot: VerifiedBallot, now: datetime
) -> tuple[str, int | None, int | None, str]:
    """Record a verified ballot with idaos_cast_ballot(): (code, ballot id, weight, info)."""
    msg = ballot.message
    # Autocommit: the function call is its own transaction, one round trip.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT code, ballot_id, weight, info FROM idaos_cast_ballot(%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
            [
                proposal_id,
                msg["idao"],
                ballot.signer,
                msg["choice"],
                msg["reason"],
                msg["timestamp"],
                json.dumps(msg),
                ballot.signature,
                ballot.digest,
                now,
            ],
        )
        code, ballot_id, weight, info = cursor.fetchone()
    return code, ballot_id, weight, info or ""


def proposal_lock(proposal_id: int, *, shared: bool) -> None:
    """Ballots hold the proposal's lock shared; the closer takes it exclusively before its claim,
    so no ballot commits after the tally. An advisory lock: no row is written to take it. SQLite
    serialises writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            cursor.execute(f"SELECT {fn}(%s, %s)", [LOCK_CLASS, proposal_id % 2147483647])


def voter_lock(proposal_id: int, voter: str) -> None:
    """Serialise one voter's ballots on one proposal (an advisory lock, as in the SQL function)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7120))", [f"{voter}:{proposal_id}"])


def ballot_record_spec(
    *, proposal_id: int, ballot: VerifiedBallot, now: datetime
) -> tuple[str, int | None, int | None, str]:
    """idaos_cast_ballot() step by step: its specification, and the SQLite path."""
    msg = ballot.message
    with transaction.atomic():
        proposal_lock(proposal_id, shared=True)
        row = (
            Proposal.objects.filter(pk=proposal_id)
            .values("state", "voting_starts_at", "voting_ends_at", "idao__slug")
            .first()
        )
        if row is None:
            return "not_found", None, None, ""
        if msg["idao"] != row["idao__slug"]:
            return "wrong_idao", None, None, row["idao__slug"]
        if row["state"] in (ProposalState.DRAFT, ProposalState.PENDING) or (
            row["state"] == ProposalState.ACTIVE and now < row["voting_starts_at"]
        ):
            return "voting_not_open", None, None, ""
        if row["state"] != ProposalState.ACTIVE or now >= row["voting_ends_at"]:
            return "voting_closed", None, None, ""
        if not int(row["voting_starts_at"].timestamp()) <= msg["timestamp"] < row["voting_ends_at"].timestamp():
            return "timestamp_outside_window", None, None, ""
        voter_lock(proposal_id, ballot.signer)
        power = (
            VotingPower.objects.filter(proposal_id=proposal_id, voter=ballot.signer)
            .values_list("weight", flat=True)
            .first()
        )
        if power is None:
            return "no_voting_power", None, None, ""
        if Ballot.objects.filter(proposal_id=proposal_id, digest=ballot.digest).exists():
            return "duplicate_ballot", None, None, ""
        current = (
            Ballot.objects.filter(proposal_id=proposal_id, voter=ballot.signer, counted=True)
            .values_list("id", "timestamp")
            .first()
        )
        if current is not None:
            if msg["timestamp"] <= current[1]:
                return "superseded", None, None, ""
            Ballot.objects.filter(pk=current[0]).update(counted=False)
        created = Ballot.objects.create(**_counted_ballot(proposal_id, ballot, power, now))
        return "ok", created.pk, power, ""
