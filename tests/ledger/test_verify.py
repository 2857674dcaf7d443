from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from ledger import owners, proofs, selectors, services
from ledger.errors import InvalidTransaction
from ledger.models import Block, Leaf, Posting
from ledger.verify import ledger_verify
from tests.personas import ALICE, BOB

pytestmark = pytest.mark.django_db

A = owners.user(ALICE.address)
B = owners.user(BOB.address)


@pytest.fixture
def ledger():
    services.mint(to=A, asset="LAZ", amount=100, idempotency_key="m1")
    services.transfer(source=A, destination=B, asset="LAZ", amount=40, kind="transfer", idempotency_key="t1")
    services.anchor(kind="test.record", subject="r1", payload={"hello": "world"})
    services.block_seal()
    services.mint(to=B, asset="CREDIT", amount=7, idempotency_key="m2")
    services.block_seal()
    services.anchor(kind="test.record", subject="queued", payload={"n": 1})


def _tamper(sql, params, table):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush deferred FK checks so ALTER TABLE may run
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_the_database_refuses_a_posting_or_leaf_naming_a_missing_transaction_or_account_and_deleting_an_account(
    ledger,
):
    """References are checked once per statement (migration 0006), in every writing path."""
    posting = Posting.objects.first()
    for statement, params in (
        (
            "INSERT INTO ledger_posting (transaction_id, account_id, asset, amount, balance_after)"
            " VALUES (%s, %s, 'LAZ', 1, 1)",
            [10**9, posting.account_id],
        ),
        (
            "INSERT INTO ledger_posting (transaction_id, account_id, asset, amount, balance_after)"
            " VALUES (%s, %s, 'LAZ', 1, 1)",
            [posting.transaction_id, 10**9],
        ),
        (
            "INSERT INTO ledger_leaf (id, kind, subject, payload_json, payload_hash, leaf_hash, created_at, transaction_id)"
            " VALUES (10^9, 'x', 'y', '{}', '0x', '\\x00', now(), %s)",
            [10**9],
        ),
    ):
        with pytest.raises(IntegrityError, match="does not exist"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_account WHERE id = %s", [posting.account_id])
    assert ledger_verify().ok


def test_an_untouched_ledger_verifies(ledger):
    report = ledger_verify()
    assert report.ok, report.problem
    call_command("verify_ledger")


def test_the_database_refuses_to_update_or_delete_postings_and_sealed_blocks(ledger):
    posting = Posting.objects.first()
    for statement, params in (
        ("UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [posting.pk]),
        ("DELETE FROM ledger_posting WHERE id = %s", [posting.pk]),
        ("UPDATE ledger_block SET merkle_root = prev_hash WHERE height = 1", []),
        ("DELETE FROM ledger_block WHERE height = 2", []),
        ("UPDATE ledger_leaf SET payload_json = '{}' WHERE id = (SELECT MIN(id) FROM ledger_leaf)", []),
        ("DELETE FROM ledger_transaction", []),
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    assert ledger_verify().ok


def test_a_tampered_posting_is_named(ledger):
    posting = Posting.objects.order_by("id").last()
    _tamper("UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [posting.pk], "ledger_posting")
    report = ledger_verify()
    assert report.problem == f"transaction {posting.transaction_id}: its {posting.asset} postings do not sum to zero"
    with pytest.raises(CommandError, match=f"transaction {posting.transaction_id}"):
        call_command("verify_ledger")


def test_a_posting_moved_between_accounts_is_named(ledger):
    posting = Posting.objects.filter(amount__gt=0, asset="LAZ").order_by("id").last()
    other = Posting.objects.exclude(account=posting.account).first().account_id
    _tamper("UPDATE ledger_posting SET account_id = %s WHERE id = %s", [other, posting.pk], "ledger_posting")
    assert (
        ledger_verify().problem
        == f"transaction {posting.transaction_id}: its rows differ from the payload its leaf anchored"
    )


def test_a_tampered_leaf_is_named(ledger):
    leaf = Leaf.objects.get(subject="r1")
    _tamper("UPDATE ledger_leaf SET payload_json = %s WHERE id = %s", ['{"hello":"mallory"}', leaf.pk], "ledger_leaf")
    assert ledger_verify().problem == f"leaf {leaf.pk}: its payload does not hash to payload_hash"


def test_a_rehashed_leaf_still_breaks_its_block_root(ledger):
    leaf = Leaf.objects.get(subject="r1")
    forged = services.anchor(kind="test.record", subject="r1", payload={"hello": "mallory"})
    _tamper(
        "UPDATE ledger_leaf SET payload_json = %s, payload_hash = %s WHERE id = %s",
        [forged.payload_json, forged.payload_hash, leaf.pk],
        "ledger_leaf",
    )
    assert ledger_verify().problem.startswith(f"leaf {leaf.pk}: leaf_hash")


def test_a_tampered_block_is_named(ledger):
    _tamper("UPDATE ledger_block SET leaf_count = leaf_count + 1 WHERE height = 2", [], "ledger_block")
    assert ledger_verify().problem == "block 2: block_hash does not match its header"


def test_a_tampered_balance_is_named(ledger):
    _tamper(
        "UPDATE ledger_balance SET amount = amount + 5 WHERE asset = 'LAZ'"
        " AND account_id = (SELECT id FROM ledger_account WHERE owner = %s)",
        [B],
        "ledger_balance",
    )
    assert ledger_verify().problem == f"balance of {B} in LAZ: 45 differs from its postings' sum 40"


def test_proof_bundles_verify_and_any_changed_byte_fails(ledger):
    leaf = Leaf.objects.get(subject="r1")
    bundle = selectors.proof_bundle(leaf.pk)
    assert proofs.verify_proof(bundle)
    assert [h["height"] for h in bundle["headers"]] == [1, 2]
    text = json.dumps(bundle, separators=(",", ":"))
    changed = 0
    for i, char in enumerate(text):
        for replacement in ("0", "1", "a", "f"):
            if replacement == char:
                continue
            mutated = text[:i] + replacement + text[i + 1 :]
            try:
                candidate = json.loads(mutated)
            except ValueError:
                continue
            changed += 1
            assert not proofs.verify_proof(candidate), f"accepted a change at {i}: {text[max(0, i - 20) : i + 20]}"
    assert changed > 1000


def test_a_queued_leaf_has_no_proof_yet(ledger):
    leaf = Leaf.objects.get(subject="queued")
    with pytest.raises(Exception, match="queued"):
        selectors.proof_bundle(leaf.pk)
    services.block_seal()
    assert proofs.verify_proof(selectors.proof_bundle(leaf.pk))
    assert Block.objects.count() == 3


@pytest.mark.parametrize("memo", ["", 'quote " backslash \\ newline \n tab \t', "ünïcødé ✓ \u2028 \x00 \x7f"])
def test_the_fast_payload_spelling_equals_canonical_json(memo):
    from ledger.merkle import canonical_json
    from ledger.verify import _tx_payload

    legs = [["user:0x" + "a" * 40, "LAZ", "-5"], ['idao:bio"x', "LAZ", "5"]]
    expected = canonical_json(
        {"id": 7, "kind": "transfer", "idempotencyKey": memo + "k", "memo": memo, "postings": legs}
    )
    assert _tx_payload(7, "transfer", memo + "k", memo, legs) == expected


def test_memos_with_quotes_controls_and_unicode_verify_and_nul_is_refused():
    memo = 'quote " backslash \\ newline \n tab \t bell \x07 ünïcødé ✓ \u2028 \x7f </script>'
    services.mint(to=A, asset="LAZ", amount=3, idempotency_key='k "\\ ✓', memo=memo)
    services.block_seal()
    assert ledger_verify().ok, ledger_verify().problem
    with pytest.raises(InvalidTransaction):
        services.mint(to=A, asset="LAZ", amount=3, idempotency_key="nul", memo="a\x00b")


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_in_its_own_snapshot_names_a_tampered_leaf_found_by_its_worker_process():
    services.mint(to=A, asset="LAZ", amount=100, idempotency_key="m1")
    leaf = services.anchor(kind="test.record", subject="r1", payload={"hello": "world"})
    services.block_seal()
    call_command("verify_ledger")
    _tamper("UPDATE ledger_leaf SET subject = 'r2' WHERE id = %s", [leaf.pk], "ledger_leaf")
    with pytest.raises(CommandError, match=f"leaf {leaf.pk}: leaf_hash does not match"):
        call_command("verify_ledger")


def test_a_transaction_stripped_of_its_postings_is_named(ledger):
    tx_id = Posting.objects.order_by("id").last().transaction_id
    _tamper("DELETE FROM ledger_posting WHERE transaction_id = %s", [tx_id], "ledger_posting")
    assert ledger_verify().problem == f"transaction {tx_id}: its rows differ from the payload its leaf anchored"
