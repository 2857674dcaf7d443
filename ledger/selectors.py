"""Reads shaped for callers, pages and the API."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from django.db.models import Sum

from portal.errors import NotFound

from . import merkle, onchain, owners, proofs
from .errors import LeafNotFound, LeafNotSealed
from .models import Account, Asset, Balance, Block, ChainHead, Leaf, Posting, Transaction


def balance(owner: str, asset: str) -> int:
    return balances([owner], asset)[owner]


def balances(owners: Iterable[str], asset: str) -> dict[str, int]:
    """A hot system account's balance is the sum of its shards (one row for every other account)."""
    wanted = list(owners)
    found = dict(
        Balance.objects.filter(account__owner__in=wanted, asset=asset)
        .values("account__owner")
        .annotate(total=Sum("amount"))
        .values_list("account__owner", "total")
    )
    return {owner: int(found.get(owner) or 0) for owner in wanted}


def supply() -> dict[str, int]:
    """Units in circulation per asset: everything the issuer has minted and not had burned back."""
    issued = _per_asset(Balance.objects.filter(account__owner=owners.ISSUER))
    return {asset: -issued.get(asset, 0) for asset in Asset.values}


def _per_asset(rows) -> dict[str, int]:
    return {
        asset: int(total)
        for asset, total in rows.values("asset").annotate(total=Sum("amount")).values_list("asset", "total")
    }


def block_list(*, limit: int = 20) -> list[Block]:
    return list(Block.objects.order_by("-height")[:limit])


def sealed_head() -> tuple[int, str] | None:
    """(height, block hash) of the latest sealed block, or None before the first one."""
    row = Block.objects.order_by("-height").values_list("height", "block_hash").first()
    return (int(row[0]), row[1]) if row else None


def block_get(height: int) -> Block:
    block = Block.objects.filter(height=height).first()
    if block is None:
        raise NotFound(f"There is no block at height {height}.", code="block_not_found")
    return block


def block_leaf_ids(block: Block) -> list[int]:
    return list(block.leaves().order_by("id").values_list("id", flat=True))


def queued_count() -> int:
    """Anchored records waiting for the next block."""
    sealed_upto = ChainHead.objects.filter(pk=1).values_list("last_leaf_id", flat=True).first() or 0
    return Leaf.objects.filter(id__gt=sealed_upto).count()


def leaf_block(leaf_id: int) -> Block | None:
    """The block whose leaf range holds this leaf, or None while it is queued."""
    return Block.objects.filter(first_leaf_id__lte=leaf_id, last_leaf_id__gte=leaf_id).first()


def header_page(*, after: int = 0, limit: int = 500) -> dict:
    """Headers in height order from `after` + 1; `next` is the cursor for the following page."""
    limit = max(1, min(limit, 1000))
    rows = list(Block.objects.filter(height__gt=after).order_by("height")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "headers": [b.header() for b in rows],
        "next": rows[-1].height if more else None,
        "latest": ChainHead.objects.filter(pk=1).values_list("height", flat=True).first() or 0,
    }


def block_dict(block: Block) -> dict:
    """A block as `GET /api/v1/ledger/blocks/{height}` and `/ledger/blocks/<height>.json` show it."""
    return {
        "header": block.header(),
        "leafIds": block_leaf_ids(block),
        "evm": {"chainId": block.evm_chain_id, "txHash": block.evm_tx_hash or None},
    }


def balances_dict(owner: str) -> dict:
    """An account's balance per asset as decimal strings (404 account_not_found)."""
    account = account_get(owner)
    return {"owner": owner, "balances": {k: str(v) for k, v in account_balances(account).items()}}


def transaction_get(tx_id: int) -> Transaction:
    tx = Transaction.objects.filter(pk=tx_id).select_related("leaf").first()
    if tx is None:
        raise NotFound(f"There is no ledger transaction {tx_id}.", code="transaction_not_found")
    return tx


def transaction_postings(tx: Transaction) -> list[Posting]:
    return list(tx.postings.select_related("account").order_by("id"))


def account_get(owner: str) -> Account:
    account = Account.objects.filter(owner=owner).first()
    if account is None:
        raise NotFound(f"The ledger has no account for {owner}.", code="account_not_found")
    return account


def account_history(account: Account, *, limit: int | None = 200) -> list[Posting]:
    """Postings newest first, each with the balance it left (balance history)."""
    rows = account.postings.select_related("transaction").order_by("-id")
    return list(rows[:limit] if limit else rows)


def account_balances(account: Account) -> dict[str, int]:
    found = _per_asset(account.balances.all())
    return {asset: found.get(asset, 0) for asset in Asset.values}


@lru_cache(maxsize=4)
def _block_tree(height: int, block_hash: str) -> list[bytes]:
    block = Block.objects.get(height=height)
    hashes = [bytes(h) for h in block.leaves().values_list("leaf_hash", flat=True)]
    return merkle.make_tree(hashes)


def leaf_get(leaf_id: int) -> Leaf:
    leaf = Leaf.objects.filter(pk=leaf_id).first()
    if leaf is None:
        raise LeafNotFound(f"There is no anchored record {leaf_id}.")
    return leaf


def proof_bundle(leaf_id: int) -> dict:
    """The bundle `ledger.proofs.verify_proof` checks (and OpenZeppelin's verify, at top level)."""
    leaf = leaf_get(leaf_id)
    block = leaf_block(leaf.pk)
    if block is None:
        raise LeafNotSealed(f"Record {leaf_id} is queued and will be sealed into a block within seconds.")
    tree = _block_tree(block.height, block.block_hash)
    leaf_hash = bytes(leaf.leaf_hash)
    proof = merkle.proof_at(tree, merkle.tree_index(tree, leaf_hash))
    s_hash = merkle.subject_hash(leaf.kind, leaf.subject)
    headers = [b.header() for b in Block.objects.filter(height__gte=block.height).order_by("height")]
    bundle = {
        "format": proofs.BUNDLE_FORMAT,
        "root": block.merkle_root,
        "leafEncoding": list(merkle.LEAF_ENCODING),
        "value": merkle.ledger_leaf_values(s_hash, leaf.pk, merkle.from_hex(leaf.payload_hash)),
        "proof": [merkle.to_hex(p) for p in proof],
        "leafHash": merkle.to_hex(leaf_hash),
        "leaf": {"id": leaf.pk, "kind": leaf.kind, "subject": leaf.subject, "payload": leaf.payload_json},
        "block": block.header(),
        "headers": headers,
    }
    anchor = onchain.chain_anchor_for(block)  # once the block's public anchoring is confirmed
    if anchor is not None:
        bundle["chainAnchor"] = anchor
    return bundle


def account_statement_rows(account: Account) -> Iterable[Posting]:
    return account.postings.select_related("transaction").order_by("id").iterator(chunk_size=2000)
