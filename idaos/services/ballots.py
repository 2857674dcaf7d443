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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from eth_utils import to_checksum_address

from portal import signatures
from portal.chains import client as chain_client
from portal.models import User
from portal.prepared import Int8, prepared_cursor

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
from ..tally import is_multi_option

MAX_REASON = 5000
MAX_OPTIONS = 10
YES_NO_CHOICES = (Choice.FOR.value, Choice.AGAINST.value, Choice.ABSTAIN.value)
# The recorded choice of an OptionBallot (its options are in the signed message).
OPTIONS_CHOICE = Choice.OPTIONS.value
MAX_FUTURE_SECONDS = 300
SIGNATURE_RE = re.compile(r"^0x(?:[0-9a-fA-F]{2}){0,16384}$")
EOA_SIGNATURE_LEN = 132  # "0x" + 65 bytes
# A contract wallet that approves on chain (a Safe's signedMessages) signs with nothing.
ON_CHAIN_APPROVAL = "0x"
PENDING = "pending"
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
    # portal.signatures.verify's answer: eoa, erc1271, erc6492, or `pending` (a contract wallet
    # that signed "0x" and has not approved the digest on chain yet).
    verified_by: str = signatures.EOA
    chain_id: int | None = None
    block_number: int | None = None


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
    """The canonical ballot message (a Ballot, or an OptionBallot: one with `options` instead of
    `choice`), or InvalidBallot naming what is wrong."""
    if not isinstance(message, dict):
        raise InvalidBallot("message is the EIP-712 Ballot object.", code="malformed_ballot")
    if eip712.is_option_ballot(message):
        return _clean_option_message(message)
    voter = _check_shape(message, eip712.MESSAGE_FIELDS, "Ballot", strings=("idao", "choice", "reason"))
    if message["choice"] not in YES_NO_CHOICES:
        raise InvalidBallot("message.choice is for, against or abstain.", code="malformed_ballot")
    _check_reason(message["reason"])
    return {
        "voter": voter,
        "idao": message["idao"],
        "proposal": _int(message["proposal"], "proposal", 2**256),
        "choice": message["choice"],
        "reason": message["reason"],
        "timestamp": _int(message["timestamp"], "timestamp", UINT64),
    }


def _check_shape(message: dict[str, Any], fields: Sequence[str], type_name: str, *, strings: Sequence[str]) -> str:
    """The fields both ballot types check alike (exactly `fields`, an address as voter, `strings`
    as strings), in the order their codes are reported; returns the voter."""
    missing = [f for f in fields if f not in message]
    extra = sorted(set(message) - set(fields))
    if missing:
        raise InvalidBallot(f"The ballot is missing: {', '.join(missing)}.", code="malformed_ballot")
    if extra:
        raise InvalidBallot(
            f"The ballot has fields the {type_name} type does not: {', '.join(extra)}.", code="unexpected_fields"
        )
    voter = message["voter"]
    if not isinstance(voter, str) or not ADDRESS_RE.match(voter):
        raise InvalidBallot("message.voter is an Ethereum address.", code="malformed_ballot")
    for name in strings:
        if not isinstance(message[name], str):
            raise InvalidBallot(f"message.{name} is a string.", code="malformed_ballot")
    return voter


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON:
        raise InvalidBallot(
            f"The reason is {len(reason):,} characters; the limit is {MAX_REASON:,}.", code="reason_too_long"
        )


def _clean_option_message(message: dict[str, Any]) -> dict[str, Any]:
    """An OptionBallot's canonical message: its shape, and options that are distinct indices
    (which options the proposal has, and how many its method takes, is `check_selection`'s)."""
    voter = _check_shape(message, eip712.OPTION_MESSAGE_FIELDS, "OptionBallot", strings=("idao", "reason"))
    options = message["options"]
    if not isinstance(options, list) or len(options) > MAX_OPTIONS:
        raise InvalidBallot(
            f"message.options is a list of at most {MAX_OPTIONS} option indices.", code="malformed_ballot"
        )
    if any(isinstance(o, bool) or not isinstance(o, int) or not 0 <= o < 256 for o in options):
        raise InvalidBallot("message.options are option indices (0 for the first option).", code="malformed_ballot")
    if not options:
        raise InvalidBallot("The ballot picks no option; pick at least one.", code="empty_selection")
    if len(set(options)) != len(options):
        raise InvalidBallot("The ballot lists an option more than once.", code="duplicate_option")
    _check_reason(message["reason"])
    return {
        "voter": voter,
        "idao": message["idao"],
        "proposal": _int(message["proposal"], "proposal", 2**256),
        "options": list(options),
        "reason": message["reason"],
        "timestamp": _int(message["timestamp"], "timestamp", UINT64),
    }


def check_selection(options: list[int], *, method: str, count: int) -> None:
    """An OptionBallot's options against its proposal's (`count` options, `method`): every index
    names an option, and a single-choice ballot picks exactly one. Pure (the recount uses it)."""
    unknown = [o for o in options if o >= count]
    if unknown:
        raise InvalidBallot(
            f"The proposal has options 0 to {count - 1}; there is no option {unknown[0]}.", code="unknown_option"
        )
    if method == "single" and len(options) != 1:
        raise InvalidBallot(
            f"This is a single-choice signal: pick one option, not {len(options)}.", code="too_many_options"
        )


def _check_declared(domain: Any, types: Any, primary_type: Any, *, option_ballot: bool = False) -> None:
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
        expected_types = eip712.option_types() if option_ballot else eip712.types()
        if declared != expected_types:
            raise InvalidBallot(
                "The EIP-712 types must be exactly the published Ballot type, or the OptionBallot type for a "
                "ballot with options (see /governance/eip712.json).",
                code="wrong_types",
            )
    expected_primary = eip712.OPTION_PRIMARY_TYPE if option_ballot else eip712.PRIMARY_TYPE
    if primary_type is not None and primary_type != expected_primary:
        raise InvalidBallot(f"primaryType must be {expected_primary}.", code="wrong_types")


def _wrong_chain(clean: dict[str, Any], signature: str) -> int | None:
    """The sign-in chain an EOA signed this ballot for instead of the portal's (a diagnostic)."""
    for chain_id in getattr(settings, "SIWE_CHAIN_IDS", []):
        if chain_id == settings.PORTAL_CHAIN_ID:
            continue
        try:
            other, _ = eip712.verify(clean, signature, chain_id=chain_id)
        except Exception:  # noqa: S112 - only a diagnostic
            continue
        if other.lower() == clean["voter"].lower():
            return chain_id
    return None


def verify(
    message: Any, signature: Any, *, domain: Any = None, types: Any = None, primary_type: Any = None
) -> VerifiedBallot:
    """Check shape and signature through portal.signatures.verify on the portal's chain
    (PORTAL_CHAIN_ID): an EOA by ECDSA recovery with no RPC call, a contract wallet by ERC-1271
    (or the legacy form) or ERC-6492. No database access. A contract wallet's empty signature
    ("0x") that its wallet does not accept yet is a `pending` ballot (approval on chain)."""
    clean = clean_message(message)
    _check_declared(domain, types, primary_type, option_ballot=eip712.is_option_ballot(clean))
    if not isinstance(signature, str) or not SIGNATURE_RE.match(signature):
        raise InvalidBallot(
            "signature is 0x followed by hex digits (65 bytes for an EOA; a contract wallet's may be longer, or "
            "empty when it approves on chain).",
            code="bad_signature",
        )
    chain_id = settings.PORTAL_CHAIN_ID
    fast = eip712.fast_digest(clean, chain_id=chain_id)
    if fast is None:
        try:
            digest = bytes.fromhex(eip712.digest(clean, chain_id=chain_id)[2:])
        except Exception:  # eth_account refuses a mis-checksummed voter address
            raise InvalidBallot("The signature cannot be recovered.", code="bad_signature") from None
    else:
        digest = fast
    voter = clean["voter"]
    # fast_digest accepts a mixed-case address only if it is the EIP-55 one: no second checksum.
    signer = voter if fast is not None and voter[2:] != voter[2:].lower() else to_checksum_address(voter)
    if signature == ON_CHAIN_APPROVAL and chain_client(chain_id) is None:
        raise InvalidBallot(
            f"An empty signature is a contract wallet's on-chain approval, and this portal has no RPC node for "
            f"chain {chain_id} to check it (PORTAL_CHAIN_RPC).",
            code=signatures.UNVERIFIABLE,
            status=401,
        )
    checked = signatures.verify(address=signer, digest=digest, signature=signature, chain_id=chain_id)
    clean["voter"] = signer
    if not checked.ok:
        if (
            signature == ON_CHAIN_APPROVAL
            and checked.reason == signatures.BAD_SIGNATURE
            and (checked.verified_by == signatures.ERC1271)
        ):
            # The address has code and does not accept the digest yet: a Safe whose owners
            # approve it on chain. Recorded uncounted; re-checked until the proposal closes.
            return VerifiedBallot(
                message=clean,
                signature=signature,
                signer=signer,
                digest="0x" + digest.hex(),
                verified_by=PENDING,
                chain_id=chain_id,
            )
        if checked.reason == signatures.BAD_SIGNATURE and len(signature) == EOA_SIGNATURE_LEN:
            other = _wrong_chain(clean, signature)
            if other is not None:
                raise InvalidBallot(
                    f"The ballot was signed for chain {other}; this portal counts chain {chain_id}.",
                    code="wrong_chain_id",
                )
        if checked.reason == signatures.BAD_SIGNATURE and checked.verified_by in (None, signatures.EOA):
            raise InvalidBallot(
                "The signature does not match the voter in the ballot (wrong key, domain or types).",
                code="bad_signature",
            )
        checked.raise_for_failure(InvalidBallot)
    return VerifiedBallot(
        message=clean,
        signature=signature.lower(),
        signer=signer,
        digest="0x" + digest.hex(),
        verified_by=checked.verified_by or signatures.EOA,
        chain_id=checked.chain_id,
        block_number=checked.block_number,
    )


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
    return _recorded(
        *ballot_submit(
            proposal_id=proposal_id,
            message=message,
            signature=signature,
            user=user,
            domain=domain,
            types=types,
            primary_type=primary_type,
            now=now,
        )
    )


def ballot_submit(
    *,
    proposal_id: int,
    message: Any,
    signature: Any,
    user: User | None,
    domain: Any = None,
    types: Any = None,
    primary_type: Any = None,
    now: datetime | None = None,
) -> tuple[int | None, dict[str, Any]]:
    """ballot_cast without the model instance: the recorded row's id and its column values by
    attname (the JSON API answers from these: selectors.ballot_row_dict)."""
    now = now or timezone.now()
    if not 0 < proposal_id < 2**63:
        raise NotFound(f"There is no proposal {proposal_id}.")
    if isinstance(signature, str) and len(signature) != EOA_SIGNATURE_LEN:
        # A contract-wallet signature costs RPC calls: refuse a ballot that cannot be this
        # caller's, or this proposal's, before asking any node (EOA ballots keep their order).
        early = clean_message(message)
        if early["proposal"] != proposal_id:
            raise InvalidBallot(
                f"This ballot was signed for proposal {early['proposal']}, not proposal {proposal_id}.",
                code="wrong_proposal",
            )
        if user is not None and user.address.lower() != early["voter"].lower():
            raise Forbidden("You may submit only ballots signed by your own address.", code="not_your_ballot")
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
    if "options" in msg:
        # Only OptionBallots read the proposal's options here; a Ballot keeps its one round trip.
        # Whether the proposal takes this type at all is the record's check (wrong_ballot_type).
        row = Proposal.objects.filter(pk=proposal_id).values_list("kind", "payload", "state").first()
        if row is not None and row[2] != ProposalState.DRAFT and is_multi_option(row[0], row[1]):
            check_selection(msg["options"], method=row[1]["method"], count=len(row[1]["options"]))
    # One look-up of the connection (each `connection.<name>` is one: a thread/task-local read).
    db = connections[DEFAULT_DB_ALIAS]
    try:
        if db.vendor == "postgresql":
            code, ballot_id, weight, info = ballot_record_sql(proposal_id=proposal_id, ballot=ballot, now=now, db=db)
        else:
            code, ballot_id, weight, info = ballot_record_spec(proposal_id=proposal_id, ballot=ballot, now=now)
    except IntegrityError:
        code, ballot_id, weight, info = "duplicate_ballot", None, None, ""
    if code != "ok":
        _refuse(code, proposal_id, ballot.signer, info, user)
    return ballot_id, _counted_ballot(proposal_id, ballot, weight, now)


# Ballot's columns in their declared order: a row built from them positionally, as Django builds
# one it reads (Model.from_db), skips the keyword path's per-field lookups (a tenth of the
# service's own Python per ballot).
_COLUMNS = tuple(f.attname for f in Ballot._meta.concrete_fields)


def _recorded(ballot_id: int | None, fields: dict[str, Any]) -> Ballot:
    """The Ballot row the record inserted (its id and the fields _counted_ballot gives)."""
    fields = {"id": ballot_id, **fields}
    return Ballot(*(fields[name] for name in _COLUMNS))


def _counted_ballot(
    proposal_id: int, ballot: VerifiedBallot, weight: int | Decimal | None, now: datetime
) -> dict[str, Any]:
    """The fields of the row a recorded ballot becomes (the SQL function inserts the same)."""
    msg = ballot.message
    return {
        "proposal_id": proposal_id,
        "voter": ballot.signer,
        "choice": msg.get("choice", OPTIONS_CHOICE),
        "reason": msg["reason"],
        "timestamp": msg["timestamp"],
        "weight": weight,
        "message": msg,
        "signature": ballot.signature,
        "digest": ballot.digest,
        "received_at": now,
        "counted": ballot.verified_by != PENDING,
        "verified_by": ballot.verified_by,
        "verified_chain_id": ballot.chain_id,
        "verified_block": ballot.block_number,
    }


def _refuse(code: str, proposal_id: int, signer: str, info: str, user: User | None = None) -> None:
    if code == "not_found":
        raise NotFound(f"There is no proposal {proposal_id}.")
    if code in ("wrong_idao", "voting_not_open", "wrong_ballot_type"):
        from ..selectors import proposals_visible

        # Another author's draft does not exist for this caller: no other answer may reveal it.
        if not proposals_visible(user).filter(pk=proposal_id).exists():
            raise NotFound(f"There is no proposal {proposal_id}.")
    if code == "wrong_idao":
        raise InvalidBallot(
            f"This ballot was signed for another iDAO; proposal {proposal_id} belongs to “{info}”.", code="wrong_idao"
        )
    if code == "wrong_ballot_type":
        raise InvalidBallot(
            f"Proposal {proposal_id} takes "
            + (
                "OptionBallots (it has options)"
                if Proposal.objects.filter(pk=proposal_id, kind="signal", payload__has_key="options").exists()
                else "Ballots (for, against or abstain)"
            )
            + "; see /governance/eip712.json.",
            code="wrong_ballot_type",
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
    *, proposal_id: int, ballot: VerifiedBallot, now: datetime, db: BaseDatabaseWrapper | None = None
) -> tuple[str, int | None, int | Decimal | None, str]:
    """Record a verified ballot with idaos_cast_ballot(): (code, ballot id, weight, info)."""
    msg = ballot.message
    chain_id, block = ballot.chain_id, ballot.block_number
    # Autocommit: the function call is its own transaction, one round trip. Prepared once per
    # connection where settings allow (portal.prepared): only the values travel.
    with prepared_cursor(db) as cursor:
        cursor.execute(
            "SELECT code, ballot_id, weight, info FROM idaos_cast_ballot("
            "%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s::bigint, %s::bigint)",
            [
                Int8(proposal_id),
                msg["idao"],
                ballot.signer,
                msg.get("choice", OPTIONS_CHOICE),
                msg["reason"],
                Int8(msg["timestamp"]),
                json.dumps(msg),
                ballot.signature,
                ballot.digest,
                now,
                ballot.verified_by,
                None if chain_id is None else Int8(chain_id),
                None if block is None else Int8(block),
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
) -> tuple[str, int | None, int | Decimal | None, str]:
    """idaos_cast_ballot() step by step: its specification, and the SQLite path."""
    msg = ballot.message
    with transaction.atomic():
        proposal_lock(proposal_id, shared=True)
        row = (
            Proposal.objects.filter(pk=proposal_id)
            .values("state", "voting_starts_at", "voting_ends_at", "idao__slug", "kind", "payload")
            .first()
        )
        if row is None:
            return "not_found", None, None, ""
        if msg["idao"] != row["idao__slug"]:
            return "wrong_idao", None, None, row["idao__slug"]
        if is_multi_option(row["kind"], row["payload"]) != ("options" in msg):
            return "wrong_ballot_type", None, None, ""
        if row["state"] in (ProposalState.DRAFT, ProposalState.PENDING) or (
            row["state"] == ProposalState.ACTIVE and now < row["voting_starts_at"]  # type: ignore[operator]  # an active proposal has its voting window
        ):
            return "voting_not_open", None, None, ""
        if row["state"] != ProposalState.ACTIVE or now >= row["voting_ends_at"]:  # type: ignore[operator]  # an active proposal has its voting window
            return "voting_closed", None, None, ""
        if not int(row["voting_starts_at"].timestamp()) <= msg["timestamp"] < row["voting_ends_at"].timestamp():  # type: ignore[union-attr]  # an active proposal has its voting window
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
            if ballot.verified_by != PENDING:
                Ballot.objects.filter(pk=current[0]).update(counted=False)
        created = Ballot.objects.create(**_counted_ballot(proposal_id, ballot, power, now))
        return "ok", created.pk, power, ""


def pending_ballot_recheck(*, ballot_id: int, now: datetime | None = None) -> str:
    """Ask the chain again whether a pending ballot's wallet accepts its digest (a Safe that
    approved it on chain answers ERC-1271 for the empty signature). Returns what happened:
    `counted`, `superseded` (valid, but the voter's counted ballot is later), `pending` (not yet,
    or the chain did not answer: the next beat tries again), `closed` (the proposal is no longer
    open: the ballot stays pending and is never counted) or `not_pending`. Safe to run twice."""
    now = now or timezone.now()
    row = (
        Ballot.objects.filter(pk=ballot_id, verified_by=PENDING)
        .values("proposal_id", "voter", "digest", "signature", "proposal__state", "proposal__voting_ends_at")
        .first()
    )
    if row is None:
        return "not_pending"
    if row["proposal__state"] != ProposalState.ACTIVE or now >= row["proposal__voting_ends_at"]:  # type: ignore[operator]  # an active proposal has its voting window
        return "closed"
    chain_id = settings.PORTAL_CHAIN_ID
    checked = signatures.verify(
        address=row["voter"],
        digest=bytes.fromhex(row["digest"][2:]),
        signature=row["signature"],
        chain_id=chain_id,
        use_cache=False,  # "not yet" must not be remembered: the owners may approve any moment
    )
    if not checked.ok:
        return PENDING
    proposal_id = row["proposal_id"]
    with transaction.atomic():
        # The closer takes this lock exclusively before it tallies: no ballot is counted after.
        proposal_lock(proposal_id, shared=True)
        open_now = Proposal.objects.filter(
            pk=proposal_id, state=ProposalState.ACTIVE, voting_ends_at__gt=timezone.now()
        ).exists()
        if not open_now:
            return "closed"
        voter_lock(proposal_id, row["voter"])
        ballot = Ballot.objects.select_for_update().filter(pk=ballot_id, verified_by=PENDING).first()
        if ballot is None:
            return "not_pending"
        current = Ballot.objects.filter(proposal_id=proposal_id, voter=ballot.voter, counted=True).first()
        outcome = "counted"
        if current is not None and current.timestamp >= ballot.timestamp:
            outcome = "superseded"
        elif current is not None:
            Ballot.objects.filter(pk=current.pk).update(counted=False)
        ballot.counted = outcome == "counted"
        ballot.verified_by = checked.verified_by or signatures.ERC1271
        ballot.verified_chain_id = checked.chain_id
        ballot.verified_block = checked.block_number
        ballot.save(update_fields=["counted", "verified_by", "verified_chain_id", "verified_block"])
    return outcome


def pending_ballots_recheck(*, now: datetime | None = None) -> dict[str, int]:
    """Every pending ballot of an open proposal, rechecked once (the beat task)."""
    now = now or timezone.now()
    ids = Ballot.objects.filter(
        verified_by=PENDING, proposal__state=ProposalState.ACTIVE, proposal__voting_ends_at__gt=now
    ).values_list("pk", flat=True)
    outcomes: dict[str, int] = {}
    for pk in list(ids[:1000]):
        outcome = pending_ballot_recheck(ballot_id=pk, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
