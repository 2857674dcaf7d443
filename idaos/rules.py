"""Pure rules that the write services and the proposal actions both need: charter fields, hashes,
behaviour policies and data references, cleaned or refused with InvalidInput. No writes here;
`clean_data_refs` asks the registered data-reference checkers (idaos.hooks) whether a reference
may enter a training manifest."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from . import hooks
from .errors import InvalidInput
from .models import IDAO, MembershipPolicy, VotingRule

HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
DATA_REF_RE = re.compile(r"^(0x[0-9a-fA-F]{64}|dat:[0-9]{1,30})$")
MAX_DURATION = timedelta(days=60)
MAX_POLICY_BYTES = 20_000
MAX_REFS = 100


def _duration(name: str, value: Any, *, minimum: timedelta = timedelta(0)) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_DURATION.total_seconds() * 2:
            raise InvalidInput(f"{name} must be between {int(minimum.total_seconds())} s and 60 days.")
        result = timedelta(seconds=value)
    else:
        raise InvalidInput(f"{name} is a number of seconds.")
    if result < minimum or result > MAX_DURATION:
        raise InvalidInput(f"{name} must be between {int(minimum.total_seconds())} s and 60 days.")
    return result


def _bps(name: str, value: Any, *, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 10000:
        raise InvalidInput(f"{name} is an integer number of basis points between {low} and 10000.")
    return value


def clean_charter(values: dict[str, Any], *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate charter fields (durations in seconds or timedelta) and return model values. With
    `base`, `values` is a partial change applied over it; the result is checked as a whole."""
    unknown = set(values) - set(IDAO.CHARTER_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown charter field(s): {', '.join(sorted(unknown))}.")
    merged = {**(base or {}), **values}
    out: dict[str, Any] = {}
    if "voting_rule" in merged:
        if merged["voting_rule"] not in VotingRule.values:
            raise InvalidInput(f"voting_rule must be one of {', '.join(VotingRule.values)}.")
        out["voting_rule"] = merged["voting_rule"]
    if "voting_period" in merged:
        out["voting_period"] = _duration("voting_period", merged["voting_period"], minimum=timedelta(seconds=60))
    if "voting_delay" in merged:
        out["voting_delay"] = _duration("voting_delay", merged["voting_delay"])
    if "proposal_min_membership_age" in merged:
        out["proposal_min_membership_age"] = _duration(
            "proposal_min_membership_age", merged["proposal_min_membership_age"]
        )
    if "quorum_bps" in merged:
        out["quorum_bps"] = _bps("quorum_bps", merged["quorum_bps"])
    if "approval_threshold_bps" in merged:
        out["approval_threshold_bps"] = _bps("approval_threshold_bps", merged["approval_threshold_bps"], low=1)
    if "proposal_min_stake" in merged:
        stake = merged["proposal_min_stake"]
        try:
            stake = int(stake)
        except (TypeError, ValueError):
            raise InvalidInput("proposal_min_stake is a whole number of LAZ base units.") from None
        if stake < 0 or stake >= 2**256:
            raise InvalidInput("proposal_min_stake must be between 0 and 2^256 - 1.")
        out["proposal_min_stake"] = stake
    if "membership_policy" in merged:
        if merged["membership_policy"] not in MembershipPolicy.values:
            raise InvalidInput("membership_policy must be open or approval.")
        out["membership_policy"] = merged["membership_policy"]
    if "delegation_cap_bps" in merged:
        out["delegation_cap_bps"] = _bps("delegation_cap_bps", merged["delegation_cap_bps"])
    if "execution_delay" in merged:
        out["execution_delay"] = _duration("execution_delay", merged["execution_delay"])
    if "guardian_veto" in merged:
        if not isinstance(merged["guardian_veto"], bool):
            raise InvalidInput("guardian_veto is true or false.")
        out["guardian_veto"] = merged["guardian_veto"]
    if "steward_spend_limit" in merged:
        out["steward_spend_limit"] = clean_spend_limit(merged["steward_spend_limit"])
    if "reward_weighting" in merged:
        if merged["reward_weighting"] not in ("usage", "usage_x_score"):
            raise InvalidInput("reward_weighting must be usage or usage_x_score.")
        out["reward_weighting"] = merged["reward_weighting"]
    split = ("split_contributors_bps", "split_treasury_bps", "split_validators_bps")
    for name in split:
        if name in merged:
            out[name] = _bps(name, merged[name])
    if all(name in out for name in split) and sum(out[name] for name in split) != 10000:
        raise InvalidInput("The reward split (contributors + treasury + validators) must sum to 10000 bps (100%).")
    return out


def clean_spend_limit(value: Any) -> dict[str, str]:
    """{asset: whole units per epoch as a string}; an asset left out is not limited."""
    from ledger.models import Asset

    if not isinstance(value, dict):
        raise InvalidInput('steward_spend_limit is an object like {"LAZ": "0", "CREDIT": "1000"}.')
    out: dict[str, str] = {}
    for asset, limit in value.items():
        if asset not in Asset.values:
            raise InvalidInput(f"steward_spend_limit: unknown asset {str(asset)[:20]!r}.")
        if limit is None:
            continue
        if isinstance(limit, bool) or not isinstance(limit, int | str):
            raise InvalidInput(f"steward_spend_limit: {asset}'s limit is a whole number of base units (or null).")
        try:
            number = int(limit)
        except ValueError:
            raise InvalidInput(f"steward_spend_limit: {asset}'s limit is a whole number of base units.") from None
        if not 0 <= number < 2**255:
            raise InvalidInput(f"steward_spend_limit: {asset}'s limit is between 0 and 2^255 - 1.")
        out[asset] = str(number)
    return out


def charter_of(idao: IDAO) -> dict[str, Any]:
    return {name: getattr(idao, name) for name in IDAO.CHARTER_FIELDS}


def clean_hash(value: Any, name: str = "artifact_hash") -> str:
    if not isinstance(value, str) or not HASH_RE.match(value):
        raise InvalidInput(f"{name} is a 32-byte hex hash: 0x followed by 64 hex digits.")
    return value.lower()


def clean_policy(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput("behaviour_policy is a JSON object.")
    if len(json.dumps(value)) > MAX_POLICY_BYTES:
        raise InvalidInput(f"behaviour_policy is at most {MAX_POLICY_BYTES:,} bytes of JSON.")
    return value


def clean_data_refs(idao: IDAO, refs: Any, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise InvalidInput("data_refs is a list of data references (0x-prefixed content hashes or dat:<token id>).")
    if not refs and not allow_empty:
        raise InvalidInput("data_refs names at least one data reference.")
    if len(refs) > MAX_REFS:
        raise InvalidInput(f"A proposal names at most {MAX_REFS} data references.")
    out: list[str] = []
    for ref in refs:
        if not DATA_REF_RE.match(ref):
            raise InvalidInput(f"“{ref[:80]}” is not a data reference: use 0x + 64 hex digits or dat:<token id>.")
        ref = ref.lower() if ref.startswith("0x") else ref
        if ref not in out:
            out.append(ref)
    for ref in out:
        hooks.check_data_ref(idao, ref, "training")
    return out


# Proposal kinds that move the treasury's money: they wait the charter's execution_delay after
# passing (the timelock) before they execute; every other kind executes when voting closes.
TREASURY_KINDS = ("treasury_transfer", "treasury_stream")


def steward_limit_check(idao: IDAO, *, asset: str, amount: int, spent: int) -> None:
    """Refuse a steward's grant of `amount` when, with `spent` already granted by stewards this
    reward epoch, it would pass the charter's steward_spend_limit for `asset`."""
    from .errors import OverStewardLimit

    limit = (idao.steward_spend_limit or {}).get(asset)
    if limit is None:
        return
    if spent + amount > int(limit):
        raise OverStewardLimit(
            f"The charter of {idao.name} lets stewards grant at most {int(limit)} {asset} base units per "
            f"reward epoch ({spent} granted so far this epoch); propose a treasury_transfer for more."
        )
