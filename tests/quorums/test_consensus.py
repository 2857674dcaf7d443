from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quorums.consensus import decisive, draw_committee, outcome_at_deadline, slash_amount, tally


def test_committee_draw_is_rederivable_from_the_seed_and_ignores_input_order():
    seed = bytes(range(32))
    candidates = [(1, 100), (2, 300), (3, 50), (4, 1000), (5, 10)]
    first = draw_committee(seed, candidates, 3)
    assert first == draw_committee(seed, list(reversed(candidates)), 3)
    assert len(set(first)) == 3


def test_committee_draw_is_weighted_by_stake():
    heavy = sum(
        4 in draw_committee(i.to_bytes(32, "big"), [(1, 10), (2, 10), (3, 10), (4, 970)], 1) for i in range(300)
    )
    assert heavy > 250


def test_threshold_share_of_committee_stake_decides():
    seats = {1: 100, 2: 100, 3: 100}
    assert decisive(tally(seats, {1: "approve", 2: "approve"}), 6667) is None  # 2/3 is 6666.7 bps < 6667
    assert decisive(tally(seats, {1: "approve", 2: "approve"}), 6666) == "accepted"
    assert decisive(tally(seats, {1: "reject", 2: "reject", 3: "reject"}), 6667) == "rejected"


def test_equivocators_count_for_no_side_but_as_participants():
    t = tally({1: 100, 2: 100, 3: 100}, {1: "approve", 2: "approve", 3: "approve"}, equivocators={3})
    assert t.approve_stake == 200 and t.voted_stake == 300


def test_low_participation_at_deadline_is_inconclusive():
    t = tally({1: 100, 2: 100, 3: 100, 4: 100}, {1: "approve"})
    assert outcome_at_deadline(t, 6000, 5000) == "inconclusive"


@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=0, max_value=10_000))
def test_a_slash_never_exceeds_the_stake(stake, rate):
    assert 0 <= slash_amount(stake, rate) <= stake


@given(
    st.dictionaries(st.integers(1, 20), st.integers(1, 10**6), min_size=1, max_size=10),
    st.dictionaries(st.integers(1, 20), st.sampled_from(["approve", "reject"])),
    st.integers(5001, 10_000),
)
def test_at_most_one_side_can_be_decisive(seats, votes, threshold):
    t = tally(seats, votes)
    assert t.approve_stake + t.reject_stake <= t.committee_stake
    result = decisive(t, threshold)
    assert result in (None, "accepted", "rejected")
