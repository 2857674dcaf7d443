"""One signature verifier for every signed thing in the portal: EOAs, ERC-1271 contract wallets
and ERC-6492 counterfactual (not yet deployed) wallets.

    verify(address=…, digest=…, signature=…, chain_id=…, message=None) -> Verification

Order (docs/governance.md, "Signature verification"):
1. The signature ends with the ERC-6492 magic suffix → one deployless eth_call of the ERC-6492
   reference `ValidateSigOffchain` (contracts/erc6492/, compiled by the project with solc-js);
   only a return of exactly 0x01 is valid. `verified_by="erc6492"`.
2. A 65-byte signature that recovers (coincurve, portal.eth) to `address` itself → valid EOA,
   with no RPC call: the key that controls the address signed (this is the fast path ballots
   take, unchanged in speed). `verified_by="eoa"`, `block_number=None`. The code tries this
   before step 1: a 65-byte signature ending in the 32-byte suffix has v = 0x92 and never
   recovers, so the effective order is the one listed.
3. Otherwise the chain is consulted: `address` has code → ERC-1271
   `isValidSignature(bytes32,bytes)` must return 0x1626ba7e (the full 32-byte ABI word); else the
   legacy `isValidSignature(bytes,bytes)` must return 0x20c13b0b, called first with
   `abi.encode(digest)` (what Safe's CompatibilityFallbackHandler passes from its bytes32 entry
   point) and, when `message` is given, with the message bytes (Safe ≤ 1.1 signed messages).
   Reverts, empty or malformed return data are "invalid", never an exception. No code → invalid.
   `verified_by="erc1271"`.

Failures carry a stable `reason`: `bad_signature` (the signature is not valid for the address),
`contract_wallet_unverifiable` (it can only be a contract-wallet signature and PORTAL_CHAIN_RPC has
no node for the chain) and `chain_unavailable` (the node timed out or failed: retry later; callers
answer 503 and burn nothing). Definitive chain answers are cached per (chain, address, digest,
signature) for PORTAL_SIGNATURE_CACHE_SECONDS."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache as memoize
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from ..chains import ChainUnavailable, RpcClient, client
from ..errors import DomainError
from ..eth import recover_digest

ERC6492_MAGIC = bytes.fromhex("6492" * 16)
ERC1271_MAGIC = bytes.fromhex("1626ba7e")  # == selector of isValidSignature(bytes32,bytes)
LEGACY_MAGIC = bytes.fromhex("20c13b0b")  # == selector of isValidSignature(bytes,bytes)
ERC1271_SELECTOR = keccak(text="isValidSignature(bytes32,bytes)")[:4]
LEGACY_SELECTOR = keccak(text="isValidSignature(bytes,bytes)")[:4]
MAX_SIGNATURE_BYTES = 16 * 1024  # an ERC-6492 wrapper carries the factory calldata
VALIDATOR_BUILD = Path(__file__).resolve().parents[2] / "contracts" / "build" / "ValidateSigOffchain.json"

EOA, ERC1271, ERC6492 = "eoa", "erc1271", "erc6492"
BAD_SIGNATURE = "bad_signature"
UNVERIFIABLE = "contract_wallet_unverifiable"
CHAIN_UNAVAILABLE = "chain_unavailable"
REASON_STATUS = {BAD_SIGNATURE: 401, UNVERIFIABLE: 401, CHAIN_UNAVAILABLE: 503}


class SignatureRefused(DomainError):
    """A signature verify() did not accept; `code` is the Verification's reason."""

    code = BAD_SIGNATURE
    status = 401


@dataclass(frozen=True)
class Verification:
    """How a signature was checked. On success `verified_by` says how; on failure it names the
    path that decided (None when the signature was refused before any). `block_number` is the
    block a contract check ran at (None for EOAs)."""

    ok: bool
    verified_by: str | None
    chain_id: int
    block_number: int | None = None
    reason: str | None = None
    detail: str = ""

    def as_record(self) -> dict:
        """What receipts and exports show: {"verified_by", "chain_id", "block_number"}."""
        return {"verified_by": self.verified_by, "chain_id": self.chain_id, "block_number": self.block_number}

    def raise_for_failure(self, error: type[DomainError] = SignatureRefused) -> Verification:
        """Return self when ok, else raise `error(detail, code=reason)`. `bad_signature` keeps
        the error class's own status (so a caller's existing contract holds), while
        `contract_wallet_unverifiable` is 401 and `chain_unavailable` 503 everywhere. One call for
        callers: `verify(...).raise_for_failure(InvalidBallot)`."""
        if self.ok:
            return self
        status = None if self.reason == BAD_SIGNATURE else REASON_STATUS.get(self.reason or "")
        raise error(self.detail, code=self.reason, status=status)


@memoize
def _eoa_ok(chain_id: int) -> Verification:
    return Verification(True, EOA, int(chain_id))


@memoize
def validator_initcode() -> bytes:
    """The creation bytecode of ERC-6492's ValidateSigOffchain, built by contracts/build.js."""
    record = json.loads(VALIDATOR_BUILD.read_text())
    return bytes.fromhex(record["contracts"]["ValidateSigOffchain"]["bytecode"].removeprefix("0x"))


def _as_bytes(signature: str | bytes) -> bytes | None:
    if isinstance(signature, bytes | bytearray):
        return bytes(signature)
    if not isinstance(signature, str) or not signature.startswith("0x") or len(signature) > 2 + 2 * MAX_SIGNATURE_BYTES:
        return None
    try:
        return bytes.fromhex(signature[2:])
    except ValueError:
        return None


_HEX = frozenset("0123456789abcdefABCDEF")


def _is_address(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 42 or value[:2] not in ("0x", "0X"):
        return False
    return all(c in _HEX for c in value[2:])


def _message_bytes(message: bytes | str | None) -> bytes | None:
    if message is None:
        return None
    return message.encode() if isinstance(message, str) else bytes(message)


def _cache_key(chain_id: int, address: str, digest: bytes, raw: bytes, message: bytes | None) -> str:
    """Per (chain, address, digest, signature); the message too, as the legacy form reads it."""
    h = hashlib.sha256(b"%d:%s:%s:%s" % (chain_id, address.lower().encode(), digest.hex().encode(), raw.hex().encode()))
    if message is not None:
        h.update(b":" + hashlib.sha256(message).digest())
    return f"portal:sigcheck:{h.hexdigest()}"


def _magic_word(result: bytes | None, magic: bytes) -> bool:
    """An ABI-encoded bytes4 return equal to `magic`: the first 32-byte word is magic ‖ 28 zeros."""
    return result is not None and len(result) >= 32 and result[:32] == magic + bytes(28)


def verify(
    *,
    address: str,
    digest: bytes,
    signature: str | bytes,
    chain_id: int,
    message: bytes | str | None = None,
    use_cache: bool = True,
) -> Verification:
    """Is `signature` valid for `address` over the 32-byte `digest` on `chain_id`? Never raises
    for bad input or a misbehaving wallet; see the module docstring for the order and reasons.
    `message` is the signed bytes the digest was made from (the EIP-191 text for SIWE), used only
    by the legacy `isValidSignature(bytes,bytes)` form."""
    # The EOA fast path first, on the string as received: no parsing beyond what recovery needs.
    # A 65-byte signature cannot be an ERC-6492 wrapper (its last byte, v, would be 0x92).
    if (
        isinstance(signature, str)
        and len(signature) == 132
        and isinstance(address, str)
        and isinstance(digest, bytes)
        and signature.startswith("0x")
    ):
        recovered = recover_digest(digest, signature)
        # Compared case-insensitively: checksumming `address` again would cost a good part of
        # the recovery itself.
        if recovered is not None and recovered.lower() == address.lower():
            return _eoa_ok(chain_id)
    chain_id = int(chain_id)
    raw = _as_bytes(signature)
    if raw is None or not isinstance(digest, bytes) or len(digest) != 32:
        return Verification(
            False, None, chain_id, reason=BAD_SIGNATURE, detail="The signature must be 0x-prefixed hex, at most 16 KiB."
        )
    if not _is_address(address):
        return Verification(False, None, chain_id, reason=BAD_SIGNATURE, detail="The address is not an address.")
    counterfactual = len(raw) >= 32 and raw[-32:] == ERC6492_MAGIC
    if not counterfactual and len(raw) == 65 and not isinstance(signature, str):
        recovered = recover_digest(digest, "0x" + raw.hex())
        if recovered is not None and recovered.lower() == address.lower():
            return _eoa_ok(chain_id)
    address = to_checksum_address(address)
    rpc = client(chain_id)
    if rpc is None:
        if counterfactual or len(raw) > 65:
            return Verification(
                False,
                ERC6492 if counterfactual else ERC1271,
                chain_id,
                reason=UNVERIFIABLE,
                detail=f"This is a contract-wallet signature, and this portal has no RPC node for chain {chain_id} "
                "to check it (PORTAL_CHAIN_RPC).",
            )
        return Verification(
            False,
            EOA,
            chain_id,
            reason=BAD_SIGNATURE,
            detail=f"The signature was not made by {address} (contract wallets on chain {chain_id} cannot be "
            "checked here: no RPC node is configured for it).",
        )
    message = _message_bytes(message)
    key = _cache_key(chain_id, address, digest, raw, message)
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    try:
        result = _verify_on_chain(rpc, address, digest, raw, counterfactual, message)
    except ChainUnavailable as exc:
        return Verification(False, None, chain_id, reason=CHAIN_UNAVAILABLE, detail=exc.detail)
    cache.set(key, result, settings.PORTAL_SIGNATURE_CACHE_SECONDS)
    return result


def _verify_on_chain(
    rpc: RpcClient, address: str, digest: bytes, raw: bytes, counterfactual: bool, message: bytes | None
) -> Verification:
    rpc.confirm_chain()
    block = rpc.block_number()
    chain_id = rpc.chain_id
    if counterfactual:
        data = validator_initcode() + encode(["address", "bytes32", "bytes"], [address, digest, raw])
        answer = rpc.call(to=None, data=data, block=block)
        if answer == b"\x01":
            return Verification(True, ERC6492, chain_id, block)
        return Verification(
            False,
            ERC6492,
            chain_id,
            block,
            BAD_SIGNATURE,
            f"The ERC-6492 signature is not valid for {address} on chain {chain_id} (block {block}).",
        )
    if not rpc.get_code(address, block):
        return Verification(False, EOA, chain_id, block, BAD_SIGNATURE, f"The signature was not made by {address}.")
    answer = rpc.call(to=address, data=ERC1271_SELECTOR + encode(["bytes32", "bytes"], [digest, raw]), block=block)
    if _magic_word(answer, ERC1271_MAGIC):
        return Verification(True, ERC1271, chain_id, block)
    legacy_data = [encode(["bytes32"], [digest])]
    if message is not None:
        legacy_data.append(message)
    for data in legacy_data:
        answer = rpc.call(to=address, data=LEGACY_SELECTOR + encode(["bytes", "bytes"], [data, raw]), block=block)
        if _magic_word(answer, LEGACY_MAGIC):
            return Verification(True, ERC1271, chain_id, block)
    return Verification(
        False,
        ERC1271,
        chain_id,
        block,
        BAD_SIGNATURE,
        f"The contract wallet {address} does not accept this signature (chain {chain_id}, block {block}).",
    )


__all__ = ["SignatureRefused", "Verification", "verify"]
