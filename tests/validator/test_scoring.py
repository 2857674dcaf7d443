"""Score vectors from the node's checks: each criterion in basis points with the check codes and
figures behind it, and the evidence string the node signs beside them."""

from __future__ import annotations

import json

import pytest

from validator.checks import Content, Expected, run_all
from validator.scoring import MAX_EVIDENCE, evidence_json, score_vector, scores_of


@pytest.fixture
def write(tmp_path):
    def make(data: bytes, name: str) -> Content:
        return Content.from_bytes(data, tmp_path / name, name=name)

    return make


def _vector(content: Content) -> dict:
    return score_vector(run_all(content, Expected(content_hash=content.sha256, size=content.size)))


def test_a_clean_csv_scores_full_marks_with_its_figures(write):
    rows = "".join(f"{i},item number {i},{i * 3}\n" for i in range(40))
    vector = _vector(write(("id,name,value\n" + rows).encode(), "ok.csv"))
    assert scores_of(vector) == {"authenticity": 10_000, "ownership": 10_000, "quality": 10_000, "uniqueness": 10_000}
    structure = next(c for c in vector["quality"]["checks"] if c["check"] == "structure")
    assert structure["figures"]["rows"] == 40 and structure["code"] == "ok"


def test_a_near_empty_file_scores_zero_quality_with_the_reason_code(write):
    vector = _vector(write(b"\n", "empty.csv"))
    assert vector["quality"]["score"] == 0
    assert "near_empty" in [c["code"] for c in vector["quality"]["checks"]]
    assert vector["authenticity"]["score"] == 10_000


def test_personal_data_lowers_ownership_by_twice_its_share(write):
    rows = [f"{i},person{i}@example.com,+44 20 7946 0{i:03d}" if i % 2 == 0 else f"{i},nobody,none" for i in range(20)]
    vector = _vector(write(("id,contact,phone\n" + "\n".join(rows) + "\n").encode(), "people.csv"))
    pii = next(c for c in vector["ownership"]["checks"] if c["check"] == "pii")
    assert pii["code"] == "pii"
    assert vector["ownership"]["score"] == max(0, 10_000 - round(pii["figures"]["share"] * 2 * 10_000))


def test_the_evidence_is_compact_json_within_the_portals_limit(write):
    vector = _vector(write(b"\n", "empty.csv"))
    evidence = json.loads(evidence_json(vector))
    assert set(evidence) == {"authenticity", "ownership", "quality", "uniqueness"}
    assert evidence["quality"][-1][:2] == ["emptiness", "near_empty"]
    assert len(evidence_json(vector)) <= MAX_EVIDENCE
