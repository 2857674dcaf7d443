"""The chain outbox engine: enqueue publications, give them nonces, send, replace, confirm.

Every step is a short database transaction or none; no row is locked while a node is asked
anything slow, and nothing waits for a receipt: `outbox_run` looks at each sent transaction once
per pass (the periodic task `ledger.onchain_tasks.publish_onchain` runs it every few seconds).

- Nonces come from the outbox: under `SELECT … FOR UPDATE` of the sender's row, the next nonce is
  one more than the highest this sender's outbox ever assigned (the node's confirmed count only
  for the very first one). Two publishers racing get one nonce per publication.
- Sending claims the row (`UPDATE … WHERE state = 'pending'`) with the signed transaction before
  broadcasting it, so a publication is broadcast by the one publisher that claimed it.
- A transaction not mined within LEDGER_ANCHOR_REPLACE_AFTER_SECONDS is re-signed with the same
  nonce and a fee at least 12.5 % higher (what nodes require to replace it).
- `confirmed` means LEDGER_ANCHOR_CONFIRMATIONS chain blocks deep. A confirmed or mined
  transaction whose receipt disappears or moves to another block (a reorg) goes back to `sent`
  and its signed bytes are broadcast again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from portal import chains

from .models_onchain import ChainSender, ChainTx, ChainTxState

GAS_HEADROOM = 1.25
FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 9, 8  # +12.5 %, geth's and erigon's replacement minimum
DEFAULT_PRIORITY_FEE = 10**9


class OutboxNotConfigured(RuntimeError):
    pass


@dataclass(frozen=True)
class Publisher:
    chain_id: int
    key: str
    rpc: chains.RpcClient

    @property
    def address(self) -> str:
        from eth_account import Account  # on use: most processes never sign a chain transaction

        return Account.from_key(self.key).address


def publisher() -> Publisher | None:
    """The configured publisher, or None when on-chain publication is off."""
    chain_id = int(getattr(settings, "LEDGER_ANCHOR_CHAIN_ID", 0) or 0)
    key = str(getattr(settings, "LEDGER_ANCHOR_PRIVATE_KEY", "") or "")
    if not chain_id or not key:
        return None
    rpc = chains.client(chain_id)
    if rpc is None:
        return None
    return Publisher(chain_id=chain_id, key=key, rpc=rpc)


def _int(value: Any) -> int:
    return int(str(value), 16) if isinstance(value, str) else int(value or 0)


def sender_get(pub: Publisher) -> ChainSender:
    return ChainSender.objects.get_or_create(chain_id=pub.chain_id, address=pub.address)[0]


def outbox_enqueue(*, sender: ChainSender, key: str, purpose: str, to: str, data: bytes) -> ChainTx:
    """A pending publication; the same key returns the row that is already there."""
    try:
        with transaction.atomic():
            return ChainTx.objects.create(sender=sender, key=key, purpose=purpose, to=to, data="0x" + data.hex())
    except IntegrityError:
        return ChainTx.objects.get(key=key)


def nonces_assign(*, pub: Publisher) -> int:
    """Give every pending publication without a nonce the next one, in id order; returns how many."""
    sender = sender_get(pub)
    if not ChainTx.objects.filter(sender=sender, nonce__isnull=True).exists():
        return 0
    on_chain = _int(pub.rpc.request("eth_getTransactionCount", [sender.address, "latest"]))
    with transaction.atomic():
        ChainSender.objects.select_for_update().get(pk=sender.pk)
        highest = ChainTx.objects.filter(sender=sender).aggregate(n=Max("nonce"))["n"]
        nonce = on_chain if highest is None else highest + 1
        waiting = list(
            ChainTx.objects.filter(sender=sender, nonce__isnull=True).order_by("id").values_list("id", flat=True)
        )
        for tx_id in waiting:
            ChainTx.objects.filter(pk=tx_id).update(nonce=nonce)
            nonce += 1
    return len(waiting)


def _fees(pub: Publisher) -> tuple[int, int]:
    latest = pub.rpc.request("eth_getBlockByNumber", ["latest", False]) or {}
    base = _int(latest.get("baseFeePerGas") or 0)
    return base * 2 + DEFAULT_PRIORITY_FEE, DEFAULT_PRIORITY_FEE


def _sign(pub: Publisher, row: ChainTx, *, max_fee: int, priority: int, gas: int) -> tuple[str, str]:
    tx = {
        "chainId": pub.chain_id,
        "nonce": row.nonce,
        "value": 0,
        "data": row.data,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": priority,
        "type": 2,
    }
    if row.to:  # no `to`: a contract creation (manage.py deploy_contracts)
        tx["to"] = row.to
    from eth_account import Account

    signed = Account.from_key(pub.key).sign_transaction(tx)
    return "0x" + bytes(signed.hash).hex(), "0x" + bytes(signed.raw_transaction).hex()


def _broadcast(pub: Publisher, raw: str) -> str:
    """Broadcast; a node that already knows the transaction (or its nonce) is not an error here:
    the next pass reads the receipt or replaces it."""
    try:
        pub.rpc.request("eth_sendRawTransaction", [raw])
    except (chains.ChainUnavailable, chains.CallReverted) as exc:
        return str(exc)[:500]
    return ""


def _gas(pub: Publisher, row: ChainTx) -> int:
    call = {"from": pub.address, "data": row.data, "value": "0x0"}
    if row.to:
        call["to"] = row.to
    estimate = _int(pub.rpc.request("eth_estimateGas", [call]))
    return int(estimate * GAS_HEADROOM) + 10_000


def send_pending(*, pub: Publisher, now: datetime) -> int:
    """Sign and broadcast pending publications in nonce order; returns how many this call sent."""
    sent = 0
    rows = ChainTx.objects.filter(sender__chain_id=pub.chain_id, sender__address=pub.address)
    for row in rows.filter(state=ChainTxState.PENDING, nonce__isnull=False).order_by("nonce"):
        try:
            gas = _gas(pub, row)
        except chains.CallReverted as exc:
            # A publication the contract refuses cannot be mined; but its nonce must still be
            # used, so it is sent with a fixed gas limit and will be recorded as failed.
            gas, row.error = 500_000, str(exc)[:500]
        max_fee, priority = _fees(pub)
        tx_hash, raw = _sign(pub, row, max_fee=max_fee, priority=priority, gas=gas)
        claimed = ChainTx.objects.filter(pk=row.pk, state=ChainTxState.PENDING).update(
            state=ChainTxState.SENT,
            tx_hash=tx_hash,
            tx_hashes=[tx_hash],
            raw_tx=raw,
            gas=gas,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            sent_at=now,
            error=row.error,
        )
        if claimed:
            _broadcast(pub, raw)
            sent += 1
    return sent


def _receipt(pub: Publisher, row: ChainTx) -> dict | None:
    for tx_hash in reversed(row.tx_hashes or [row.tx_hash]):
        receipt = pub.rpc.request("eth_getTransactionReceipt", [tx_hash])
        if receipt and receipt.get("blockNumber") is not None:
            return receipt
    return None


def _replace(pub: Publisher, row: ChainTx, *, now: datetime) -> None:
    max_fee, priority = _fees(pub)
    old_fee, old_tip = int(row.max_fee_per_gas or 0), int(row.max_priority_fee_per_gas or 0)
    max_fee = max(max_fee, old_fee * FEE_BUMP_NUMERATOR // FEE_BUMP_DENOMINATOR + 1)
    priority = max(priority, old_tip * FEE_BUMP_NUMERATOR // FEE_BUMP_DENOMINATOR + 1)
    tx_hash, raw = _sign(pub, row, max_fee=max_fee, priority=priority, gas=int(row.gas or 500_000))
    replaced = ChainTx.objects.filter(pk=row.pk, state=ChainTxState.SENT, tx_hash=row.tx_hash).update(
        tx_hash=tx_hash,
        tx_hashes=[*row.tx_hashes, tx_hash],
        raw_tx=raw,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=priority,
        replacements=row.replacements + 1,
        sent_at=now,
    )
    if replaced:
        _broadcast(pub, raw)


def track_sent(*, pub: Publisher, now: datetime) -> None:
    """Record receipts, confirm what is deep enough, replace what is stuck, re-send what a reorg
    dropped. Looks at sent transactions and at confirmed ones mined in the last reorg window."""
    head = _int(pub.rpc.request("eth_blockNumber", []))
    depth = max(1, int(settings.LEDGER_ANCHOR_CONFIRMATIONS))
    replace_after = timedelta(seconds=float(settings.LEDGER_ANCHOR_REPLACE_AFTER_SECONDS))
    mine = ChainTx.objects.filter(sender__chain_id=pub.chain_id, sender__address=pub.address)
    recent_confirmed = mine.filter(
        state=ChainTxState.CONFIRMED, mined_block__gte=head - int(settings.LEDGER_ANCHOR_REORG_WINDOW)
    )
    # A reorg can also shorten the chain below a mined block: those rows are checked too.
    above_head = mine.filter(state=ChainTxState.CONFIRMED, mined_block__gt=head)
    rows = (mine.filter(state=ChainTxState.SENT) | recent_confirmed | above_head).distinct().order_by("nonce")
    for row in rows:
        receipt = _receipt(pub, row)
        if receipt is None:
            if row.state == ChainTxState.CONFIRMED or row.mined_block is not None:
                # Reorged out: back to sent, and the same signed bytes go out again.
                ChainTx.objects.filter(pk=row.pk, state=row.state).update(
                    state=ChainTxState.SENT,
                    mined_block=None,
                    mined_block_hash="",
                    confirmed_at=None,
                    resends=row.resends + 1,
                    sent_at=now,
                )
                _broadcast(pub, row.raw_tx)
            elif pub.rpc.request("eth_getTransactionByHash", [row.tx_hash]) is None:
                _broadcast(pub, row.raw_tx)  # the node forgot it (restart, eviction): send it again
            elif row.sent_at is not None and now - row.sent_at >= replace_after:
                _replace(pub, row, now=now)
            continue
        block, block_hash = _int(receipt["blockNumber"]), receipt.get("blockHash") or ""
        if row.mined_block is not None and row.mined_block_hash and row.mined_block_hash != block_hash:
            row.mined_block = None  # re-mined in another block: depth counts from the new one
        ok = _int(receipt.get("status", 1)) == 1
        deep = head - block + 1 >= depth
        state = ChainTxState.SENT
        if not ok:
            state = ChainTxState.FAILED
        elif deep:
            state = ChainTxState.CONFIRMED
        ChainTx.objects.filter(pk=row.pk).update(
            state=state,
            tx_hash=receipt.get("transactionHash") or row.tx_hash,
            mined_block=block,
            mined_block_hash=block_hash,
            gas_used=_int(receipt.get("gasUsed")),
            confirmed_at=now
            if state == ChainTxState.CONFIRMED and row.state != ChainTxState.CONFIRMED
            else row.confirmed_at,
            error="" if ok else (row.error or "the transaction reverted"),
        )


def outbox_run(*, pub: Publisher, now: datetime) -> None:
    nonces_assign(pub=pub)
    send_pending(pub=pub, now=now)
    track_sent(pub=pub, now=now)


# Downstream apps plan their own publications (dats: the ERC-8028 mirror) into the outbox on each
# publisher pass, and report their chain differences to `manage.py verify_chain`. They register
# here from their AppConfig.ready().
PLANNERS: list = []
CHAIN_CHECKS: list = []


def register_planner(planner) -> None:
    """planner(pub=Publisher, sender=ChainSender, now=datetime) -> None: enqueue pending rows."""
    if planner not in PLANNERS:
        PLANNERS.append(planner)


def register_chain_check(check) -> None:
    """check(pub=Publisher) -> list[str]: one line per difference between the portal and the chain."""
    if check not in CHAIN_CHECKS:
        CHAIN_CHECKS.append(check)
