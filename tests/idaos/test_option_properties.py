"""Instant runoff (idaos.tally.instant_runoff), property-tested with Hypothesis. The properties,
each true of instant runoff as the portal runs it (weighted ballots, partial rankings exhaust,
the last-listed option eliminated on a tie for least):

1. Majority: an option ranked first on ballots carrying more than half of all the weight wins,
   in the first round.
2. Final pairwise: the winner beats every option still in the race in the deciding round
   pairwise: restricted to those two, more weight ranks the winner above it than the other way
   (in that round the winner holds more than half of the continuing weight, and every such ballot
   ranks it above all the others still in). Instant runoff is NOT independent of irrelevant
   alternatives in general (removing an option eliminated in a later round can change the
   winner); what holds, and is property 3, is the following.
3. Removing the first-eliminated option: deleting from the contest the option eliminated in the
   first round (when no option had a majority there) changes no later round and not the winner:
   the new election's round k is the old round k+1 (the same counts and continuing weight; a
   ballot that ranked only the removed option is no longer cast instead of exhausted)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from idaos.tally import compute_options, instant_runoff


@st.composite
def elections(draw, min_options: int = 2):
    count = draw(st.integers(min_value=min_options, max_value=6))
    ranking = st.permutations(list(range(count))).flatmap(
        lambda order: st.integers(min_value=1, max_value=count).map(lambda k: list(order[:k]))
    )
    ballots = draw(st.lists(st.tuples(ranking, st.integers(min_value=1, max_value=50)), min_size=1, max_size=30))
    return count, ballots


def winner(count, ballots):
    return instant_runoff(count, ballots)[-1]["winner"]


@settings(max_examples=300, deadline=None)
@given(elections(), st.data())
def test_an_option_first_on_more_than_half_the_weight_wins_in_the_first_round(election, data):
    count, ballots = election
    favourite = data.draw(st.integers(min_value=0, max_value=count - 1))
    others = sum(w for _, w in ballots)
    # Enough ballots ranking the favourite first to outweigh all the others.
    ballots = [*ballots, ([favourite], others + 1)]
    rounds = instant_runoff(count, ballots)
    assert len(rounds) == 1 and rounds[0]["winner"] == favourite
    tally = compute_options(
        method="ranked", options=[str(i) for i in range(count)], ballots=ballots, voters=1, eligible=1, quorum_bps=0
    )
    assert tally["winner"] == favourite and tally["outcome"] == "passed"


@settings(max_examples=300, deadline=None)
@given(elections())
def test_the_winner_beats_each_option_left_in_the_deciding_round_pairwise(election):
    count, ballots = election
    rounds = instant_runoff(count, ballots)
    won = rounds[-1]["winner"]
    if won is None:
        return
    still_in = [o for o, c in enumerate(rounds[-1]["counts"]) if c is not None and o != won]
    for other in still_in:
        prefer_winner = sum(w for r, w in ballots if won in r and (other not in r or r.index(won) < r.index(other)))
        prefer_other = sum(w for r, w in ballots if other in r and (won not in r or r.index(other) < r.index(won)))
        assert prefer_winner > prefer_other
        # And the two-option runoff between them alone elects the winner.
        pair = [([0 if o == won else 1 for o in r if o in (won, other)], w) for r, w in ballots]
        assert winner(2, [(r, w) for r, w in pair if r]) == 0


@settings(max_examples=300, deadline=None)
@given(elections(min_options=3))
def test_removing_the_first_eliminated_option_changes_neither_the_later_rounds_nor_the_winner(election):
    count, ballots = election
    rounds = instant_runoff(count, ballots)
    out = rounds[0]["eliminated"]
    if out is None:
        return  # a first-round majority (or a tie between two): nothing eliminated
    keep = [o for o in range(count) if o != out]
    renumber = {o: i for i, o in enumerate(keep)}
    fewer = [([renumber[o] for o in r if o != out], w) for r, w in ballots]
    # A ballot that ranked only the removed option ranks nobody now: it is not cast (a ballot
    # picks at least one option); in the old election it was exhausted from round 2 on.
    only_out = sum(w for r, w in fewer if not r)
    again = instant_runoff(count - 1, [(r, w) for r, w in fewer if r])
    assert len(again) == len(rounds) - 1
    for old, new in zip(rounds[1:], again, strict=True):
        assert [old["counts"][o] for o in keep] == new["counts"]
        assert old["continuing"] == new["continuing"]
        assert int(old["exhausted"]) == int(new["exhausted"]) + only_out
    old_winner = rounds[-1]["winner"]
    assert again[-1]["winner"] == (None if old_winner is None else renumber[old_winner])
