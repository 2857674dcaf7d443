"""Compare what the portal published on chain with the chain itself:

    python manage.py verify_chain

Checks every confirmed anchoring against LedgerAnchor's storage, then runs the checks other apps
registered (dats: every DAT's ERC-8028 views). Prints one line per difference and exits 1 if
there is any; says how many publications are still on their way (the mirror may lag by those)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ledger import onchain, outbox
from ledger.models_onchain import AnchorPublication, ChainTx, ChainTxState


class Command(BaseCommand):
    help = "List every difference between the portal and its on-chain mirror (anchors, ERC-8028 DATs)."

    def handle(self, *args, **options):
        pub = outbox.publisher()
        if pub is None:
            raise CommandError("On-chain publication is off (LEDGER_ANCHOR_CHAIN_ID, PORTAL_CHAIN_RPC, the key).")
        problems: list[str] = []
        for publication in AnchorPublication.objects.filter(
            chain_id=pub.chain_id, chain_tx__state=ChainTxState.CONFIRMED
        ).select_related("chain_tx"):
            anchor = {
                "chainId": pub.chain_id,
                "contract": publication.contract,
                "txHash": publication.chain_tx.tx_hash,
                "fromHeight": publication.from_height,
                "toHeight": publication.to_height,
                "lastBlockHash": publication.last_block_hash,
                "rootOfRoots": publication.root_of_roots,
            }
            try:
                onchain.check_on_chain(anchor, pub.rpc)
            except ValueError as exc:
                problems.append(f"anchor of blocks {publication.from_height}-{publication.to_height}: {exc}")
        for check in outbox.CHAIN_CHECKS:
            problems.extend(check(pub=pub))
        waiting = ChainTx.objects.filter(state__in=[ChainTxState.PENDING, ChainTxState.SENT]).count()
        for line in problems:
            self.stdout.write(line)
        if waiting:
            self.stdout.write(f"{waiting} publication(s) not yet confirmed: the chain may lag by those.")
        if problems:
            raise SystemExit(1)
        self.stdout.write("chain matches the portal")
