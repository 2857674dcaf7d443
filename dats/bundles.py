"""Provenance bundles: everything needed to check a DAT offline, and the checker.

Format `idao-dat-provenance/1` (docs/dats.md):
    {"format", "tokenId", "dats": [entry, …]}   the DAT first, then every ancestor (ids ascending)
    entry = {"tokenId", "mint": proof, "round": proof, "events": [proof, …], "current": {owner, policy, parents}}
where each proof is a ledger proof bundle (`idao-ledger-proof/1`, checked by ledger.proofs).
`verify` needs no database: it is what `manage.py verify_bundle` runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from ledger import proofs

FORMAT = "idao-dat-provenance/1"
MAX_DATS = 200


class InvalidBundle(ValueError):
    """The bundle does not prove what it claims; the message names the first failed check."""


@dataclass
class Report:
    token_id: int | None = None
    checks: list[str] = field(default_factory=list)
    head: dict[str, Any] = field(default_factory=dict)


def _payload(proof: Any, *, kind: str, subject: str, what: str) -> dict[str, Any]:
    try:
        proofs.check_proof(proof)
    except (proofs.InvalidProof, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidBundle(f"{what}: {exc}") from None
    leaf = proof["leaf"]
    if leaf["kind"] != kind or leaf["subject"] != subject:
        raise InvalidBundle(f"{what}: the anchored record is {leaf['kind']} {leaf['subject']}, not {kind} {subject}")
    try:
        payload = json.loads(leaf["payload"])
    except ValueError:
        raise InvalidBundle(f"{what}: the anchored payload is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidBundle(f"{what}: the anchored payload is not an object")
    return payload


def _check_entry(entry: Any, report: Report) -> tuple[int, list[int], dict[str, Any]]:
    if not isinstance(entry, dict) or set(entry) != {"tokenId", "mint", "round", "events", "current"}:
        raise InvalidBundle("each DAT entry has exactly tokenId, mint, round, events and current")
    token_id = entry["tokenId"]
    if type(token_id) is not int or token_id <= 0:
        raise InvalidBundle("tokenId is a positive integer")
    mint = _payload(entry["mint"], kind="dat.mint", subject=f"dat:{token_id}", what=f"DAT #{token_id} mint")
    if mint.get("tokenId") != token_id:
        raise InvalidBundle(f"DAT #{token_id}: the mint record names token {mint.get('tokenId')}")
    round_id = mint.get("round")
    rnd = _payload(entry["round"], kind="validation_round", subject=f"round:{round_id}", what=f"DAT #{token_id} round")
    if entry["round"]["leaf"]["id"] != mint.get("roundAnchorLeafId"):
        raise InvalidBundle(f"DAT #{token_id}: the round proof is not the round record the mint names")
    if rnd.get("outcome") != "accepted" or mint.get("outcome") != "accepted":
        raise InvalidBundle(f"DAT #{token_id}: its validation round {round_id} was not accepted")
    if rnd.get("content_hash") != mint.get("sha256"):
        raise InvalidBundle(f"DAT #{token_id}: the round validated other content than the DAT's SHA-256")
    if rnd.get("idao") != mint.get("idao"):
        raise InvalidBundle(f"DAT #{token_id}: the round belongs to another iDAO")
    if (mint.get("scores") or {}) != (rnd.get("scores") or {}):
        raise InvalidBundle(f"DAT #{token_id}: the mint record's score is not its round's anchored score")
    owner, policy, parents = mint.get("owner"), mint.get("policy"), list(mint.get("parents") or [])
    events = entry["events"]
    if not isinstance(events, list):
        raise InvalidBundle(f"DAT #{token_id}: events is a list")
    for seq, proof in enumerate(events, start=1):
        event = _payload(proof, kind="dat.event", subject=f"dat:{token_id}:{seq}", what=f"DAT #{token_id} event {seq}")
        if event.get("tokenId") != token_id or event.get("seq") != seq:
            raise InvalidBundle(f"DAT #{token_id} event {seq}: the record names another token or number")
        kind = event.get("kind")
        if kind == "policy":
            policy = event.get("policy")
        elif kind == "transfer":
            if event.get("from") != owner:
                raise InvalidBundle(
                    f"DAT #{token_id} event {seq}: a transfer from {event.get('from')}, who did not own it"
                )
            owner = event.get("to")
        elif kind == "parents":
            new = list(event.get("parents") or [])
            if not set(parents) <= set(new):
                raise InvalidBundle(f"DAT #{token_id} event {seq}: parents can only be added")
            parents = new
        else:
            raise InvalidBundle(f"DAT #{token_id} event {seq}: unknown event kind {kind!r}")
    current = {"owner": owner, "policy": policy, "parents": sorted(parents)}
    if entry["current"] != current:
        raise InvalidBundle(
            f"DAT #{token_id}: the stated current owner, policy or parents differ from the anchored history"
        )
    report.checks.append(
        f"DAT #{token_id}: mint record, validation round {round_id} (accepted, same SHA-256) and {len(events)} "
        "later event(s) are anchored; current owner, policy and parents follow from them"
    )
    return token_id, sorted(parents), mint


def _heads(bundle: dict[str, Any]) -> list[dict]:
    out = []
    for entry in bundle["dats"]:
        for proof in [entry["mint"], entry["round"], *entry["events"]]:
            out.append(proof["headers"][-1])
    return out


def verify(bundle: Any) -> Report:
    """Raise InvalidBundle naming the first failed check, or return what was checked."""
    if not isinstance(bundle, dict) or set(bundle) != {"format", "tokenId", "dats"}:
        raise InvalidBundle("a provenance bundle has exactly format, tokenId and dats")
    if bundle["format"] != FORMAT:
        raise InvalidBundle(f"unknown format (expected {FORMAT})")
    entries = bundle["dats"]
    if not isinstance(entries, list) or not entries or len(entries) > MAX_DATS:
        raise InvalidBundle(f"dats is a list of 1 to {MAX_DATS} entries")
    report = Report(token_id=bundle["tokenId"])
    graph: dict[int, list[int]] = {}
    for entry in entries:
        token_id, parents, _ = _check_entry(entry, report)
        if token_id in graph:
            raise InvalidBundle(f"DAT #{token_id} appears twice")
        graph[token_id] = parents
    if entries[0]["tokenId"] != bundle["tokenId"]:
        raise InvalidBundle("the first entry is not the bundle's DAT")
    if [e["tokenId"] for e in entries[1:]] != sorted(e["tokenId"] for e in entries[1:]):
        raise InvalidBundle("ancestors are listed by ascending token id")
    # Every parent is in the bundle, and every entry is an ancestor of the DAT (reachable).
    reachable, frontier = {bundle["tokenId"]}, [bundle["tokenId"]]
    while frontier:
        node = frontier.pop()
        for parent in graph[node]:
            if parent not in graph:
                raise InvalidBundle(f"DAT #{node} names parent #{parent}, which the bundle lacks")
            if parent not in reachable:
                reachable.add(parent)
                frontier.append(parent)
    if set(graph) != reachable:
        raise InvalidBundle("the bundle holds DATs that are not ancestors of its DAT")
    # Lineage must be acyclic (parents are minted before children, so this only fails on forgery).
    state: dict[int, int] = {}

    def visit(node: int) -> None:
        state[node] = 1
        for parent in graph[node]:
            if state.get(parent) == 1:
                raise InvalidBundle(f"the lineage has a cycle through DAT #{parent}")
            if parent not in state:
                visit(parent)
        state[node] = 2

    visit(bundle["tokenId"])
    heads = _heads(bundle)
    if any(h != heads[0] for h in heads):
        raise InvalidBundle("the proofs do not all end at the same latest block header")
    report.head = heads[0]
    report.checks.append(
        f"lineage: {len(graph) - 1} ancestor(s), all present, no cycle; every proof chains to block "
        f"{heads[0]['height']} ({heads[0]['blockHash']})"
    )
    return report


# --- export (reads the database) ------------------------------------------------------------------


def export(dat_id: int) -> dict[str, Any]:
    """The bundle of a DAT and all its ancestors. Raises LeafNotSealed (409) while any record
    is still waiting for the next block."""
    from ledger import selectors as ledger_selectors
    from quorums.models import Round

    from .models import DAT, DatEvent, DatParent
    from .policies import policy_of

    root = DAT.objects.select_related("owner").filter(pk=dat_id).first()
    if root is None:
        from portal.errors import NotFound

        raise NotFound(f"There is no DAT #{dat_id}.", code="dat_not_found")
    ids, frontier = {root.pk}, {root.pk}
    while frontier and len(ids) < MAX_DATS:
        parents = set(DatParent.objects.filter(child_id__in=frontier).values_list("parent_id", flat=True))
        frontier = parents - ids
        ids |= frontier
    dats = {d.pk: d for d in DAT.objects.filter(pk__in=ids).select_related("owner")}
    parents_of: dict[int, list[int]] = {i: [] for i in ids}
    for child, parent in DatParent.objects.filter(child_id__in=ids).values_list("child_id", "parent_id"):
        parents_of[child].append(parent)
    round_leaf = dict(
        Round.objects.filter(pk__in=[d.round_id for d in dats.values()]).values_list("pk", "anchor_leaf_id")
    )
    events: dict[int, list[int]] = {i: [] for i in ids}
    for dat_pk, leaf_id in (
        DatEvent.objects.filter(dat_id__in=ids).order_by("dat_id", "seq").values_list("dat_id", "anchor_leaf_id")
    ):
        events[dat_pk].append(leaf_id)
    order = [root.pk, *sorted(i for i in ids if i != root.pk)]
    leaf_ids = [lid for i in order for lid in (dats[i].anchor_leaf_id, round_leaf[dats[i].round_id], *events[i])]
    # Fetch every proof against one head: a block sealed in between would make heads differ.
    for _attempt in range(3):
        proofs_by_leaf = {lid: ledger_selectors.proof_bundle(cast(int, lid)) for lid in leaf_ids}  # anchored DATs
        if len({json.dumps(p["headers"][-1], sort_keys=True) for p in proofs_by_leaf.values()}) == 1:
            break
    entries = []
    for i in order:
        d = dats[i]
        p = policy_of(d).as_json()
        entries.append(
            {
                "tokenId": i,
                "mint": proofs_by_leaf[d.anchor_leaf_id],
                "round": proofs_by_leaf[round_leaf[d.round_id]],
                "events": [proofs_by_leaf[lid] for lid in events[i]],
                "current": {"owner": d.owner.address, "policy": p, "parents": sorted(parents_of[i])},
            }
        )
    return {"format": FORMAT, "tokenId": root.pk, "dats": entries}
