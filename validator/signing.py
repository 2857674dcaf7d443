"""EIP-712 verdicts built from the typed data the portal publishes (/quorums/eip712.json).

Nothing about the domain or the Verdict struct is hard-coded: the node takes the domain, the
types and the primary type from the publication, fills the message from its assignment, and
hashes it. For flat structs of atomic fields (the Verdict is one) the struct hash is computed
directly (a few keccaks); anything else goes through eth_account's generic encoder. Both give
the same digest (tests/validator/test_signing.py)."""

from __future__ import annotations

import re
from typing import Any

from Crypto.Hash import keccak as _keccak
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

try:  # optional: libsecp256k1 bindings (the portal installs them)
    from coincurve import PrivateKey as _PrivateKey
except ImportError:  # pragma: no cover - eth_account signs alone
    _PrivateKey = None  # type: ignore[misc,assignment]  # the optional import's fallback

_UINT = re.compile(r"^uint(\d*)$")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_INT = re.compile(r"^int(\d*)$")
_BYTES_N = re.compile(r"^bytes(\d+)$")


class SchemaError(ValueError):
    """The publication cannot be used to sign a verdict (missing fields, unknown type)."""


class VerdictSchema:
    """The portal's verdict typed data: build and sign a message for one assignment."""

    def __init__(self, publication: dict[str, Any]) -> None:
        try:
            self.domain: dict[str, Any] = dict(publication["domain"])
            self.types: dict[str, list[dict[str, str]]] = publication["types"]
            self.primary: str = publication["primaryType"]
            fields = self.types[self.primary]
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"the EIP-712 publication lacks {exc}") from None
        self.field_names = [f["name"] for f in fields]
        for needed in ("verdict", "reason"):
            if needed not in self.field_names:
                raise SchemaError(f"the published {self.primary} type has no {needed!r} field")
        self.verdicts = tuple(publication.get("verdicts") or ("approve", "reject"))
        self._flat = all(_atomic(f["type"]) for f in fields) and all(
            _atomic(f["type"]) for f in self.types.get("EIP712Domain", [])
        )
        # Each struct's type hash, once (it depends on the publication only).
        self._typehashes = (
            {name: keccak(self._encode_type(name).encode()) for name in (self.primary, "EIP712Domain")}
            if self._flat
            else {}
        )
        self._separator = self._hash_struct("EIP712Domain", self.domain) if self._flat else None
        # The signing key's libsecp256k1 object, made once per key (deriving it is a public-key
        # multiplication, as costly as the signature itself).
        self._signers: dict[bytes, Any] = {}

    def typed_data(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"types": self.types, "primaryType": self.primary, "domain": self.domain, "message": message}

    @property
    def scored(self) -> bool:
        """The published type carries score fields (ScoredVerdict, version 2)."""
        return "evidence" in self.field_names

    def message(
        self,
        template: dict[str, Any],
        *,
        verdict: str,
        reason: str,
        scores: dict[str, int] | None = None,
        evidence: str = "",
    ) -> dict[str, Any]:
        """The assignment's message template with the verdict and reason (and, for a scored type,
        the scores and their evidence) filled in; every field the published type names must be
        present."""
        if verdict not in self.verdicts:
            raise SchemaError(f"{verdict!r} is not one of the published verdicts {self.verdicts}")
        message = {name: template.get(name) for name in self.field_names}
        message["verdict"], message["reason"] = verdict, reason
        if self.scored:
            for name, value in (scores or {}).items():
                if name in message:
                    message[name] = int(value)
            message["evidence"] = evidence
        missing = [k for k, v in message.items() if v is None]
        if missing:
            raise SchemaError(f"the assignment's message lacks {', '.join(missing)}")
        return message

    def digest(self, message: dict[str, Any]) -> bytes:
        if self._flat and self._separator is not None:  # _separator is set exactly when _flat
            return keccak(b"\x19\x01" + self._separator + self._hash_struct(self.primary, message))
        signable = encode_typed_data(full_message=self.typed_data(message))
        return keccak(b"\x19" + signable.version + signable.header + signable.body)

    def sign(self, private_key: str | bytes, message: dict[str, Any]) -> str:
        """0x-hex 65-byte signature (r ‖ s ‖ v with v 27/28), as eth_signTypedData_v4 returns.
        RFC 6979 deterministic: the same message always gets the same bytes (with coincurve
        when installed, ~20x faster than eth_account's pure-Python path; identical output)."""
        digest = self.digest(message)
        key = private_key if isinstance(private_key, bytes) else bytes.fromhex(private_key.removeprefix("0x"))
        if _PrivateKey is not None:
            signer = self._signers.get(key)
            if signer is None:
                signer = self._signers[key] = _PrivateKey(key)
            sig = signer.sign_recoverable(digest, hasher=None)
            return "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()
        signed = Account.unsafe_sign_hash(digest, key)
        return "0x" + signed.signature.hex().removeprefix("0x")

    # --- EIP-712 encoding for flat structs ---------------------------------------------------------

    def _encode_type(self, name: str) -> str:
        return f"{name}(" + ",".join(f"{f['type']} {f['name']}" for f in self.types[name]) + ")"

    def _hash_struct(self, name: str, data: dict[str, Any]) -> bytes:
        typehash = self._typehashes[name]
        encoded = b"".join(_encode_value(f["type"], data[f["name"]]) for f in self.types[name])
        return keccak(typehash + encoded)


def keccak(data: bytes) -> bytes:
    """keccak-256 (pycryptodome directly: eth_utils' keccak is the same hash behind two wrappers)."""
    return _keccak.new(digest_bits=256, data=data).digest()


def _atomic(kind: str) -> bool:
    return (
        kind in ("address", "bool", "string", "bytes")
        or bool(_UINT.match(kind) or _INT.match(kind))
        or bool((m := _BYTES_N.match(kind)) and 1 <= int(m.group(1)) <= 32)
    )


def _encode_value(kind: str, value: Any) -> bytes:
    if kind == "string":
        return keccak(str(value).encode("utf-8"))
    if kind == "bytes":
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
        return keccak(raw)
    if kind == "address":
        # A 0x-hex address in any case stands for its own 20 bytes (what to_checksum_address
        # would give back, checksummed, without a keccak); anything else goes through it.
        digits = value[2:] if isinstance(value, str) and _ADDRESS.fullmatch(value) else to_checksum_address(value)[2:]
        return bytes.fromhex(digits).rjust(32, b"\0")
    if kind == "bool":
        return int(bool(value)).to_bytes(32, "big")
    if _UINT.match(kind):
        number = int(value)
        if number < 0:
            raise SchemaError(f"{kind} cannot hold {number}")
        return number.to_bytes(32, "big")
    if _INT.match(kind):
        return int(value).to_bytes(32, "big", signed=True)
    match = _BYTES_N.match(kind)
    if match:
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
        if len(raw) != int(match.group(1)):
            raise SchemaError(f"{kind} needs {match.group(1)} bytes, got {len(raw)}")
        return raw.ljust(32, b"\0")
    raise SchemaError(f"unsupported EIP-712 type {kind}")
