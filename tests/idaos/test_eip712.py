from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from idaos import eip712
from tests.personas import many

# A copy of the reference vectors made with ethers (shared/vectors/reference.json).
VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "reference.json").read_text())["eip712_ballot"]


def test_encoder_reproduces_reference_digest_and_signer():
    assert VECTORS["domain"] == eip712.domain(VECTORS["domain"]["chainId"])
    assert VECTORS["types"]["Ballot"] == eip712.BALLOT_TYPE
    signer, digest = eip712.verify(VECTORS["message"], VECTORS["signature"], chain_id=VECTORS["domain"]["chainId"])
    assert digest == VECTORS["digest"]
    assert signer == VECTORS["signer"]


def test_fast_digest_matches_the_reference_vector():
    message = dict(VECTORS["message"])
    assert "0x" + eip712.fast_digest(message, chain_id=VECTORS["domain"]["chainId"]).hex() == VECTORS["digest"]


SIGNERS = many(3, start=4242)


@settings(max_examples=60, deadline=None)
@given(
    who=st.sampled_from(SIGNERS),
    lower=st.booleans(),
    idao=st.text(max_size=40),
    proposal=st.integers(min_value=0, max_value=2**256 - 1),
    choice=st.sampled_from(["for", "against", "abstain"]),
    reason=st.text(max_size=200),
    timestamp=st.integers(min_value=0, max_value=2**64 - 1),
    chain_id=st.sampled_from([1, 11155111, 31337]),
)
def test_fast_path_gives_the_generic_encoders_digest_and_signer(
    who, lower, idao, proposal, choice, reason, timestamp, chain_id
):
    message = {
        "voter": who.address.lower() if lower else who.address,
        "idao": idao,
        "proposal": proposal,
        "choice": choice,
        "reason": reason,
        "timestamp": timestamp,
    }
    signature = who.sign_typed(eip712.typed_data(message, chain_id=chain_id))
    assert "0x" + eip712.fast_digest(message, chain_id=chain_id).hex() == eip712.digest(message, chain_id=chain_id)
    assert eip712.verify(message, signature, chain_id=chain_id) == (
        who.address,
        eip712.digest(message, chain_id=chain_id),
    )
