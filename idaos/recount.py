"""Recount a proposal from its export alone: no database, no network (unless a contract-wallet
ballot needs a chain, `--rpc`).

`recount(export)` takes the JSON of `/proposals/<id>/ballots.json` (format
`idao-proposal-export/1`, built by `idaos.selectors.proposal_export`) and checks, in order,
raising `Mismatch` with the first difference:

1. the counting rule (voting rule, quorum, threshold) is one the portal knows, and the same as the
   proposal's;
2. the EIP-712 domain and types are the portal's Ballot type (and, for a signal with options, its
   OptionBallot type, `eip712.option_ballot`);
3. the voting-power snapshot: one row per voter, each weight what the rule gives for the balance;
4. every ballot (counted and superseded): its message is a canonical Ballot for this proposal and
   iDAO, its signature recovers the voter (EIP-712, ECDSA) and its digest; a contract-wallet
   ballot (`verified_by` erc1271 or erc6492) is checked through `portal.signatures.verify` on the
   export's chain with `rpc` as its node (at the latest block: a wallet whose owners changed
   since may refuse), or listed as needing one; a `pending` ballot (a wallet that never approved
   on chain) must be uncounted; its weight is the voter's snapshot weight;
5. the counted ballots are each voter's latest by signed timestamp (`tally.latest_per_voter`);
6. the tally, rebuilt with `tally.compute` (the code the portal's page and closer use), equals
   the export's; for a signal with options (docs/governance.md "Signals with several options")
   every ballot is an OptionBallot whose options the proposal has (`ballots.check_selection`),
   and `tally.compute_options` (totals, instant-runoff rounds, winner) rebuilds the tally, with
   the options and method checked against the anchored record;
7. the ballots' Merkle root, rebuilt with `tally.ballots_root`, equals the export's;
8. the anchor: the ledger proof bundle of the proposal's result record verifies
   (`ledger.proofs.check_proof`: leaf, proof, root, block header, header chain) and the record
   carries the same rule, tally and ballots root.

A later format may add a `delegations` graph (the signed delegations used at the snapshot); step 3
is where its resolved weights are re-derived."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from ledger import proofs
from portal.eth import recover_digest

from . import delegation, eip712, tally
from .models import VotingRule

EXPORT_FORMAT = tally.EXPORT_FORMAT
RESULT_KIND = "idao.proposal.result"
EOA = eip712.VERIFIED_BY_EOA
PENDING = "pending"  # idaos.services.ballots.PENDING: a contract wallet's approval not seen on chain
CLOSED_STATES = ("passed", "rejected", "quorum_not_met", "executed", "execution_failed")
_UINT = re.compile(r"^(0|[1-9][0-9]{0,77})$")
_TALLY_KEYS: tuple[str, ...] = (
    "for",
    "against",
    "abstain",
    "cast",
    "voters",
    "eligible",
    "quorum_bps",
    "approval_threshold_bps",
)
_TALLY_KEYS += ("participation_bps", "approval_bps", "quorum_reached", "approval_reached", "outcome")
# A signal with options (tally.compute_options): every key of its tally is compared.
_OPTION_TALLY_KEYS: tuple[str, ...] = ("method", "options", "totals", "rounds", "winner", "cast", "voters", "eligible")
_OPTION_TALLY_KEYS += ("quorum_bps", "participation_bps", "quorum_reached", "outcome")


class Mismatch(ValueError):
    """The export does not recount to what it claims; the message names the first difference."""


class NeedsRpc(Mismatch):
    """Everything else matched, but contract-wallet ballots were not verified (no `--rpc`)."""

    def __init__(self, ballot_ids: list[int]) -> None:
        self.ballot_ids = ballot_ids
        shown = ", ".join(str(i) for i in ballot_ids[:20]) + (" …" if len(ballot_ids) > 20 else "")
        super().__init__(
            f"{len(ballot_ids)} contract-wallet ballot(s) need a chain to verify (ballots {shown}): rerun with --rpc URL"
        )


@dataclass
class Report:
    proposal: int
    ballots: int = 0
    valid: int = 0
    counted: int = 0
    superseded: int = 0
    tally: dict[str, Any] = field(default_factory=dict)
    ballots_root: str = ""
    anchored: bool = False
    leaf_id: int | None = None
    block: dict[str, Any] | None = None
    head: dict[str, Any] | None = None
    checks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _uint(value: Any, what: str) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and _UINT.match(value):
        return int(value)
    raise Mismatch(f"{what} is not an unsigned integer ({value!r})")


def _same_int(value: Any, expected: int) -> bool:
    return type(value) is int and value == expected


def _get(obj: Any, key: str, what: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise Mismatch(f"the export lacks {what}")
    return obj[key]


def _counting_rule(export: dict[str, Any], proposal: dict[str, Any]) -> tuple[str, int, int]:
    rule = _get(export, "voting_rule", "voting_rule")
    if rule not in VotingRule.values:
        raise Mismatch(f"voting_rule {rule!r} is not one of {', '.join(VotingRule.values)}")
    if proposal.get("voting_rule") != rule:
        raise Mismatch(
            f"voting_rule: the export counts under {rule} but the proposal ran under {proposal.get('voting_rule')}"
        )
    quorum = _uint(_get(export, "quorum_bps", "quorum_bps"), "quorum_bps")
    threshold = _uint(_get(export, "approval_threshold_bps", "approval_threshold_bps"), "approval_threshold_bps")
    if quorum > 10000 or not 1 <= threshold <= 10000:
        raise Mismatch("quorum_bps and approval_threshold_bps are basis points (0-10000, threshold from 1)")
    return rule, quorum, threshold


def _chain_id(export: dict[str, Any]) -> int:
    typed = _get(export, "eip712", "the EIP-712 domain and types (eip712)")
    domain = _get(typed, "domain", "eip712.domain")
    if not isinstance(domain, dict) or set(domain) != {"name", "version", "chainId"}:
        raise Mismatch("eip712.domain is {name, version, chainId}")
    if (domain["name"], domain["version"]) != (eip712.DOMAIN_NAME, eip712.DOMAIN_VERSION):
        raise Mismatch(
            f"eip712.domain is not the portal's ballot domain ({eip712.DOMAIN_NAME!r}, version {eip712.DOMAIN_VERSION!r})"
        )
    if typed.get("types") != eip712.types() or typed.get("primaryType") != eip712.PRIMARY_TYPE:
        raise Mismatch("eip712.types differ from the portal's Ballot type")
    # Absent from exports made before type version 2; required for a signal with options.
    if "option_ballot" in typed and typed["option_ballot"] != {
        "types": eip712.option_types(),
        "primaryType": eip712.OPTION_PRIMARY_TYPE,
    }:
        raise Mismatch("eip712.option_ballot differs from the portal's OptionBallot type")
    return _uint(domain["chainId"], "eip712.domain.chainId")


def _snapshot(rows: Any, rule: str) -> dict[str, int]:
    if not isinstance(rows, list):
        raise Mismatch("voting_power is a list of {voter, weight, balance}")
    power: dict[str, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not {"voter", "weight", "balance"} <= set(row):
            raise Mismatch(f"voting_power[{i}] is not {{voter, weight, balance}}")
        voter = row["voter"]
        if not isinstance(voter, str) or voter in power:
            raise Mismatch(f"voting_power[{i}]: voter {voter!r} is missing or listed twice")
        weight = _uint(row["weight"], f"voting_power[{i}].weight")
        balance = _uint(row["balance"], f"voting_power[{i}].balance")
        expected = tally.weight_for(rule, balance)
        if weight != expected:
            raise Mismatch(
                f"voting_power[{i}] ({voter}): weight {weight} is not what {rule} gives for balance {balance} ({expected})"
            )
        power[voter] = weight
    return power


def _contract_verify(*, rpc: str, address: str, digest: str, signature: str, chain_id: int) -> bool:
    """A contract wallet's ballot through the portal's one signature verifier (ERC-1271, the
    legacy form, ERC-6492), with `rpc` as the node for the export's chain. No cache (an offline
    recount has no Redis); an unreachable or wrong node is a Mismatch naming the wallet."""
    from django.test import override_settings

    from portal import signatures

    # A process-local cache: verify() stores its chain answers, and a recount has no Redis.
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "recount"}}
    with override_settings(PORTAL_CHAIN_RPC={chain_id: rpc}, CACHES=local):
        checked = signatures.verify(
            address=address, digest=bytes.fromhex(digest[2:]), signature=signature, chain_id=chain_id, use_cache=False
        )
    if checked.reason == signatures.CHAIN_UNAVAILABLE:
        raise Mismatch(f"the wallet {address} could not be checked on chain {chain_id} through {rpc}: {checked.detail}")
    return checked.ok


def _signal_options(proposal: dict[str, Any], export: dict[str, Any]) -> tuple[str, list[str]] | None:
    """(method, options) of a signal with options, None for any other proposal."""
    payload = proposal.get("payload")
    if not tally.is_multi_option(proposal.get("kind", ""), payload) or not isinstance(payload, dict):
        return None
    method, options = payload.get("method"), payload.get("options")
    if method not in tally.METHODS or not isinstance(options, list) or not 2 <= len(options) <= 10:
        raise Mismatch(
            "proposal.payload: a signal's options are 2 to 10 labels with a method (single, approval, ranked)"
        )
    if "option_ballot" not in export["eip712"]:
        raise Mismatch("the export lacks the OptionBallot type (eip712.option_ballot) its ballots are signed with")
    return method, options


def _check_ballot(
    i: int,
    b: Any,
    *,
    proposal_id: int,
    slug: str,
    chain_id: int,
    power: dict[str, int],
    rpc: str | None,
    multi: tuple[str, list[str]] | None = None,
) -> tuple[int, bool]:
    """(weight, needs rpc) of a ballot whose message, signature, digest and weight check out."""
    from .services.ballots import OPTIONS_CHOICE, check_selection, clean_message

    if not isinstance(b, dict):
        raise Mismatch(f"ballots[{i}] is not an object")
    bid = b.get("id")
    if type(bid) is not int:
        raise Mismatch(f"ballots[{i}].id is not an integer")
    if type(b.get("counted")) is not bool:
        raise Mismatch(f"ballot {bid}: counted is true or false")
    for name in ("voter", "message", "signature", "digest", "weight", "counted", "choice", "timestamp"):
        if name not in b:
            raise Mismatch(f"ballot {bid}: lacks {name}")
    try:
        message = clean_message(b["message"])
    except Exception as exc:
        raise Mismatch(f"ballot {bid}: the message is not a canonical Ballot ({exc})") from None
    if message != b["message"]:
        raise Mismatch(f"ballot {bid}: the message is not in canonical form")
    if (multi is not None) != eip712.is_option_ballot(message):
        raise Mismatch(f"ballot {bid}: its type is not the proposal's (OptionBallot for a signal with options)")
    if multi is not None:
        try:
            check_selection(message["options"], method=multi[0], count=len(multi[1]))
        except Exception as exc:
            raise Mismatch(f"ballot {bid}: {exc}") from None
    if message["proposal"] != proposal_id or message["idao"] != slug or not _same_int(b.get("proposal"), proposal_id):
        raise Mismatch(f"ballot {bid}: signed for proposal {message['proposal']} of {message['idao']!r}, not this one")
    # A message may spell the voter in lowercase; the portal records the EIP-55 address it recovers.
    voter = to_checksum_address(message["voter"])
    # `options` repeats an OptionBallot's signed options; a Ballot has none (older exports lack the key).
    if b.get("options") != message.get("options"):
        raise Mismatch(f"ballot {bid}: options differ from the signed message")
    shown = (b["voter"], b["choice"], b.get("reason"), b["timestamp"])
    if shown != (voter, message.get("choice", OPTIONS_CHOICE), message["reason"], message["timestamp"]):
        raise Mismatch(f"ballot {bid}: voter, choice, reason or timestamp differ from the signed message")
    fast = eip712.fast_digest(message, chain_id=chain_id)
    digest = "0x" + fast.hex() if fast is not None else eip712.digest(message, chain_id=chain_id)
    if digest != b["digest"]:
        raise Mismatch(f"ballot {bid}: digest {b['digest']} is not the EIP-712 digest of its message ({digest})")
    signature = b["signature"]
    if not isinstance(signature, str) or not signature.startswith("0x"):
        raise Mismatch(f"ballot {bid}: the signature is not 0x-prefixed hex")
    needs_rpc = False
    if b.get("verified_by") == PENDING:
        # A contract wallet that never approved its digest before the close: recorded, not counted.
        if b["counted"] is not False:
            raise Mismatch(f"ballot {bid}: pending (its wallet never accepted it) but marked counted")
    elif b.get("verified_by", EOA) == EOA:
        try:
            signer, _ = eip712.verify(message, signature, chain_id=chain_id)
        except Exception:
            raise Mismatch(f"ballot {bid}: the signature cannot be recovered") from None
        if signer != voter:
            raise Mismatch(f"ballot {bid}: the signature recovers {signer}, not the voter {voter}")
    elif rpc is None:
        needs_rpc = True
    elif not _contract_verify(rpc=rpc, address=voter, digest=digest, signature=signature, chain_id=chain_id):
        raise Mismatch(f"ballot {bid}: the wallet {voter} does not accept the signature ({b['verified_by']})")
    weight = _uint(b["weight"], f"ballot {bid}: weight")
    if voter not in power:
        raise Mismatch(f"ballot {bid}: {voter} is not in the voting-power snapshot")
    if weight != power[voter]:
        raise Mismatch(f"ballot {bid}: weight {weight} but the snapshot gives {voter} {power[voter]}")
    return weight, needs_rpc


def _compare_tally(recounted: dict[str, Any], recorded: Any, where: str) -> None:
    if not isinstance(recorded, dict):
        raise Mismatch(f"{where} has no tally")
    for key in _OPTION_TALLY_KEYS if "method" in recounted else _TALLY_KEYS:
        if recorded.get(key) != recounted[key]:
            raise Mismatch(f"tally {key}: {where} says {recorded.get(key)!r} but the recount gives {recounted[key]!r}")


def _anchored_record(anchor: Any, *, proposal_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        proofs.check_proof(anchor)
    except (proofs.InvalidProof, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise Mismatch(f"anchor: the ledger proof does not verify ({exc})") from None
    leaf = anchor["leaf"]
    if (leaf["kind"], leaf["subject"]) != (RESULT_KIND, f"proposal:{proposal_id}"):
        raise Mismatch(f"anchor: the record is {leaf['kind']} of {leaf['subject']}, not this proposal's result")
    try:
        payload = json.loads(leaf["payload"])
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise Mismatch("anchor: the anchored record is not a JSON object")
    return payload, anchor["headers"][-1]


def _delegation_flows(
    graph: Any, power: dict[str, int], chain_id: int, report: Report
) -> dict[str, list[tuple[tuple[str, ...], int]]]:
    """Re-derive the delegated weights from the exported signed delegations with the portal's own
    resolution (idaos.delegation.resolve), and check they are the flows the snapshot recorded."""
    if not isinstance(graph, dict) or set(graph) != {"max_depth", "cap", "types", "delegations"}:
        raise Mismatch("delegation is {max_depth, cap, types, delegations} (the delegation graph the snapshot used)")
    if graph["types"] != eip712.delegation_types():
        raise Mismatch("delegation.types differ from the portal's Delegation type")
    if graph["max_depth"] != delegation.MAX_DEPTH or isinstance(graph["max_depth"], bool):
        raise Mismatch(f"delegation.max_depth is {delegation.MAX_DEPTH}")
    cap = graph["cap"]
    if cap is not None:
        cap = _uint(cap, "delegation.cap")
    entries = graph["delegations"]
    if not isinstance(entries, list):
        raise Mismatch("delegation.delegations is a list")
    if not entries:
        return {}
    used = []
    for i, entry in enumerate(entries):
        message = entry.get("message") if isinstance(entry, dict) else None
        if not isinstance(message, dict) or entry.get("delegator") != message.get("delegator"):
            raise Mismatch(f"delegation {i}: the signed message is not the delegator's")
        try:
            digest = "0x" + eip712.typed_digest(eip712.delegation_typed_data(message, chain_id=chain_id)).hex()
        except Exception:
            raise Mismatch(f"delegation {i}: the message is not a Delegation") from None
        if digest != entry.get("digest"):
            raise Mismatch(f"delegation {i}: digest {entry.get('digest')} but the message gives {digest}")
        if entry.get("verified_by", "eoa") == "eoa":
            signature = entry.get("signature")
            signer = recover_digest(bytes.fromhex(digest[2:]), signature) if isinstance(signature, str) else None
            if signer is None or signer.lower() != message["delegator"].lower():
                raise Mismatch(f"delegation {i}: the signature is not {message['delegator']}'s")
        try:
            used.append((message["delegator"], [(s["delegate"], int(s["bps"])) for s in message["shares"]]))
        except (KeyError, TypeError, ValueError):
            raise Mismatch(f"delegation {i}: the shares are not a list of {{delegate, bps}}") from None
    resolution = delegation.resolve(weights=power, delegations=used, cap=cap, max_depth=delegation.MAX_DEPTH)
    for entry in entries:
        try:
            recorded = sorted((tuple(f["via"]), int(f["amount"])) for f in entry["flows"])
        except (KeyError, TypeError, ValueError):
            raise Mismatch(f"delegation of {entry['delegator']}: flows are a list of {{via, amount}}") from None
        if recorded != resolution.flows.get(entry["delegator"], []):
            raise Mismatch(f"delegation of {entry['delegator']}: the snapshot's flows differ from the re-derived ones")
    report.checks.append(f"{len(used)} signed delegation(s) verified; delegated weights re-derived")
    return resolution.flows


def recount(export: Any, *, rpc: str | None = None) -> Report:
    """Recount the export; raise Mismatch naming the first difference (NeedsRpc last)."""
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise Mismatch(f"not a proposal export (format {EXPORT_FORMAT})")
    proposal = _get(export, "proposal", "the proposal")
    proposal_id = _uint(_get(proposal, "id", "proposal.id"), "proposal.id")
    slug = _get(proposal, "idao", "proposal.idao")
    report = Report(proposal=proposal_id)
    rule, quorum, threshold = _counting_rule(export, proposal)
    chain_id = _chain_id(export)
    multi = _signal_options(proposal, export)
    power = _snapshot(_get(export, "voting_power", "the voting-power snapshot (voting_power)"), rule)
    eligible = sum(power.values())
    report.checks.append(f"voting-power snapshot: {len(power)} voters, eligible power {eligible} under {rule}")

    ballots = _get(export, "ballots", "the ballots")
    if not isinstance(ballots, list):
        raise Mismatch("ballots is a list")
    needs_rpc: list[int] = []
    rows: list[tuple[Any, dict[str, Any], int]] = []
    for i, b in enumerate(ballots):
        weight, needs = _check_ballot(
            i, b, proposal_id=proposal_id, slug=slug, chain_id=chain_id, power=power, rpc=rpc, multi=multi
        )
        if needs:
            needs_rpc.append(b["id"])
        rows.append((b["id"], b, weight))
    keys = [key for key, _, _ in rows]
    if len(set(keys)) != len(keys):
        raise Mismatch("two ballots have the same id")
    report.ballots = len(rows)
    pending = sum(1 for _, b, _ in rows if b.get("verified_by") == PENDING)
    report.valid = len(rows) - len(needs_rpc) - pending
    report.checks.append(f"{report.valid} signature(s) verified for their voters, digests recomputed")
    if pending:
        report.checks.append(f"{pending} pending ballot(s): their wallets never approved them, not counted")

    chosen = set(
        tally.latest_per_voter(
            (b["voter"], b["timestamp"], key) for key, b, _ in rows if b.get("verified_by") != PENDING
        ).values()
    )
    for key, b, _ in rows:
        if bool(b["counted"]) != (key in chosen):
            state = "counted" if b["counted"] else "superseded"
            raise Mismatch(
                f"ballot {key}: marked {state}, but each voter's latest ballot by signed timestamp is the one counted"
            )
    counted = [(b, w) for key, b, w in rows if key in chosen]
    report.counted, report.superseded = len(counted), len(rows) - len(counted)
    flows = _delegation_flows(_get(export, "delegation", "the delegation graph (delegation)"), power, chain_id, report)
    result: dict[str, Any]
    if multi is not None:
        # Delegated weight follows the delegate's ballot, whatever its shape (as selectors.option_tally).
        carried = delegation.counted_weights(
            weights={b["voter"]: w for b, w in counted}, flows=flows, voted=[b["voter"] for b, _ in counted]
        )
        result = tally.compute_options(
            method=multi[0],
            options=multi[1],
            ballots=[(b["message"]["options"], carried[b["voter"]]) for b, _ in counted],
            voters=len(counted),
            eligible=eligible,
            quorum_bps=quorum,
        )
    else:
        sums = tally.sums_of((b["choice"], w) for b, w in counted)
        if flows:
            sums = delegation.adjusted_sums(
                sums=sums, flows=flows, choice_of={b["voter"]: b["choice"] for b, _ in counted}
            )
        result = tally.compute(
            sums=sums,
            voters=len(counted),
            eligible=eligible,
            quorum_bps=quorum,
            threshold_bps=threshold,
        )
    root = tally.ballots_root(sorted((b["voter"], b["digest"], w) for b, w in counted))
    report.tally, report.ballots_root = result, root
    _compare_tally(result, proposal.get("tally"), "the export")
    closed = proposal.get("result_leaf_id") is not None
    if not closed and proposal.get("state") in CLOSED_STATES:
        raise Mismatch(f"the proposal is {proposal['state']} but the export names no anchored result (result_leaf_id)")
    if (closed or proposal.get("ballots_root") is not None) and proposal.get("ballots_root") != root:
        raise Mismatch(f"ballots root: the export says {proposal.get('ballots_root')} but the recount gives {root}")
    report.checks.append(f"tally rebuilt under {rule}: {result['outcome']}; ballots root {root}")

    anchor = export.get("anchor")
    if anchor is not None:
        payload, head = _anchored_record(anchor, proposal_id=proposal_id)
        if payload.get("proposal") != proposal_id or payload.get("idao") != slug:
            raise Mismatch("anchor: the record names another proposal or iDAO")
        if payload.get("voting_rule") != rule:
            raise Mismatch(f"voting_rule: the anchored record says {payload.get('voting_rule')} but the export {rule}")
        _compare_tally(result, payload.get("tally"), "the anchored record")
        if multi is not None and payload.get("payload") != proposal.get("payload"):
            raise Mismatch("proposal.payload: the options or method differ from the anchored record's")
        if payload.get("ballots_root") != root:
            raise Mismatch(
                f"ballots root: the anchored record says {payload.get('ballots_root')} but the recount gives {root}"
            )
        if proposal.get("result_leaf_id") != anchor["leaf"]["id"]:
            raise Mismatch("anchor: the proof is for another record than the proposal's result_leaf_id")
        report.anchored, report.leaf_id = True, anchor["leaf"]["id"]
        report.block, report.head = anchor["block"], head
        report.checks.append(
            f"result record {anchor['leaf']['id']} proven in block {anchor['block']['height']} and chained to "
            f"block {head['height']}"
        )
    elif proposal.get("result_leaf_id") is not None:
        if export.get("anchor_status") != "queued":
            raise Mismatch("anchor: the proposal has an anchored result but the export carries no proof of it")
        report.checks.append(
            f"result record {proposal['result_leaf_id']} is queued for the next ledger block: NOT proven yet "
            "(download the export again in a few seconds)"
        )
    if needs_rpc:
        raise NeedsRpc(needs_rpc)
    return report
