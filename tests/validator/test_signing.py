"""The node signs verdicts from the published typed data, exactly as the portal verifies them,
and builds SIWE text the portal accepts as canonical."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from portal.siwe import parse_message
from quorums import eip712
from validator.signing import SchemaError, VerdictSchema
from validator.siwe import siwe_message

KEY = "0x" + "42" * 32
ROOT = Path(__file__).resolve().parents[2]


def template(round_id: int = 7, content_hash: str = "0x" + "ab" * 32) -> dict:
    address = Account.from_key(KEY).address
    return eip712.verdict_typed_data(
        validator=address, round_id=round_id, content_hash=content_hash, verdict="approve", reason=""
    )["message"]


SCORES = {"authenticity": 10_000, "ownership": 7000, "quality": 9000, "uniqueness": 10_000}


def test_verdicts_signed_from_the_publication_verify_on_the_portal():
    schema = VerdictSchema(eip712.publication())
    for verdict, reason in [
        ("approve", "ok: CSV, 3 rows × 2 columns"),
        ("reject", "pii: 3 of 3 records"),
        ("approve", ""),
    ]:
        message = schema.message(template(), verdict=verdict, reason=reason, scores=SCORES, evidence="{}")
        typed = schema.typed_data(message)
        assert schema.digest(message).hex() == eip712.verdict_digest(typed).removeprefix("0x")
        signature = schema.sign(KEY, message)
        assert eip712.recover_signer(typed, signature) == Account.from_key(KEY).address
        assert signature == eip712.sign_verdict(KEY, typed)  # RFC 6979: the same bytes


def test_another_domain_in_the_publication_is_signed_as_published_not_as_hard_coded():
    publication = eip712.publication() | {"domain": {"name": "Other Portal", "version": "2", "chainId": 11155111}}
    schema = VerdictSchema(publication)
    message = schema.message(template(), verdict="approve", reason="", scores=SCORES)
    signable = encode_typed_data(full_message=schema.typed_data(message))
    assert schema.digest(message) == keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert schema.digest(message) != VerdictSchema(eip712.publication()).digest(message)


def test_a_struct_with_nested_types_falls_back_to_the_generic_encoder():
    publication = {
        "domain": {"name": "X", "version": "1", "chainId": 1},
        "primaryType": "Verdict",
        "types": {
            "EIP712Domain": eip712.VERDICT_TYPES["EIP712Domain"],
            "Verdict": [*eip712.VERDICT_TYPES["Verdict"], {"name": "scores", "type": "Score[]"}],
            "Score": [{"name": "name", "type": "string"}, {"name": "bps", "type": "uint16"}],
        },
    }
    schema = VerdictSchema(publication)
    message = schema.message(template() | {"scores": [{"name": "quality", "bps": 9000}]}, verdict="approve", reason="")
    signature = schema.sign(KEY, message)
    recovered = Account.recover_message(encode_typed_data(full_message=schema.typed_data(message)), signature=signature)
    assert recovered == Account.from_key(KEY).address


def test_a_publication_without_a_reason_field_is_refused():
    publication = eip712.publication()
    publication = publication | {
        "types": {
            **publication["types"],
            "ScoredVerdict": [f for f in publication["types"]["ScoredVerdict"] if f["name"] != "reason"],
        }
    }
    with pytest.raises(SchemaError, match="reason"):
        VerdictSchema(publication)


def test_an_unpublished_verdict_value_is_refused():
    with pytest.raises(SchemaError):
        VerdictSchema(eip712.publication()).message(template(), verdict="maybe", reason="")


def test_the_siwe_text_is_canonical_eip_4361_for_the_portals_host_and_port():
    address = Account.from_key(KEY).address
    text = siwe_message(
        portal_url="http://localhost:8123", address=address, nonce="abcdefgh12345678", chain_id=1,
        issued_at=datetime(2026, 12, 1, 20, 0, 0, 123456, tzinfo=UTC),
    )  # fmt: skip
    parsed = parse_message(text)  # raises unless it re-serialises to the same text
    assert (parsed.domain, str(parsed.uri), parsed.chain_id, parsed.address) == (
        "localhost:8123",
        "http://localhost:8123",
        1,
        address,
    )
    assert "Issued At: 2026-12-01T20:00:00.123Z" in text


def test_the_node_package_imports_no_django_and_no_portal_app():
    code = (
        "import sys, validator.node, validator.__main__, validator.checks.duplicates, validator.checks.structure;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django','portal','quorums','dats','idaos','ledger','rewards','contributions','ninja','celery'});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_coincurve_and_eth_account_sign_the_same_bytes():
    schema = VerdictSchema(eip712.publication())
    message = schema.message(template(), verdict="reject", reason="near_empty: x", scores=SCORES)
    signed = Account.unsafe_sign_hash(schema.digest(message), KEY)
    assert schema.sign(KEY, message) == "0x" + signed.signature.hex().removeprefix("0x")


def test_an_address_in_any_case_signs_the_same_digest_as_the_generic_encoder():
    schema = VerdictSchema(eip712.publication())
    message = schema.message(template(), verdict="approve", reason="ok", scores=SCORES, evidence="{}")
    address = message["validator"]
    generic = encode_typed_data(full_message=schema.typed_data(message))
    expected = keccak(b"\x19" + generic.version + generic.header + generic.body)
    for spelled in (address, address.lower(), "0x" + address[2:].upper()):
        assert schema.digest(message | {"validator": spelled}) == expected
    for malformed in (address + "\n", address[:-1], "0x" + "zz" * 20):
        with pytest.raises(ValueError):
            schema.digest(message | {"validator": malformed})


def test_one_schema_signs_for_several_keys_each_with_its_own():
    schema = VerdictSchema(eip712.publication())
    other = "0x" + "43" * 32
    message = schema.message(template(), verdict="approve", reason="", scores=SCORES, evidence="{}")
    typed = schema.typed_data(message)
    for key in (KEY, other, KEY):
        assert eip712.recover_signer(typed, schema.sign(key, message)) == Account.from_key(key).address
