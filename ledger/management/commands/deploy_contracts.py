"""Deploy the portal's contracts from the committed bytecode (contracts/build/onchain.json):

    python manage.py deploy_contracts [--only LedgerAnchor|DataAnchoringToken]

The creation transactions go through the chain outbox like every other publication (so their
nonces never collide with anchoring's), from the publisher's key (LEDGER_ANCHOR_PRIVATE_KEY),
which the contracts take as their publisher/operator. Prints the settings to add."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from eth_abi import encode
from eth_utils import to_checksum_address
from rlp import encode as rlp_encode

from ledger import merkle, onchain, outbox
from ledger.models_onchain import ChainTx, ChainTxState

SETTING = {"LedgerAnchor": "LEDGER_ANCHOR_CONTRACT", "DataAnchoringToken": "DATS_ERC8028_CONTRACT"}


def created_address(sender: str, nonce: int) -> str:
    return to_checksum_address(merkle.keccak(rlp_encode([bytes.fromhex(sender[2:]), nonce]))[12:])


class Command(BaseCommand):
    help = "Deploy LedgerAnchor and the ERC-8028 DataAnchoringToken from the committed bytecode."

    def add_arguments(self, parser):
        parser.add_argument("--only", choices=sorted(SETTING), action="append")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for confirmation")

    def handle(self, *args, only: list[str] | None, timeout: float, **options):
        pub = outbox.publisher()
        if pub is None:
            raise CommandError(
                "Set LEDGER_ANCHOR_CHAIN_ID (with a PORTAL_CHAIN_RPC entry) and LEDGER_ANCHOR_PRIVATE_KEY."
            )
        sender = outbox.sender_get(pub)
        rows: list[tuple[str, ChainTx]] = []
        for name in only or list(SETTING):
            code = bytes.fromhex(onchain.build()["contracts"][name]["bytecode"].removeprefix("0x"))
            key = f"deploy:{pub.chain_id}:{name}:{timezone.now().isoformat()}"
            row = outbox.outbox_enqueue(
                sender=sender, key=key, purpose="deploy", to="", data=code + encode(["address"], [pub.address])
            )
            rows.append((name, row))
        outbox.nonces_assign(pub=pub)
        deadline = time.monotonic() + timeout
        while True:
            outbox.outbox_run(pub=pub, now=timezone.now())
            states = {r.pk: r for r in ChainTx.objects.filter(pk__in=[r.pk for _, r in rows])}
            if all(s.state in (ChainTxState.CONFIRMED, ChainTxState.FAILED) for s in states.values()):
                break
            if time.monotonic() > deadline:
                raise CommandError(
                    "The creation transactions were not confirmed in time; run the command's outbox again."
                )
            time.sleep(0.2)
        for name, row in rows:
            done = states[row.pk]
            if done.state != ChainTxState.CONFIRMED:
                raise CommandError(f"{name}: the creation transaction {done.tx_hash} failed")
            if done.nonce is None:  # a confirmed transaction always has its nonce
                raise CommandError(f"{name}: the creation transaction {done.tx_hash} has no nonce")
            address = created_address(pub.address, int(done.nonce))
            self.stdout.write(f"{SETTING[name]}={address}")
