"""Liquid delegation, pure: how delegations resolve at the snapshot, and how direct ballots
override them in the tally. No database access, so the portal (services/proposals.py,
selectors.live_tally) and the offline recount share this one implementation.

Resolution (docs/governance.md "Delegation"):
- each member's own weight is what the rule gives for their balance (tally.weight_for); a
  delegation moves `floor(amount * bps / 10000)` of it to each delegate (the rest is kept), so
  quadratic takes the square root per delegator before anything is summed, stake moves balances'
  weight, and under one_member_one_vote a vote is indivisible (only a 10000 bps share moves it);
- a delegate must be in the snapshot with power of their own, or the share stays;
- a delegate's own delegation carries what it received onward, up to `max_depth` hops;
- members on a cycle keep their own power (their delegations are ignored);
- `cap`, when set, bounds the delegated weight that can arrive at one delegate; flows beyond it
  stay with their delegators (origins in the order given, earliest delegation first).

A flow is (origin, via, amount): `via` is the path of delegates, the last one holding the amount.
The tally counts each flow with the first of [origin, *via] who cast a counted ballot: your own
ballot always wins, and an intermediate delegate's ballot beats their delegate's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

FULL_BPS = 10000
MAX_DEPTH = 3


@dataclass
class Resolution:
    # origin -> [(via, amount)]: what each delegator's weight became
    flows: dict[str, list[tuple[tuple[str, ...], int]]] = field(default_factory=dict)

    def out(self, origin: str) -> int:
        return sum(a for _, a in self.flows.get(origin, ()))

    def received(self) -> dict[str, list[tuple[str, tuple[str, ...], int]]]:
        """holder -> [(origin, via, amount)] for every flow ending at holder."""
        got: dict[str, list[tuple[str, tuple[str, ...], int]]] = {}
        for origin, flows in self.flows.items():
            for via, amount in flows:
                got.setdefault(via[-1], []).append((origin, via, amount))
        return got


def _cycle_members(edges: Mapping[str, Sequence[tuple[str, int]]]) -> set[str]:
    """Nodes on a directed cycle (strongly connected components of more than one node), iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    members: set[str] = set()
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter([d for d, _ in edges.get(root, ())]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter([d for d, _ in edges.get(child, ())])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    members.update(component)
    return members


def resolve(
    *,
    weights: Mapping[str, int],
    delegations: Iterable[tuple[str, Sequence[tuple[str, int]]]],
    cap: int | None = None,
    max_depth: int = MAX_DEPTH,
) -> Resolution:
    """Resolve (delegator, [(delegate, bps)]) — at most one per delegator, the most specific scope
    already chosen — against the snapshot's own weights."""
    edges: dict[str, list[tuple[str, int]]] = {}
    order: list[str] = []
    for delegator, shares in delegations:
        if delegator not in weights or delegator in edges:
            continue
        valid = [(d, int(bps)) for d, bps in shares if d != delegator and weights.get(d, 0) > 0 and int(bps) > 0]
        if valid and sum(b for _, b in valid) <= FULL_BPS:
            edges[delegator] = valid
            order.append(delegator)
    for node in _cycle_members(edges):
        edges.pop(node, None)
    result = Resolution()
    arrived: dict[str, int] = {}
    for origin in order:
        if origin not in edges or weights.get(origin, 0) <= 0:
            continue
        flows: list[tuple[tuple[str, ...], int]] = []
        # (holder path, amount) still moving; the origin's own path is empty.
        frontier: list[tuple[tuple[str, ...], int]] = [((), int(weights[origin]))]
        while frontier:
            via, amount = frontier.pop()
            holder = via[-1] if via else origin
            if len(via) < max_depth and holder in edges:
                moved = 0
                for delegate, bps in edges[holder]:
                    part = amount * bps // FULL_BPS
                    if part > 0:
                        frontier.append(((*via, delegate), part))
                        moved += part
                amount -= moved
            if via and amount > 0:
                flows.append((via, amount))
        if cap is not None:
            kept: list[tuple[tuple[str, ...], int]] = []
            for via, amount in flows:
                room = cap - arrived.get(via[-1], 0)
                take = min(amount, max(room, 0))
                if take > 0:
                    kept.append((via, take))
                    arrived[via[-1]] = arrived.get(via[-1], 0) + take
            flows = kept
        if flows:
            result.flows[origin] = sorted(flows)
    return result


def counted_weights(
    *, weights: Mapping[str, int], flows: Mapping[str, Sequence[tuple[Sequence[str], int]]], voted: Iterable[str]
) -> dict[str, int]:
    """The weight each voter's counted ballot carries: their whole own weight (a delegator who
    votes takes back everything they delegated), plus every flow of a delegator who did not vote
    whose first voter along `via` they are."""
    voted = set(voted)
    counted = {v: int(weights.get(v, 0)) for v in voted}
    for origin, origin_flows in flows.items():
        if origin in voted:
            continue
        for via, amount in origin_flows:
            for holder in via:
                if holder in voted:
                    counted[holder] += int(amount)
                    break
    return counted


def adjusted_sums(
    *,
    sums: Mapping[str, int],
    flows: Mapping[str, Sequence[tuple[Sequence[str], int]]],
    choice_of: Mapping[str, str],
) -> dict[str, int]:
    """Per-choice sums of counted ballots (each at its voter's own snapshot weight) moved by the
    delegations: a delegator who voted keeps all their weight (nothing to move); a delegator who
    did not gives each flow to the first of its delegates who voted."""
    out = {c: int(w) for c, w in sums.items()}
    for origin, origin_flows in flows.items():
        if origin in choice_of:
            continue
        for via, amount in origin_flows:
            for holder in via:
                if holder in choice_of:
                    out[choice_of[holder]] = out.get(choice_of[holder], 0) + int(amount)
                    break
    return out


def behalf(
    *, flows: Mapping[str, Sequence[tuple[Sequence[str], int]]], voted: Iterable[str]
) -> dict[str, list[tuple[str, int, str | None]]]:
    """holder -> [(origin, amount, counted_by)] for every flow through a holder who voted: the
    flow counts for the holder when `counted_by` is the holder, and otherwise it left them because
    `counted_by` (the origin voting directly, or a delegate before the holder) voted first. The
    same rule as counted_weights, spelled out per delegator for pages and receipts."""
    voted = set(voted)
    out: dict[str, list[tuple[str, int, str | None]]] = {}
    for origin, origin_flows in flows.items():
        for via, amount in origin_flows:
            path = [origin, *via]
            first = next((p for p in path if p in voted), None)
            for holder in via:
                if holder in voted:
                    out.setdefault(holder, []).append((origin, int(amount), first))
    return out
