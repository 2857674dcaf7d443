from __future__ import annotations

import json
from pathlib import Path

from idaos import eip712

VECTORS = json.loads(Path("/work/shared/vectors/reference.json").read_text())["eip712_ballot"]


def test_encoder_reproduces_reference_digest_and_signer():
    assert VECTORS["domain"] == eip712.domain(VECTORS["domain"]["chainId"])
    assert VECTORS["types"]["Ballot"] == eip712.BALLOT_TYPE
    signer, digest = eip712.verify(VECTORS["message"], VECTORS["signature"], chain_id=VECTORS["domain"]["chainId"])
    assert digest == VECTORS["digest"]
    assert signer == VECTORS["signer"]
