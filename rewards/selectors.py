"""Reads shaped for the earnings pages, the epoch page, the DAT fragment and the API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Sum

from dats import hooks
from dats.models import DAT, AccessGrant
from idaos.models import IDAO
from ledger import merkle, owners
from ledger.models import Posting
from ledger.selectors import balances
from portal.units import format_amount

from . import conf
from .errors import EpochNotFound
from .models import Attribution, CreditGrant, Epoch, EpochState, EpochUsage, Payout
from .rules import PAYOUT_LEAF_TYPES, payout_leaf, payout_values

ASSETS = ("LAZ", "CREDIT")


def _titles(dat_ids: set[int]) -> dict[int, str]:
    return dict(DAT.objects.filter(pk__in=dat_ids).values_list("pk", "title"))


def user_earnings(user: Any, *, epochs: int = 24, lines: int = 50) -> dict:
    """Totals per asset, per epoch, per DAT and per iDAO, for the signed-in person."""
    mine = Payout.objects.filter(user=user)
    totals = {a: 0 for a in ASSETS}
    for asset, amount in mine.values_list("asset").annotate(s=Sum("amount")):
        totals[asset] = int(amount)
    per_epoch: dict[int, dict] = {}
    rows = (
        mine.values("epoch__number", "epoch__closed_at", "epoch__payout_tx_id", "epoch__payout_leaf_id", "asset")
        .annotate(s=Sum("amount"))
        .order_by("-epoch__number")
    )
    for r in rows:
        n = r["epoch__number"]
        entry = per_epoch.setdefault(
            n,
            {
                "number": n,
                "closed_at": r["epoch__closed_at"],
                "tx_id": r["epoch__payout_tx_id"],
                "leaf_id": r["epoch__payout_leaf_id"],
                "LAZ": 0,
                "CREDIT": 0,
            },
        )
        entry[r["asset"]] = int(r["s"])
    history = sorted(per_epoch.values(), key=lambda e: -e["number"])
    # Lines paid to a DAT's escrow are held until its challenge window closes (or its challenge ends).
    shown = list(mine.select_related("epoch", "idao").order_by("-epoch__number", "id")[:lines])
    holdings = escrow_holdings(
        {d for d in mine.filter(recipient__startswith="escrow:dat:").values_list("dat_id", flat=True).distinct() if d}
    )
    for p in shown:
        h = holdings.get(p.dat_id) if p.dat_id and p.recipient.startswith("escrow:dat:") else None
        p.held, p.held_until = bool(h and h[p.asset]), (h or {}).get("until")  # type: ignore[attr-defined]
    by_dat_rows = mine.exclude(dat_id=None).values("dat_id", "asset").annotate(s=Sum("amount"))
    titles = _titles({r["dat_id"] for r in by_dat_rows})
    by_dat: dict[int, dict] = {}
    for r in by_dat_rows:
        by_dat.setdefault(
            r["dat_id"], {"dat_id": r["dat_id"], "title": titles.get(r["dat_id"], ""), "LAZ": 0, "CREDIT": 0}
        )[r["asset"]] = int(r["s"])
    by_idao: dict[str, dict] = {}
    for r in mine.values("idao__slug", "idao__name", "asset").annotate(s=Sum("amount")):
        by_idao.setdefault(r["idao__slug"], {"slug": r["idao__slug"], "name": r["idao__name"], "LAZ": 0, "CREDIT": 0})[
            r["asset"]
        ] = int(r["s"])
    return {
        "totals": totals,
        "history": history,
        "by_dat": sorted(by_dat.values(), key=lambda d: (-d["LAZ"], d["dat_id"])),
        "by_idao": sorted(by_idao.values(), key=lambda d: (-d["LAZ"], d["slug"])),
        "chart": bar_chart([(str(e["number"]), e["LAZ"]) for e in reversed(history[:epochs])], unit="LAZ"),
        "chart_credit": bar_chart([(str(e["number"]), e["CREDIT"]) for e in reversed(history[:epochs])], unit="CREDIT"),
        "grants": list(CreditGrant.objects.filter(member=user).select_related("idao")[:20]),
        "access_fees": access_fee_income(user),
        "lines": shown,
        "held": {a: sum(h[a] for h in holdings.values()) for a in ASSETS},
    }


def escrow_holdings(dat_ids: set[int]) -> dict[int, dict]:
    """DAT id -> what its escrow still holds per asset and `until`: the end of its challenge
    window, or None while a challenge is open (released when it is decided). Only DATs whose
    escrow holds something (rewards.services.escrows moves it out)."""
    accounts = {f"escrow:dat:{pk}": pk for pk in dat_ids}
    found: dict[int, dict] = {}
    for asset in ASSETS:
        for account, amount in balances(accounts, asset).items():
            if amount > 0:
                found.setdefault(accounts[account], {a: 0 for a in ASSETS})[asset] = amount
    if found:
        dats = list(DAT.objects.filter(pk__in=found).select_related("round__quorum"))
        ends = hooks.challenge_window_ends(dats)
        for d in dats:
            found[d.pk]["until"] = None if d.contested_at else ends[d.pk]
    return found


def access_fee_income(user: Any, *, recent: int = 20) -> dict:
    """The CREDIT a person's DATs earned in access fees: the fee postings to their account from
    access grants (paid at each grant, outside the epochs), with the latest grants."""
    owner = owners.user(user.address)
    postings = Posting.objects.filter(
        account__owner=owner,
        asset="CREDIT",
        amount__gt=0,
        transaction__kind="fee",
        transaction_id__in=AccessGrant.objects.filter(ledger_transaction__isnull=False).values("ledger_transaction_id"),
    )
    total = postings.aggregate(s=Sum("amount"))["s"] or 0
    grants = list(
        AccessGrant.objects.filter(ledger_transaction_id__in=postings.values("transaction_id"))
        .select_related("dat")
        .order_by("-id")[:recent]
    )
    return {"total": int(total), "grants": grants}


def user_payout_lines(user: Any):
    """Every payout line of a person, oldest first (CSV export); an iterator, not a list."""
    return (
        Payout.objects.filter(user=user)
        .order_by("epoch__number", "id")
        .values_list(
            "epoch__number",
            "epoch__closed_at",
            "asset",
            "role",
            "idao__slug",
            "dat_id",
            "amount",
            "epoch__payout_tx_id",
            "epoch__payout_leaf_id",
            "id",
        )
        .iterator(chunk_size=2000)
    )


def idao_earnings(idao: IDAO, *, epochs: int = 24) -> dict:
    """What an iDAO's usage paid, per epoch and role, and its DATs that earned most."""
    rows = (
        Payout.objects.filter(idao=idao)
        .values("epoch__number", "role", "asset")
        .annotate(s=Sum("amount"))
        .order_by("-epoch__number")
    )
    per_epoch: dict[int, dict] = {}
    totals = {(role, a): 0 for role in ("contributor", "validator", "treasury") for a in ASSETS}
    for r in rows:
        e = per_epoch.setdefault(
            r["epoch__number"], {"number": r["epoch__number"], **{f"{k[0]}_{k[1]}": 0 for k in totals}}
        )
        e[f"{r['role']}_{r['asset']}"] = int(r["s"])
        totals[(r["role"], r["asset"])] += int(r["s"])
    history = sorted(per_epoch.values(), key=lambda e: -e["number"])[:epochs]
    top = list(
        Payout.objects.filter(idao=idao, role="contributor", asset="LAZ")
        .values("dat_id")
        .annotate(s=Sum("amount"))
        .order_by("-s")[:10]
    )
    titles = _titles({t["dat_id"] for t in top})
    return {
        "totals": {f"{k[0]}_{k[1]}": v for k, v in totals.items()},
        "history": history,
        "top_dats": [{"dat_id": t["dat_id"], "title": titles.get(t["dat_id"], ""), "laz": int(t["s"])} for t in top],
        "chart": bar_chart(
            [
                (str(e["number"]), sum(e[f"{r}_LAZ"] for r in ("contributor", "validator", "treasury")))
                for e in reversed(history)
            ]
        ),
        "grants": list(CreditGrant.objects.filter(idao=idao).select_related("member", "steward")[:20]),
    }


def epochs_due(*, now: datetime) -> list[int]:
    """Ids of the open epochs that have ended, oldest first."""
    return list(
        Epoch.objects.filter(state=EpochState.OPEN, ends_at__lte=now).order_by("number").values_list("pk", flat=True)
    )


def _with_live_usage(epochs: list[Epoch]) -> list[Epoch]:
    """An open epoch's stored counts are written when it closes; until then its pages show the
    running totals of the per-report aggregates (the same source as "N events so far"), unsaved."""
    open_ids = [e.pk for e in epochs if e.state == EpochState.OPEN]
    if open_ids:
        live = {
            r["epoch_id"]: r
            for r in EpochUsage.objects.filter(epoch_id__in=open_ids)
            .values("epoch_id")
            .annotate(n=Sum("events"), w=Sum("weighted"))
        }
        for e in epochs:
            if e.pk in live:
                e.event_count, e.weighted_usage = int(live[e.pk]["n"] or 0), live[e.pk]["w"] or 0
    return epochs


def epoch_list(*, limit: int = 50) -> list[Epoch]:
    return _with_live_usage(list(Epoch.objects.order_by("-number")[:limit]))


def epoch_get(number: int) -> Epoch:
    epoch = Epoch.objects.filter(number=number).first()
    if epoch is None:
        raise EpochNotFound(f"There is no reward epoch {number}.")
    return _with_live_usage([epoch])[0]


def epoch_detail(epoch: Epoch, *, top: int = 10) -> dict:
    """The public view of an epoch: pool, split by role and iDAO, top earners."""
    split = {
        (r["role"], r["asset"]): int(r["s"])
        for r in Payout.objects.filter(epoch=epoch).values("role", "asset").annotate(s=Sum("amount"))
    }
    idaos: dict[str, dict] = defaultdict(lambda: {"LAZ": 0, "CREDIT": 0})
    for r in Payout.objects.filter(epoch=epoch).values("idao__slug", "idao__name", "asset").annotate(s=Sum("amount")):
        idaos[r["idao__slug"]]["name"] = r["idao__name"]
        idaos[r["idao__slug"]][r["asset"]] = int(r["s"])
    earners = list(
        Payout.objects.filter(epoch=epoch, asset="LAZ")
        .values("recipient")
        .annotate(s=Sum("amount"), lines=Count("id"))
        .order_by("-s", "recipient")[:top]
    )
    return {
        "split": [
            {"role": role, "LAZ": split.get((role, "LAZ"), 0), "CREDIT": split.get((role, "CREDIT"), 0)}
            for role in ("contributor", "validator", "treasury")
        ],
        "idaos": sorted(({"slug": k, **v} for k, v in idaos.items()), key=lambda d: -d["LAZ"]),
        "top_earners": [{"recipient": e["recipient"], "laz": int(e["s"]), "lines": e["lines"]} for e in earners],
    }


def payout_proof(epoch: Epoch, payout_id: int) -> dict:
    """A payout line's Merkle proof against the epoch's anchored payouts root."""
    lines = list(
        Payout.objects.filter(epoch=epoch)
        .order_by("id")
        .values_list("id", "recipient", "asset", "role", "dat_id", "amount")
    )
    line = next((line for line in lines if line[0] == payout_id), None)
    if line is None:
        raise EpochNotFound(f"Epoch {epoch.number} has no payout {payout_id}.", code="payout_not_found")
    tree = merkle.make_tree([payout_leaf(epoch.number, *row) for row in lines])
    leaf = payout_leaf(epoch.number, *line)
    values = payout_values(epoch.number, *line)
    return {
        "epoch": epoch.number,
        "payoutId": payout_id,
        "types": PAYOUT_LEAF_TYPES,
        "value": [str(v) if isinstance(v, int) else v for v in values],
        "leaf": merkle.to_hex(leaf),
        "proof": [merkle.to_hex(p) for p in merkle.proof_at(tree, merkle.tree_index(tree, leaf))],
        "root": merkle.to_hex(tree[0]),
        "anchorLeafId": epoch.anchor_leaf_id,
        "ledgerTx": epoch.payout_tx_id,
        "ledgerTxLeafId": epoch.payout_leaf_id,
    }


def dat_earnings(dat_id: int, *, epochs: int = 12) -> dict:
    """Usage and earnings of one DAT: attributed weight per epoch, payouts per asset and role.
    The DAT page includes templates/rewards/dat_earnings.html#dat-earnings with this."""
    usage = list(
        Attribution.objects.filter(dat_id=dat_id)
        .values("epoch__number")
        .annotate(w=Sum("weight"))
        .order_by("-epoch__number")[:epochs]
    )
    paid = {
        (r["role"], r["asset"]): int(r["s"])
        for r in Payout.objects.filter(dat_id=dat_id).values("role", "asset").annotate(s=Sum("amount"))
    }
    last = Payout.objects.filter(dat_id=dat_id).aggregate(last=Max("epoch__number"))["last"]
    return {
        "dat_id": dat_id,
        "usage": [{"epoch": u["epoch__number"], "weight": int(u["w"])} for u in usage],
        "chart": bar_chart([(str(u["epoch__number"]), int(u["w"])) for u in reversed(usage)]),
        "paid": [
            {"role": role, "LAZ": paid.get((role, "LAZ"), 0), "CREDIT": paid.get((role, "CREDIT"), 0)}
            for role in ("contributor", "validator")
        ],
        "last_epoch": last,
    }


def open_epoch_usage() -> dict:
    epoch = Epoch.objects.filter(state=EpochState.OPEN).order_by("-number").first()
    if epoch is None:
        return {"epoch": None, "events": 0}
    # From the per-report aggregates: counting the events themselves would rescan them on every refresh.
    events = EpochUsage.objects.filter(epoch=epoch).aggregate(n=Sum("events"))["n"] or 0
    return {"epoch": epoch, "events": int(events)}


def bar_chart(points: list[tuple[str, int]], *, width: int = 600, height: int = 180, unit: str = "") -> dict:
    """Geometry for a server-rendered SVG bar chart (no script): one bar per point, a y axis with
    its top, middle and zero values, the value over each bar, and an accessible summary."""
    left, top_pad, bottom = 64, 16, 22
    top = max((v for _, v in points), default=0)
    n = max(len(points), 1)
    plot_w, plot_h = width - left - 8, height - top_pad - bottom
    slot = plot_w / n
    baseline = height - bottom
    bars = []
    for i, (label, value) in enumerate(points):
        h = 0 if top == 0 else round(value / top * plot_h, 1)
        bars.append(
            {
                "x": round(left + i * slot + slot * 0.15, 1),
                "y": round(baseline - h, 1),
                "w": round(slot * 0.7, 1),
                "h": h,
                "label": label,
                "value": value,
                "shown": format_amount(value),
                "tx": round(left + i * slot + slot / 2, 1),
                "vy": round(max(baseline - h - 3, 10), 1),
            }
        )
    ticks = [{"y": round(baseline - plot_h * f, 1), "label": format_amount(round(top * f))} for f in (0, 0.5, 1) if top]
    summary = "; ".join(f"epoch {b['label']}: {format_amount(b['value'], unit)}" for b in bars)
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "max": top,
        "baseline": baseline,
        "left": left,
        "top": top_pad,
        "ticks": ticks,
        "label_y": height - 6,
        "summary": summary,
        "unit": unit,
    }


def challenge_window_ends(dats: Sequence[DAT]) -> dict[int, datetime]:
    """The dats.hooks challenge window provider: a DAT may be challenged until the end of the
    reward epoch after the one it was minted in. The mint's epoch is the epoch row holding
    `minted_at` (else the aligned period epoch_current would open then); the next is the row that
    starts where it ends (else the period of the configured length after it). One query."""
    if not dats:
        return {}
    length = timedelta(seconds=conf.epoch_seconds())
    minted = [d.minted_at for d in dats]
    rows = list(
        Epoch.objects.filter(ends_at__gt=min(minted), starts_at__lte=max(minted) + 2 * length).values_list(
            "starts_at", "ends_at"
        )
    )
    by_start = {start: end for start, end in rows}
    out: dict[int, datetime] = {}
    for d in dats:
        m = d.minted_at
        held = next((end for start, end in rows if start <= m < end), None)
        if held is None:
            seconds = int(length.total_seconds())
            held = datetime.fromtimestamp(int(m.timestamp()) // seconds * seconds, tz=UTC) + length
        out[d.pk] = by_start.get(held, held + length)
    return out
