"""Properties of the one delegation resolution (idaos.delegation), on random graphs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from idaos import delegation

PEOPLE = [f"0x{i:040x}" for i in range(1, 9)]


@st.composite
def graphs(draw, acyclic: bool = False):
    weights = {p: draw(st.integers(min_value=0, max_value=10**6)) for p in PEOPLE}
    delegations = []
    for i, p in enumerate(PEOPLE):
        if not draw(st.booleans()):
            continue
        pool = PEOPLE[i + 1 :] if acyclic else [q for q in PEOPLE if q != p]
        if not pool:
            continue
        targets = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
        bps = draw(st.lists(st.integers(min_value=1, max_value=10000), min_size=len(targets), max_size=len(targets)))
        if sum(bps) > 10000:
            bps = [max(1, b * 10000 // sum(bps) - 1) for b in bps]
        delegations.append((p, list(zip(targets, bps, strict=True))))
    cap = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)))
    return weights, delegations, cap


def power(weights, resolution):
    """Each holder's weight if nobody votes directly: own less delegated plus received."""
    got = resolution.received()
    return {p: weights[p] - resolution.out(p) + sum(a for _, _, a in got.get(p, [])) for p in weights}


@settings(max_examples=300, deadline=None)
@given(graph=graphs(), voted=st.sets(st.sampled_from(PEOPLE)))
def test_total_counted_weight_never_exceeds_eligible_power_and_nothing_is_counted_twice(graph, voted):
    weights, delegations, cap = graph
    r = delegation.resolve(weights=weights, delegations=delegations, cap=cap)
    assert sum(power(weights, r).values()) == sum(weights.values())  # moved, never created
    assert all(r.out(p) <= weights[p] for p in weights)
    counted = delegation.counted_weights(weights=weights, flows=r.flows, voted=voted)
    assert sum(counted.values()) <= sum(weights.values())
    # each unit is counted once: by its origin if the origin voted, else by one delegate at most
    expected = sum(weights[v] for v in voted) + sum(
        a for o, fl in r.flows.items() if o not in voted for via, a in fl if any(h in voted for h in via)
    )
    assert sum(counted.values()) == expected
    sums = delegation.adjusted_sums(
        sums={"for": sum(weights[v] for v in voted)}, flows=r.flows, choice_of=dict.fromkeys(voted, "for")
    )
    assert sums["for"] == expected


@settings(max_examples=300, deadline=None)
@given(graph=graphs(acyclic=True), data=st.data())
def test_removing_a_delegation_never_increases_anyone_elses_power(graph, data):
    # Uncapped: under a cap, a removal can return a capped surplus to its own delegator (by design).
    weights, delegations, _ = graph
    cap = None
    if not delegations:
        return
    removed = data.draw(st.integers(min_value=0, max_value=len(delegations) - 1))
    before = power(weights, delegation.resolve(weights=weights, delegations=delegations, cap=cap))
    rest = delegations[:removed] + delegations[removed + 1 :]
    after = power(weights, delegation.resolve(weights=weights, delegations=rest, cap=cap))
    delegator = delegations[removed][0]
    assert all(after[p] <= before[p] for p in weights if p != delegator)


@settings(max_examples=200, deadline=None)
@given(graph=graphs())
def test_no_power_travels_more_than_three_hops_or_out_of_a_cycle(graph):
    weights, delegations, cap = graph
    r = delegation.resolve(weights=weights, delegations=delegations, cap=cap)
    assert all(1 <= len(via) <= delegation.MAX_DEPTH for fl in r.flows.values() for via, _ in fl)
    assert all(o not in via for o, fl in r.flows.items() for via, _ in fl)


@settings(max_examples=200, deadline=None)
@given(graph=graphs())
def test_no_delegate_receives_more_than_the_cap(graph):
    weights, delegations, cap = graph
    r = delegation.resolve(weights=weights, delegations=delegations, cap=cap)
    if cap is not None:
        assert all(sum(a for _, _, a in got) <= cap for got in r.received().values())
