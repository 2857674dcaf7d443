"""Hypothesis drives random sequences of ledger operations; the invariants hold after every step."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ledger import owners, selectors, services
from ledger.errors import IdempotencyKeyReused, InsufficientFunds, InvalidAmount
from ledger.models import Asset, Transaction

OWNERS = [
    owners.ISSUER,
    "user:0x" + "1" * 40,
    "user:0x" + "2" * 40,
    owners.idao("bio"),
    owners.escrow(1),
    owners.REWARD_POOL,
]
HOLDERS = OWNERS[1:]
ASSETS = list(Asset.values)
amounts = st.integers(min_value=1, max_value=10**30)
bad_amounts = st.one_of(
    st.integers(max_value=0),
    st.booleans(),
    st.floats(allow_nan=False),
    st.integers(min_value=2**255, max_value=2**256),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        self.expected = {(o, a): 0 for o in OWNERS for a in ASSETS}
        self.calls: list[tuple[str, dict, int]] = []  # (service, kwargs, transaction id)
        self.counter = 0

    def teardown(self):
        transaction.set_rollback(True)
        self.savepoint.__exit__(None, None, None)

    def _key(self) -> str:
        self.counter += 1
        return f"op:{self.counter}"

    def _move(self, source, destination, asset, amount):
        self.expected[(source, asset)] -= amount
        self.expected[(destination, asset)] += amount

    @rule(to=st.sampled_from(HOLDERS), asset=st.sampled_from(ASSETS), amount=amounts)
    def mint(self, to, asset, amount):
        kwargs = {"to": to, "asset": asset, "amount": amount, "idempotency_key": self._key()}
        tx = services.mint(**kwargs)
        self._move(owners.ISSUER, to, asset, amount)
        self.calls.append(("mint", kwargs, tx.pk))

    @rule(
        source=st.sampled_from(HOLDERS),
        destination=st.sampled_from(OWNERS),
        asset=st.sampled_from(ASSETS),
        kind=st.sampled_from(["transfer", "bond", "unbond", "slash", "reward", "fee", "burn"]),
        share=st.floats(min_value=0, max_value=1.5),
    )
    def transfer(self, source, destination, asset, kind, share):
        if source == destination:
            return
        have = self.expected[(source, asset)]
        amount = max(1, int(have * share))
        kwargs = {
            "source": source,
            "destination": destination,
            "asset": asset,
            "amount": amount,
            "kind": kind,
            "idempotency_key": self._key(),
        }
        if amount > have:
            with pytest.raises(InsufficientFunds):
                services.transfer(**kwargs)
            return
        tx = services.transfer(**kwargs)
        self._move(source, destination, asset, amount)
        self.calls.append(("transfer", kwargs, tx.pk))

    @rule(to=st.sampled_from(HOLDERS), amount=bad_amounts)
    def invalid_amount(self, to, amount):
        with pytest.raises(InvalidAmount):
            services.mint(to=to, asset="LAZ", amount=amount, idempotency_key=self._key())

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def repeat(self, data):
        service, kwargs, tx_id = data.draw(st.sampled_from(self.calls))
        assert getattr(services, service)(**kwargs).pk == tx_id

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), extra=st.integers(min_value=1, max_value=5))
    def repeat_with_other_content(self, data, extra):
        service, kwargs, _ = data.draw(st.sampled_from(self.calls))
        with pytest.raises(IdempotencyKeyReused):
            getattr(services, service)(**{**kwargs, "amount": kwargs["amount"] + extra})

    @rule()
    def seal(self):
        services.block_seal()

    @invariant()
    def every_transaction_balances(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM ledger_posting GROUP BY transaction_id, asset HAVING SUM(amount) <> 0) x"
            )
            assert cursor.fetchone()[0] == 0

    @invariant()
    def balances_match_the_model_and_the_postings(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.owner, p.asset, SUM(p.amount) FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id"
                " GROUP BY a.owner, p.asset"
            )
            sums = {(o, a): int(s) for o, a, s in cursor.fetchall()}
        for asset in ASSETS:
            actual = selectors.balances(OWNERS, asset)
            for owner in OWNERS:
                assert actual[owner] == self.expected[(owner, asset)] == sums.get((owner, asset), 0)
                if owner != owners.ISSUER:
                    assert actual[owner] >= 0

    @invariant()
    def supply_is_conserved(self):
        supply = selectors.supply()
        for asset in ASSETS:
            assert sum(self.expected[(o, asset)] for o in HOLDERS) == supply[asset]
        assert Transaction.objects.count() == len(self.calls)


@pytest.mark.slow
@pytest.mark.django_db
def test_random_ledger_operations_keep_every_invariant():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )


_legs = st.lists(
    st.tuples(st.text(max_size=12), st.text(max_size=6), st.integers(min_value=-(2**255) + 1, max_value=2**255 - 1)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.text(max_size=20),
    key=st.text(max_size=40),
    memo=st.text(max_size=40),
    legs=_legs,
    tx_id=st.integers(1, 2**62),
)
def test_the_written_transaction_json_is_byte_for_byte_canonical_json(kind, key, memo, legs, tx_id):
    """services' direct writers of a transaction's fingerprint and leaf payload JSON equal
    merkle.canonical_json of the same dicts on any text (quotes, backslashes, control characters,
    non-ASCII) and any amount, so fingerprints and leaf hashes never change."""
    from ledger import merkle
    from ledger.services import fingerprint_json, tx_payload_json

    postings = sorted([o, a, str(x)] for o, a, x in legs)
    assert fingerprint_json(kind, legs, memo) == merkle.canonical_json(
        {"kind": kind, "memo": memo, "postings": postings}
    )
    payload = {
        "id": tx_id,
        "kind": kind,
        "idempotencyKey": key,
        "memo": memo,
        "postings": [[o, a, str(x)] for o, a, x in legs],
    }
    assert tx_payload_json(tx_id, key, kind, memo, legs) == merkle.canonical_json(payload)


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    )
)
def test_a_text_list_sent_as_its_array_literal_reads_back_unchanged(values):
    """services._text_array sends a list as one array literal built from its JSON: PostgreSQL
    reads back exactly the strings given (quotes, backslashes, braces, commas, NULL, spaces,
    control characters, non-ASCII)."""
    from ledger.services import _text_array

    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [_text_array(values)])
        assert cursor.fetchone()[0] == values


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    numbers=st.lists(st.integers(min_value=-(10**77), max_value=10**77), min_size=1, max_size=8),
    ids=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=8),
    blobs=st.lists(st.binary(max_size=40), min_size=1, max_size=8),
    moments=st.lists(st.datetimes(timezones=st.just(UTC)), min_size=1, max_size=8),
)
def test_a_few_rows_sent_as_array_literals_read_back_unchanged(numbers, ids, blobs, moments):
    """services._array_literal sends each column of a small batch as one array literal: numeric,
    bigint, bytea and timestamptz values read back exactly; a NULL still travels (as a list)."""
    from ledger.services import _array_literal

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::numeric[], %s::bigint[], %s::bytea[], %s::timestamptz[], %s::bigint[]",
            [
                _array_literal("numeric", numbers),
                _array_literal("bigint", ids),
                _array_literal("bytea", blobs),
                _array_literal("timestamptz", moments),
                _array_literal("bigint", [*ids, None]),
            ],
        )
        got_numbers, got_ids, got_blobs, got_moments, with_null = cursor.fetchone()
    assert [int(x) for x in got_numbers] == numbers
    assert got_ids == ids
    assert [bytes(b) for b in got_blobs] == blobs
    assert got_moments == moments
    assert with_null == [*ids, None]
