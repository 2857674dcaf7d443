"""Property: for random usage and stakes, payouts are non-negative, sum to the pool, and every
contributor's payout is monotone in the usage of their DAT; holding the lines of DATs inside their
challenge window in escrow changes only their recipient."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dats.models import DAT
from ledger import owners
from ledger import services as ledger_services
from quorums.models import Seat
from rewards.models import Epoch, Payout, UsageEvent, UsageReport
from rewards.services.epochs import epoch_close, epoch_current
from rewards.services.metering import epoch_usage_add

from .factories import IdaoFactory, QuorumFactory, UserFactory, ValidatorFactory, make_dat, make_model

_clock = itertools.count(1)
_keys = itertools.count()


@pytest.fixture
def market(db):
    """Six DATs with distinct owners over two iDAOs; each DAT is the artifact of its own model,
    and a seventh model learns from three of them."""
    a = IdaoFactory(split_contributors_bps=7000, split_treasury_bps=2000, split_validators_bps=1000)
    b = IdaoFactory(split_contributors_bps=5000, split_treasury_bps=4000, split_validators_bps=1000)
    quorum = QuorumFactory()
    validators = [ValidatorFactory(quorum=quorum, stake=1) for _ in range(2)]
    dats = [
        make_dat(idao=(a if i < 4 else b), owner=UserFactory(), seats=[(v, 1, "approve") for v in validators])
        for i in range(6)
    ]
    own = [make_model(idao=d.idao, artifact_hash=d.sha256, manifest=[], name=f"m{d.pk}") for d in dats]
    shared = make_model(
        idao=a, artifact_hash="0x" + "ab" * 32, manifest=[f"dat:{d.pk}" for d in dats[1:4]], name="shared"
    )
    return {
        "dats": dats,
        "versions": [*own, shared],
        "reporter": UserFactory(),
        "validators": [v.pk for v in validators],
    }


def _close(market, units: list[int], stakes: tuple[int, int]) -> dict[tuple[str, str], int]:
    for validator_id, stake in zip(market["validators"], stakes, strict=True):
        Seat.objects.filter(validator_id=validator_id).update(stake=stake)
    base = timezone.now() - timedelta(days=400) + timedelta(hours=next(_clock) * 2)
    epoch = epoch_current(now=base)
    report = UsageReport.objects.create(reporter=market["reporter"], payer="user:x", epoch=epoch, received=len(units))
    events = [
        UsageEvent(
            reporter=market["reporter"],
            idempotency_key=f"p{next(_keys)}",
            report=report,
            epoch=epoch,
            idao_id=v.model.idao_id,
            model_version=v,
            kind="inference",
            units=n,
            weighted=n,
            fee=n,
            occurred_at=base,
        )
        for v, n in zip(market["versions"], units, strict=True)
        if n > 0
    ]
    UsageEvent.objects.bulk_create(events)
    epoch_usage_add(report_id=report.pk)
    fees = sum(units)
    if fees:
        ledger_services.mint(
            to=owners.REWARD_POOL, asset="CREDIT", amount=fees, idempotency_key=f"prop-fees:{epoch.pk}"
        )
    closed = epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)
    lines = list(Payout.objects.filter(epoch=closed).values_list("recipient", "asset", "amount"))
    assert all(int(amount) > 0 for _, _, amount in lines)
    totals = {a: int(s) for a, s in Payout.objects.filter(epoch=closed).values_list("asset").annotate(s=Sum("amount"))}
    expected = {"LAZ": 1_000_000, "CREDIT": fees} if fees else {}
    assert totals == {k: v for k, v in expected.items() if v}
    paid: dict[tuple[str, str], int] = {}
    for recipient, asset, amount in lines:
        paid[(recipient, asset)] = paid.get((recipient, asset), 0) + int(amount)
    return paid


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    units=st.lists(st.integers(min_value=0, max_value=50_000), min_size=7, max_size=7),
    stakes=st.tuples(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**6)),
    which=st.integers(min_value=0, max_value=5),
    extra=st.integers(min_value=1, max_value=100_000),
)
def test_payouts_are_non_negative_sum_to_the_pool_and_grow_with_usage(market, units, stakes, which, extra):
    before = _close(market, units, stakes)
    more = list(units)
    more[which] += extra
    after = _close(market, more, stakes)
    owner = owners.user(market["dats"][which].owner.address)
    for asset in ("LAZ", "CREDIT"):
        assert after.get((owner, asset), 0) >= before.get((owner, asset), 0)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    units=st.lists(st.integers(min_value=0, max_value=50_000), min_size=7, max_size=7),
    scores=st.lists(st.integers(min_value=0, max_value=10_000), min_size=6, max_size=6),
    stakes=st.tuples(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**6)),
    which=st.integers(min_value=0, max_value=5),
    extra=st.integers(min_value=1, max_value=100_000),
)
def test_usage_x_score_payouts_sum_to_the_pool_grow_with_usage_and_follow_the_score(
    market, units, scores, stakes, which, extra
):
    from dats.models import DAT
    from idaos.models import IDAO

    IDAO.objects.filter(pk__in={d.idao_id for d in market["dats"]}).update(reward_weighting="usage_x_score")
    for dat, score in zip(market["dats"], scores, strict=True):
        DAT.objects.filter(pk=dat.pk).update(scores={"composite": score})
    before = _close(market, units, stakes)  # asserts: positive lines summing exactly to the pool
    more = list(units)
    more[which] += extra
    after = _close(market, more, stakes)
    owner = owners.user(market["dats"][which].owner.address)
    for asset in ("LAZ", "CREDIT"):
        assert after.get((owner, asset), 0) >= before.get((owner, asset), 0)
    # Two DATs of one iDAO used equally through their own models only: the better-scored earns at least as much.
    even = [0] * 7
    even[4] = even[5] = 1000
    paid = _close(market, even, stakes)
    hi, lo = sorted((4, 5), key=lambda i: -scores[i])
    for asset in ("LAZ", "CREDIT"):
        hi_paid = paid.get((owners.user(market["dats"][hi].owner.address), asset), 0)
        assert hi_paid >= paid.get((owners.user(market["dats"][lo].owner.address), asset), 0)
        if scores[lo] == 0:
            assert paid.get((owners.user(market["dats"][lo].owner.address), asset), 0) == 0


@pytest.mark.django_db
def test_usage_x_score_splits_the_contributor_share_by_usage_times_score(market):
    """Hand-computed: iDAO b (contributors 50%) holds DATs 4 and 5, used 1000 units each through
    their own models and nothing else; scores 10000 and 5000. b's share of 1,000,000 LAZ is all of
    it; contributors 500,000 split 2:1 -> 333,333 and 166,666 (floors), the treasury the rest."""
    from dats.models import DAT
    from idaos.models import IDAO

    d4, d5 = market["dats"][4], market["dats"][5]
    IDAO.objects.filter(pk=d4.idao_id).update(reward_weighting="usage_x_score")
    DAT.objects.filter(pk=d4.pk).update(scores={"composite": 10_000})
    DAT.objects.filter(pk=d5.pk).update(scores={"composite": 5000})
    paid = _close(market, [0, 0, 0, 0, 1000, 1000, 0], (1, 1))
    assert paid[(owners.user(d4.owner.address), "LAZ")] == 333_333
    assert paid[(owners.user(d5.owner.address), "LAZ")] == 166_666


def _lines_of_last_epoch() -> dict[tuple[str, int | None, str], tuple[str, int]]:
    epoch = Epoch.objects.filter(state="closed").order_by("-number").first()
    return {
        (role, dat_id, asset): (recipient, int(amount))
        for role, dat_id, asset, recipient, amount in Payout.objects.filter(
            epoch=epoch, role__in=("contributor", "validator")
        ).values_list("role", "dat_id", "asset", "recipient", "amount")
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    units=st.lists(st.integers(min_value=0, max_value=50_000), min_size=7, max_size=7),
    held=st.sets(st.integers(min_value=0, max_value=5)),
)
def test_payouts_held_in_a_challenge_window_change_only_their_recipient_and_still_sum_to_the_pool(market, units, held):
    """DATs minted just now are inside their challenge window: their contributor lines go to
    their escrow, with the amounts they would have paid the owner; the lines still sum exactly to
    the pool (asserted in _close)."""
    now = timezone.now()
    dats = market["dats"]
    for i, d in enumerate(dats):
        DAT.objects.filter(pk=d.pk).update(minted_at=now if i in held else now - timedelta(days=30))
    _close(market, units, (1, 1))
    with_holds = _lines_of_last_epoch()
    DAT.objects.filter(pk__in=[d.pk for d in dats]).update(minted_at=now - timedelta(days=30))
    _close(market, units, (1, 1))
    without = _lines_of_last_epoch()
    assert {k: v[1] for k, v in with_holds.items()} == {k: v[1] for k, v in without.items()}
    by_pk = {d.pk: (i, d) for i, d in enumerate(dats)}
    for (role, dat_id, _asset), (recipient, _amount) in with_holds.items():
        i, d = by_pk[dat_id]
        if role == "contributor":
            assert recipient == (d.escrow_owner if i in held else owners.user(d.owner.address))
        else:
            assert not recipient.startswith("escrow:")
