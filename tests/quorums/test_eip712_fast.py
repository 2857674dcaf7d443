"""The Verdict struct hashed directly (quorums.eip712's fast path) agrees with eth_account's
generic EIP-712 encoder, for digests, signatures and recovered signers."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from quorums.eip712 import recover_signer, recover_with_digest, sign_verdict, verdict_digest, verdict_typed_data


def generic_digest(typed: dict) -> str:
    s = encode_typed_data(full_message=typed)
    return "0x" + keccak(b"\x19" + s.version + s.header + s.body).hex()


@pytest.mark.parametrize("seed", range(12))
def test_fast_digest_signature_and_signer_match_eth_account(seed, settings):
    rng = random.Random(seed)
    settings.PORTAL_CHAIN_ID = rng.choice([1, 31337, 2**40 + 7])
    account = Account.from_key(rng.randbytes(32))
    typed = verdict_typed_data(
        validator=rng.choice([account.address, account.address.lower()]),
        round_id=rng.randrange(0, 2**64),
        content_hash="0x" + rng.randbytes(32).hex(),
        verdict=rng.choice(["approve", "reject"]),
        reason=rng.choice(["", "bad bytes", "ünïcode ✓ " * rng.randrange(1, 5)]),
    )
    assert verdict_digest(typed) == generic_digest(typed)
    fast = sign_verdict(account.key, typed)
    slow = "0x" + Account.sign_message(
        encode_typed_data(full_message=typed), private_key=account.key
    ).signature.hex().removeprefix("0x")
    assert fast == slow
    assert recover_signer(typed, fast) == account.address
    assert recover_with_digest(typed, fast) == (account.address, verdict_digest(typed))
    assert recover_signer(typed, fast.removeprefix("0x")) == account.address
    # v as 0/1 instead of 27/28 recovers the same signer, like eth_account.
    raw = bytes.fromhex(fast[2:])
    assert recover_signer(typed, "0x" + (raw[:64] + bytes([raw[64] - 27])).hex()) == account.address


@pytest.mark.parametrize(
    "signature", ["0x", "0x1234", "0x" + "00" * 65, "0x" + "ff" * 65, "not hex at all", "0x" + "11" * 64 + "05"]
)
def test_malformed_signatures_are_refused_as_before(signature):
    account = Account.from_key(b"\x07" * 32)
    typed = verdict_typed_data(
        validator=account.address, round_id=1, content_hash="0x" + "ab" * 32, verdict="approve", reason=""
    )
    with pytest.raises(ValueError):
        recover_signer(typed, signature)


def test_a_signature_for_other_content_recovers_another_address():
    account = Account.from_key(b"\x08" * 32)
    typed = verdict_typed_data(
        validator=account.address, round_id=1, content_hash="0x" + "ab" * 32, verdict="approve", reason=""
    )
    other = verdict_typed_data(
        validator=account.address, round_id=2, content_hash="0x" + "ab" * 32, verdict="approve", reason=""
    )
    assert recover_signer(other, sign_verdict(account.key, typed)) != account.address
