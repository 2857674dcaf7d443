"""Every read of idaos: what other apps rely on (membership questions are answered from active rows
only), API shapes, and the pages' contexts (each page costs a fixed number of queries whatever the
number of ballots or members)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Now
from django.utils import timezone

from ledger import selectors as ledger_selectors
from portal.errors import NotFound
from portal.models import User
from portal.units import format_bps, format_ratio

from . import delegation, eip712, hooks, option_results, selectors_treasury, tally
from .activity import with_activity
from .delegate_selectors import annotate_behalf
from .models import (
    IDAO,
    Agent,
    AIModel,
    Ballot,
    Delegation,
    ManifestEntry,
    Membership,
    MembershipStatus,
    ModelVersion,
    Proposal,
    ProposalKind,
    ProposalState,
    Role,
    VotingPower,
)

VOTER_LIST_SIZE = 50


def _user_id(user: Any) -> int | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def is_member(*, idao: IDAO, user: Any) -> bool:
    """True when `user` holds an active membership (member or steward) of `idao`."""
    uid = _user_id(user)
    if uid is None:
        return False
    return Membership.objects.filter(idao=idao, user_id=uid, status=MembershipStatus.ACTIVE).exists()


def idao_with_membership(*, slug: str, user: Any) -> tuple[IDAO | None, bool]:
    """The iDAO with this slug (None if there is none) and whether `user` is an active member of
    it (is_member), in one query. Only the iDAO's id, slug and name are loaded (the upload path
    reads no more; any other field loads on first access). Plain SQL: the ORM's compilation of
    this query cost more than running it."""
    uid = _user_id(user)
    qn = connection.ops.quote_name
    # The models' own tables; the columns are the fields' default names. Only these quoted
    # identifiers are spliced in; every value is a parameter.
    sql = (
        "SELECT i.id, i.slug, i.name, EXISTS ("  # noqa: S608
        f"SELECT 1 FROM {qn(Membership._meta.db_table)} m WHERE m.idao_id = i.id AND m.user_id = %s AND m.status = %s"
        f") FROM {qn(IDAO._meta.db_table)} i WHERE i.slug = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [uid, str(MembershipStatus.ACTIVE), slug])
        row = cursor.fetchone()
    if row is None:
        return None, False
    return IDAO.from_db(connection.alias, ["id", "slug", "name"], row[:3]), uid is not None and bool(row[3])


def is_steward(*, idao: IDAO, user: Any) -> bool:
    uid = _user_id(user)
    if uid is None:
        return False
    return Membership.objects.filter(idao=idao, user_id=uid, status=MembershipStatus.ACTIVE, role=Role.STEWARD).exists()


def member_addresses(idao: IDAO) -> list[str]:
    """EIP-55 addresses of the active members, in joining order."""
    return list(
        Membership.objects.filter(idao=idao, status=MembershipStatus.ACTIVE)
        .order_by("joined_at", "id")
        .values_list("user__address", flat=True)
    )


def idao_list(*, q: str = "", domain: str = "", limit: int = 50, offset: int = 0, activity: bool = False) -> list[IDAO]:
    """The directory: search by name, slug or description, filter by domain, with member counts
    (and, with `activity`, active votes and treasury balances: activity.with_activity)."""
    qs = (
        IDAO.objects.select_related("created_by")
        .annotate(member_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.ACTIVE)))
        .order_by("name")
    )
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q) | Q(description__icontains=q))
    if domain:
        qs = qs.filter(domain=domain)
    if activity:
        qs = with_activity(qs)
    return list(qs[offset : offset + limit])


def idao_get(slug: str) -> IDAO:
    idao = IDAO.objects.filter(slug=slug).first()
    if idao is None:
        raise NotFound(f"There is no iDAO “{slug}”.")
    return idao


def proposals_visible(user: Any) -> QuerySet[Proposal]:
    """The one visibility rule for proposals, on pages, in the API and in every list: a draft is
    seen by its author only; every other state by everyone."""
    uid = _user_id(user)
    visible = ~Q(state=ProposalState.DRAFT)
    if uid is not None:
        visible |= Q(author_id=uid)
    return Proposal.objects.filter(visible)


def proposal_get(proposal_id: int, *, user: Any = None) -> Proposal:
    """A proposal `user` may see (anonymous when None); NotFound otherwise, as if it did not exist."""
    proposal = proposals_visible(user).select_related("idao", "author").filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound(f"There is no proposal {proposal_id}.")
    return proposal


def proposal_list(*, idao: IDAO, user: Any, state: str = "") -> QuerySet[Proposal]:
    """An iDAO's proposals that `user` may see, newest first."""
    qs = (
        proposals_visible(user)
        .filter(idao=idao)
        .select_related("idao", "author")
        .annotate(comment_count=Count("comments", filter=Q(comments__hidden_at=None)))
    )
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-created_at", "-id")


def idao_dict(idao: IDAO) -> dict[str, Any]:
    return {
        "slug": idao.slug,
        "name": idao.name,
        "domain": idao.domain,
        "description": idao.description,
        "created_by": idao.created_by.address,
        "created_at": idao.created_at.isoformat(),
        # The directory annotates the count; a single iDAO (its page, the API's GET) counts here.
        "member_count": (
            idao.member_count
            if hasattr(idao, "member_count")
            else Membership.objects.filter(idao=idao, status=MembershipStatus.ACTIVE).count()
        ),
        "treasury_owner": idao.treasury_owner,
        "charter": {
            "voting_rule": idao.voting_rule,
            "voting_period_seconds": int(idao.voting_period.total_seconds()),
            "voting_delay_seconds": int(idao.voting_delay.total_seconds()),
            "quorum_bps": idao.quorum_bps,
            "approval_threshold_bps": idao.approval_threshold_bps,
            "proposal_min_membership_age_seconds": int(idao.proposal_min_membership_age.total_seconds()),
            "proposal_min_stake": str(int(idao.proposal_min_stake)),
            "membership_policy": idao.membership_policy,
            "split_contributors_bps": idao.split_contributors_bps,
            "split_treasury_bps": idao.split_treasury_bps,
            "split_validators_bps": idao.split_validators_bps,
            "execution_delay_seconds": int(idao.execution_delay.total_seconds()),
            "guardian_veto": idao.guardian_veto,
            "steward_spend_limit": idao.steward_spend_limit or {},
        },
    }


def proposal_dict(proposal: Proposal, *, with_tally: bool = True) -> dict[str, Any]:
    def iso(dt):
        return dt.isoformat() if dt else None

    data: dict[str, Any] = {
        "id": proposal.pk,
        "idao": proposal.idao.slug,
        "author": proposal.author.address,
        "kind": proposal.kind,
        "title": proposal.title,
        "description": proposal.description,
        "payload": proposal.payload,
        "state": proposal.state,
        "created_at": iso(proposal.created_at),
        "submitted_at": iso(proposal.submitted_at),
        "voting_starts_at": iso(proposal.voting_starts_at),
        "voting_ends_at": iso(proposal.voting_ends_at),
        "closed_at": iso(proposal.closed_at),
        "voting_rule": proposal.voting_rule or None,
        "ballots_root": proposal.ballots_root or None,
        "result_leaf_id": proposal.result_leaf_id,
        "execution_leaf_id": proposal.execution_leaf_id,
        "execution_error": proposal.execution_error or None,
        "execute_after": iso(proposal.execute_after),
        "discussion_url": proposal.discussion_url or None,
        "comment_count": getattr(proposal, "comment_count", None),
    }
    if with_tally:
        if proposal.tally:
            data["tally"] = proposal.tally
        elif proposal.state == "active":
            data["tally"] = live_tally(proposal)
        else:
            data["tally"] = None
    return data


def ballot_dict(ballot: Ballot) -> dict[str, Any]:
    """BallotOut's fields of a (fully loaded) ballot."""
    return ballot_row_dict(ballot.pk, vars(ballot))


def ballot_row_dict(ballot_id: int | None, row: Mapping[str, Any]) -> dict[str, Any]:
    """BallotOut's fields of a ballot row given as its column values by attname (a loaded
    Ballot's `vars`, or what idaos.services.ballots.ballot_submit recorded: no model instance)."""
    message = row["message"]
    choice = row["choice"]
    return {
        "id": ballot_id,
        "proposal": row["proposal_id"],
        "voter": row["voter"],
        "choice": choice,
        # An OptionBallot's options (indices into the proposal's options), as signed; else null.
        "options": message.get("options") if choice == "options" else None,
        "reason": row["reason"],
        "timestamp": row["timestamp"],
        "weight": str(int(row["weight"])),
        "counted": row["counted"],
        "digest": row["digest"],
        "signature": row["signature"],
        "message": message,
        "received_at": row["received_at"].isoformat(),
        # How the signature was verified (portal.signatures.verify): eoa, erc1271, erc6492, or
        # pending (a contract wallet that has not approved it on chain: not counted).
        "verified_by": row["verified_by"],
        "verified_chain_id": row["verified_chain_id"],
        "verified_block": row["verified_block"],
    }


def live_tally(proposal: Proposal) -> dict[str, Any]:
    """The tally of counted ballots right now: one aggregate query."""
    if tally.is_multi_option(proposal.kind, proposal.payload):
        return option_tally(proposal)
    rows = (
        Ballot.objects.filter(proposal=proposal, counted=True)
        .values("choice")
        .annotate(weight=Sum("weight"), n=Count("id"))
        .order_by()
    )
    sums = {r["choice"]: int(r["weight"] or 0) for r in rows}
    voters = sum(r["n"] for r in rows)
    if voters and connection.vendor == "postgresql":
        for choice, amount in _delegated_sums_sql(proposal.pk):
            sums[choice] = sums.get(choice, 0) + int(amount)
    elif voters:
        flows = delegation_flows(proposal)
        if flows:
            sums = delegation.adjusted_sums(sums=sums, flows=flows, choice_of=_choices_along(proposal, flows))
    return tally.compute(
        sums=sums,
        voters=voters,
        eligible=int(proposal.eligible_power),
        quorum_bps=proposal.quorum_bps if proposal.quorum_bps is not None else proposal.idao.quorum_bps,
        threshold_bps=proposal.approval_threshold_bps or proposal.idao.approval_threshold_bps,
    )


def option_tally(proposal: Proposal) -> dict[str, Any]:
    """The tally of a signal with options (tally.compute_options): each counted ballot's options at
    the weight its voter's ballot carries, delegated weight included (delegated weight follows the
    delegate's ballot, whatever its shape: delegation.counted_weights)."""
    rows = list(Ballot.objects.filter(proposal=proposal, counted=True).values_list("voter", "message", "weight"))
    flows = delegation_flows(proposal) if rows else {}
    carried = delegation.counted_weights(
        weights={v: int(w) for v, _, w in rows}, flows=flows, voted=[v for v, _, _ in rows]
    )
    return tally.compute_options(
        method=proposal.payload["method"],
        options=proposal.payload["options"],
        ballots=[(m["options"], carried[v]) for v, m, _ in rows],
        voters=len(rows),
        eligible=int(proposal.eligible_power),
        quorum_bps=proposal.quorum_bps if proposal.quorum_bps is not None else proposal.idao.quorum_bps,
    )


def delegation_export(proposal: Proposal) -> dict[str, Any]:
    """The delegation graph the snapshot used: each applied signed delegation (in resolution order)
    and the flows it resolved to, enough for idaos.recount to re-derive them (idaos.delegation)."""
    rows = (
        VotingPower.objects.filter(proposal=proposal, delegation__isnull=False)
        .select_related("delegation")
        .order_by("delegation__created_at", "delegation_id")
    )
    return {
        "max_depth": delegation.MAX_DEPTH,
        "cap": None if proposal.delegation_cap is None else str(int(proposal.delegation_cap)),
        "types": eip712.delegation_types(),
        "delegations": [
            {
                "delegator": r.voter,
                "message": d.message,
                "signature": d.signature,
                "digest": d.digest,
                "verified_by": d.verified_by,
                "flows": r.flows,
            }
            for r in rows
            if (d := r.delegation) is not None  # always: the query filters on it
        ],
    }


# delegation.adjusted_sums as one set-based statement (PostgreSQL): each flow of a delegator who
# did not vote goes to the choice of the first of its `via` delegates who did. The resolution tests
# (tests/idaos/test_delegation_resolution.py) check its tallies; the recount runs the Python spec.
_DELEGATED_SUMS = """
SELECT c.choice, sum((f.value->>'amount')::numeric)
FROM idaos_votingpower vp
CROSS JOIN LATERAL jsonb_array_elements(vp.flows) AS f(value)
CROSS JOIN LATERAL (
    SELECT b.choice
    FROM jsonb_array_elements_text(f.value->'via') WITH ORDINALITY AS h(addr, k)
    JOIN idaos_ballot b ON b.proposal_id = vp.proposal_id AND b.counted AND b.voter = h.addr
    ORDER BY h.k
    LIMIT 1
) AS c
WHERE vp.proposal_id = %s AND vp.delegated_out > 0
  AND NOT EXISTS (
    SELECT 1 FROM idaos_ballot o WHERE o.proposal_id = vp.proposal_id AND o.counted AND o.voter = vp.voter
  )
GROUP BY c.choice
"""


def _delegated_sums_sql(proposal_id: int) -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(_DELEGATED_SUMS, [proposal_id])
        return cursor.fetchall()


def delegation_flows(proposal: Proposal) -> dict[str, list[tuple[tuple[str, ...], int]]]:
    """origin -> [(via, amount)] of the snapshot's resolved delegations (one indexed query)."""
    return {
        voter: [(tuple(f["via"]), int(f["amount"])) for f in flows]
        for voter, flows in VotingPower.objects.filter(proposal=proposal, delegated_out__gt=0).values_list(
            "voter", "flows"
        )
    }


def delegated_votes(proposal: Proposal) -> dict[str, list[dict[str, str]]]:
    """delegator -> [{delegate, choice, amount}]: the delegates whose counted ballots carried a
    delegator's flows because the delegator did not vote (the rule of delegation.adjusted_sums)."""
    flows = delegation_flows(proposal)
    if not flows:
        return {}
    choice_of = _choices_along(proposal, flows)
    carried: dict[str, list[dict[str, str]]] = {}
    for origin, origin_flows in flows.items():
        if origin in choice_of:
            continue
        for via, amount in origin_flows:
            holder = next((h for h in via if h in choice_of), None)
            if holder is not None:
                carried.setdefault(origin, []).append(
                    {"delegate": holder, "choice": choice_of[holder], "amount": str(amount)}
                )
    return carried


def _choices_along(proposal: Proposal, flows: dict[str, list[tuple[tuple[str, ...], int]]]) -> dict[str, str]:
    """voter -> choice of the counted ballots of everyone on a delegation path."""
    people = set(flows)
    for origin_flows in flows.values():
        for via, _ in origin_flows:
            people.update(via)
    return dict(Ballot.objects.filter(proposal=proposal, counted=True, voter__in=people).values_list("voter", "choice"))


def counted_rows(proposal: Proposal) -> list[tuple[str, str, int]]:
    """(voter, digest, weight) of the counted ballots, by voter: the Merkle tree's rows."""
    return [
        (v, d, int(w))
        for v, d, w in Ballot.objects.filter(proposal=proposal, counted=True)
        .order_by("voter")
        .values_list("voter", "digest", "weight")
    ]


def proposals_due(now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Ids of proposals whose voting should open, and of those whose voting should close."""
    now = now or timezone.now()
    to_activate = list(
        Proposal.objects.filter(state=ProposalState.PENDING, voting_starts_at__lte=now).values_list("pk", flat=True)[
            :500
        ]
    )
    to_close = list(
        Proposal.objects.filter(state=ProposalState.ACTIVE, voting_ends_at__lte=now).values_list("pk", flat=True)[:500]
    )
    return to_activate, to_close


def proposals_timelock_due() -> list[int]:
    """Ids of passed proposals whose timelock has ended by the database's clock."""
    return list(
        Proposal.objects.filter(state=ProposalState.PASSED, execute_after__lte=Now())
        .order_by("execute_after", "pk")
        .values_list("pk", flat=True)[:500]
    )


def _seconds(value: Any) -> str:
    if isinstance(value, int):
        value = timedelta(seconds=value)
    return str(value)


def _describe_data_change(kind: str, payload: dict) -> str:
    """The sentence for data changes, as: Model “Triage” (version 3) will learn from DAT #12
    “Radiology notes”; 2 items already in its manifest."""
    model = AIModel.objects.filter(pk=payload["model_id"]).first()
    refs = list(payload["data_refs"])
    known = hooks.describe_data_refs(refs)
    names = [known[r]["label"] if r in known else r for r in refs]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    version = model.versions.filter(current=True).first() if model else None
    if version is None:
        where = f"Model “{model}”" if model else f"Model {payload['model_id']}"
        return f"{where} has no current version."
    already = ManifestEntry.objects.filter(model_version=version).count()
    have = f"{already} item{'s' if already != 1 else ''} already in its manifest"
    if kind == ProposalKind.INCLUDE_DATA:
        return f"Model “{model}” (version {version.number}) will learn from {shown}; {have}."
    return f"Model “{model}” (version {version.number}) will stop learning from {shown}; {have}."


def proposal_preview(*, idao: IDAO, kind: str, payload: dict) -> dict[str, Any]:
    """What a proposal would do before it exists: one sentence, and warnings a voter should see
    (data from another iDAO, data whose policy forbids training)."""
    sentence = proposal_describe(Proposal(idao=idao, kind=kind, payload=payload))
    return {"sentence": sentence, "warnings": data_warnings(idao=idao, kind=kind, payload=payload)}


def data_warnings(*, idao: IDAO, kind: str, payload: dict) -> list[str]:
    if kind != ProposalKind.INCLUDE_DATA or not isinstance(payload.get("data_refs"), list):
        return []
    warnings = []
    for facts in hooks.describe_data_refs([r for r in payload["data_refs"] if isinstance(r, str)]).values():
        if facts.get("idao_id") not in (None, idao.pk):
            warnings.append(f"{facts['label']} comes from another iDAO ({facts['idao']}).")
        if facts.get("problem"):
            warnings.append(f"{facts['label']}: its policy forbids training. {facts['problem']}")
    return warnings


def proposal_describe(proposal: Proposal) -> str:
    """One sentence that says what passing this proposal does."""
    kind, payload = proposal.kind, proposal.payload
    try:
        if kind == ProposalKind.SIGNAL and payload.get("options"):
            how = {"single": "A single-choice", "approval": "An approval", "ranked": "A ranked-choice"}
            options = ", ".join(payload["options"])
            return (
                f"{how.get(payload.get('method'), 'A')} signal between {len(payload['options'])} options ({options}): "
                "the winning option records the members' view and changes nothing."
            )
        if kind == ProposalKind.SIGNAL:
            return "A signal: passing it records the members' view and changes nothing."
        if kind in (ProposalKind.INCLUDE_DATA, ProposalKind.REMOVE_DATA):
            return _describe_data_change(kind, payload)
        if kind == ProposalKind.APPROVE_MODEL_UPDATE:
            model = AIModel.objects.filter(pk=payload["model_id"]).first()
            return f"Approve a new version of “{model}” with artifact {payload['artifact_hash']}."
        if kind == ProposalKind.CHANGE_AGENT_POLICY:
            agent = Agent.objects.filter(pk=payload["agent_id"]).first()
            return f"Replace the behaviour policy of agent “{agent}”."
        if kind == ProposalKind.CHANGE_CHARTER:
            parts = []
            for name, value in payload["changes"].items():
                shown = (
                    _seconds(value)
                    if name in ("voting_period", "voting_delay", "proposal_min_membership_age", "execution_delay")
                    else value
                )
                parts.append(f"{name.replace('_', ' ')} → {shown}")
            return "Change the charter: " + "; ".join(parts) + "."
        handler = hooks.action_handler(kind)
        if handler is not None:
            return handler.describe(payload)
    except (KeyError, TypeError):
        pass
    return f"Action “{kind}”."


def proposal_exported(proposal_id: int) -> Proposal:
    """The proposal whose ballots are exported: any state but draft (404 proposal_not_found)."""
    proposal = proposals_visible(None).select_related("idao", "author").filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound("There is no such proposal with ballots.", code="proposal_not_found")
    return proposal


def proposal_export(proposal: Proposal) -> dict[str, Any]:
    """What /proposals/<id>/ballots.json serves, enough to recount offline (`idaos.recount`): the
    proposal with its tally, the counting rule, the EIP-712 domain and types, the voting-power
    snapshot taken at activation, every ballot (counted and superseded) with its signed message
    and signature, and the ledger proof of the anchored result (null until the block is sealed)."""
    from ledger.errors import LeafNotSealed

    anchor, status = None, "not_closed"
    if proposal.result_leaf_id is not None:
        try:
            anchor, status = ledger_selectors.proof_bundle(proposal.result_leaf_id), "sealed"
        except LeafNotSealed:
            status = "queued"
    snapshot = VotingPower.objects.filter(proposal=proposal).order_by("voter").values_list("voter", "weight", "balance")
    return {
        "format": tally.EXPORT_FORMAT,
        "proposal": proposal_dict(proposal),
        "voting_rule": proposal.voting_rule or None,
        "quorum_bps": proposal.quorum_bps,
        "approval_threshold_bps": proposal.approval_threshold_bps,
        "eip712": {
            "domain": eip712.domain(),
            "types": eip712.types(),
            "primaryType": eip712.PRIMARY_TYPE,
            # The type of ballots on a signal with options (its ballots' choice is `options`).
            "option_ballot": {"types": eip712.option_types(), "primaryType": eip712.OPTION_PRIMARY_TYPE},
        },
        "voting_power": [{"voter": v, "weight": str(int(w)), "balance": str(int(b))} for v, w, b in snapshot],
        "delegation": delegation_export(proposal),
        "ballots": [
            ballot_dict(b) for b in Ballot.objects.filter(proposal=proposal).order_by("id").iterator(chunk_size=2000)
        ],
        "anchor_status": status,
        "anchor": anchor,
    }


def _membership(idao: IDAO, user: Any) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(idao=idao, user=user, status__in=["pending", "active"]).first()


def idao_page(idao: IDAO, user: Any) -> dict[str, Any]:
    membership = _membership(idao, user)
    is_steward = bool(membership and membership.status == "active" and membership.role == "steward")
    members = (
        Membership.objects.filter(idao=idao, status="active")
        .select_related("user")
        .order_by("-role", "joined_at")[:100]
    )
    current_versions = ModelVersion.objects.filter(current=True).annotate(manifest_size=Count("manifest"))
    models = AIModel.objects.filter(idao=idao).prefetch_related(
        Prefetch("versions", queryset=current_versions, to_attr="current_versions")
    )
    treasury = {asset: ledger_selectors.balance(idao.treasury_owner, asset) for asset in ("LAZ", "CREDIT")}
    return {
        "idao": idao,
        "membership": membership,
        "is_steward": is_steward,
        "members": members,
        "member_count": Membership.objects.filter(idao=idao, status="active").count(),
        "pending_count": Membership.objects.filter(idao=idao, status="pending").count() if is_steward else 0,
        "models": models,
        "agents": Agent.objects.filter(idao=idao),
        # The iDAO page shows what anyone may see (no drafts, not even the viewer's own).
        "proposals": proposals_visible(None)
        .filter(idao=idao)
        .select_related("author")
        .annotate(comment_count=Count("comments", filter=Q(comments__hidden_at=None)))[:20],
        "treasury": treasury,
        "panels": hooks.idao_panels(idao),
    }


def _voters(proposal: Proposal):
    """The latest counted ballots, each with `.behalf`: whose delegated weight it carried."""
    ballots = list(
        Ballot.objects.filter(proposal=proposal, counted=True)
        .only("id", "voter", "choice", "weight", "timestamp", "reason", "received_at", "counted")
        .order_by("-received_at", "-id")[:VOTER_LIST_SIZE]
    )
    if tally.is_multi_option(proposal.kind, proposal.payload):
        picked = dict(Ballot.objects.filter(pk__in=[b.pk for b in ballots]).values_list("pk", "message__options"))
        for b in ballots:
            b.picked = option_results.picked_in_words(  # type: ignore[attr-defined]
                proposal.payload["method"], proposal.payload["options"], picked.get(b.pk) or []
            )
    return annotate_behalf(proposal, ballots)


def _tally_context(proposal: Proposal) -> dict[str, Any]:
    tally: dict[str, Any] = proposal.tally if proposal.tally else live_tally(proposal)
    cast = int(tally["cast"]) or 0
    eligible = int(tally["eligible"]) or 0
    if "method" in tally:  # a signal with options
        return {
            "proposal": proposal,
            "idao": proposal.idao,
            "tally": tally,
            "bars": [],
            "option_rows": option_results.option_rows(tally),
            "rounds": option_results.rounds_in_words(tally),
            "method_words": option_results.METHOD_WORDS[tally["method"]],
            "quorum_needed": (int(tally["quorum_bps"]) * eligible + 9999) // 10000,
        }
    bars = [
        {"choice": c, "weight": tally[c], "bps": (int(tally[c]) * 10000 // cast) if cast else 0}
        for c in ("for", "against", "abstain")
    ]
    return {
        "proposal": proposal,
        "idao": proposal.idao,
        "tally": tally,
        "bars": bars,
        "quorum_needed": (int(tally["quorum_bps"]) * eligible + 9999) // 10000,
    }


CLOSED_STATES = {
    ProposalState.PASSED,
    ProposalState.REJECTED,
    ProposalState.QUORUM_NOT_MET,
    ProposalState.EXECUTED,
    ProposalState.EXECUTION_FAILED,
}


def result_sentence(proposal: Proposal) -> str:
    """A closed proposal's outcome in one line, e.g. "Passed: 66.7% for, above 50%; quorum 60% of
    20% needed" (from the tally recorded at the close)."""
    if proposal.state == ProposalState.CANCELLED:
        return "Cancelled by its author before anyone voted."
    if proposal.state not in CLOSED_STATES or not proposal.tally:
        return ""
    t = proposal.tally
    if "method" in t:
        return option_results.result_in_words(t, proposal.state)
    f, a = int(t["for"]), int(t["against"])
    share = format_ratio(f, f + a) if f + a else "no votes"
    threshold = format_bps(t["approval_threshold_bps"])
    turnout = f"quorum {format_bps(t['participation_bps'])} of {format_bps(t['quorum_bps'])} needed"
    if proposal.state == ProposalState.QUORUM_NOT_MET:
        return f"Rejected: quorum not met, {format_bps(t['participation_bps'])} took part of {format_bps(t['quorum_bps'])} needed."
    if proposal.state == ProposalState.REJECTED:
        return f"Rejected: {share} for, below {threshold}; {turnout}."
    above = "above" if f * 10_000 > int(t["approval_threshold_bps"]) * (f + a) else "at"
    outcome = {
        ProposalState.EXECUTED: "Passed and executed",
        ProposalState.EXECUTION_FAILED: "Passed, but its execution failed",
    }.get(ProposalState(proposal.state), "Passed")
    return f"{outcome}: {share} for, {above} {threshold}; {turnout}."


def _my_ballot(proposal: Proposal, user: Any) -> Ballot | None:
    if not getattr(user, "is_authenticated", False) or proposal.state in (ProposalState.DRAFT, ProposalState.PENDING):
        return None
    ballot = Ballot.objects.filter(proposal=proposal, voter=user.address, counted=True).first()
    if ballot is not None and ballot.choice == "options":
        # What the page shows for "you voted …", e.g. "ranked 1. Curie, 2. Ada".
        ballot.picked = option_results.picked_in_words(  # type: ignore[attr-defined]
            proposal.payload["method"], proposal.payload["options"], ballot.message["options"]
        )
    return ballot


def proposal_partial(proposal: Proposal, name: str, user: Any = None) -> dict[str, Any]:
    if name == "tally":
        return {
            **_tally_context(proposal),
            "my_ballot": _my_ballot(proposal, user),
            "result": result_sentence(proposal),
            "refreshed": True,
        }
    return {"proposal": proposal, "voters": _voters(proposal), "voter_total": None}


def proposal_page(proposal: Proposal, user: Any) -> dict[str, Any]:
    context = _tally_context(proposal)
    my_power = None
    if getattr(user, "is_authenticated", False) and proposal.state == "active":
        my_power = VotingPower.objects.filter(proposal=proposal, voter=user.address).first()
    my_ballot = _my_ballot(proposal, user)
    role = selectors_treasury.viewer_role(proposal, user)  # one query for the timelock and discussion
    steward = role == Role.STEWARD
    context.update(
        {
            "result": result_sentence(proposal),
            "payload_json": json.dumps(proposal.payload, indent=2, sort_keys=True),
            "description": proposal_describe(proposal),
            "voters": _voters(proposal),
            "my_power": my_power,
            "my_ballot": my_ballot,
            "is_author": getattr(user, "pk", None) == proposal.author_id,
            "chain_id": eip712.domain()["chainId"],
            # A signal with options: the options and how they are voted (the OptionBallot form).
            "signal_options": proposal.payload.get("options")
            if tally.is_multi_option(proposal.kind, proposal.payload)
            else None,
            "signal_method": proposal.payload.get("method"),
            # The timelock's countdown and the discussion (idaos.selectors_treasury).
            "timelock": selectors_treasury.timelock(proposal, user, steward=steward),
            "comments": selectors_treasury.comment_thread(proposal, user, steward=steward),
            "may_comment": role is not None,
            "may_moderate": steward,
        }
    )
    return context


# Delegations (docs/governance.md "Delegation")


def delegation_dict(delegation: Delegation) -> dict[str, Any]:
    """A delegation as the API shows it, with its signed receipt."""
    return {
        "id": delegation.pk,
        "delegator": delegation.delegator,
        "scope": delegation.scope,
        "shares": [{"delegate": s.delegate, "bps": s.bps} for s in delegation.shares.all()],
        "expires_at": delegation.expires_at,
        "nonce": delegation.nonce,
        "created_at": delegation.created_at,
        "ended_at": delegation.ended_at,
        "live": delegation.ended_at is None and delegation.expires_at > timezone.now(),
        "message": delegation.message,
        "signature": delegation.signature,
        "digest": delegation.digest,
        "verified_by": delegation.verified_by,
        "revocation": (
            {
                "message": delegation.revocation_message,
                "signature": delegation.revocation_signature,
                "digest": delegation.revocation_digest,
            }
            if delegation.revocation_digest
            else None
        ),
    }


def delegation_list(*, delegator: str, live_only: bool = False) -> list[Delegation]:
    """A delegator's delegations ("my delegations"), newest first."""
    qs = Delegation.objects.filter(delegator__iexact=delegator).prefetch_related("shares")
    if live_only:
        qs = qs.filter(ended_at=None, expires_at__gt=timezone.now())
    return list(qs)


def delegations_to(*, delegate: str) -> list[Delegation]:
    """The live delegations that name this address among their delegates ("delegated to me")."""
    return list(
        Delegation.objects.filter(shares__delegate__iexact=delegate, ended_at=None, expires_at__gt=timezone.now())
        .prefetch_related("shares")
        .distinct()
    )


def statement_get(address: str) -> dict[str, Any]:
    """A person's delegate statement for the API (404 not_found when nobody has this address)."""
    user = User.objects.filter(address__iexact=address[:42]).select_related("delegate_statement").first()
    if user is None:
        raise NotFound("Nobody with this address has signed in here.")
    statement = getattr(user, "delegate_statement", None)
    return {
        "address": user.address,
        "text": statement.text if statement else "",
        "updated_at": statement.updated_at if statement else None,
    }


def agent_get(agent_id: int) -> Agent:
    agent = Agent.objects.select_related("idao").filter(pk=agent_id).first()
    if agent is None:
        raise NotFound(f"There is no agent {agent_id}.", code="agent_not_found")
    return agent


def agent_dict(agent: Agent) -> dict[str, Any]:
    """An agent's current behaviour policy and every version of it, newest first, each with the
    artifact usage is attributed to and the proposal that approved it."""
    versions = list(agent.versions.order_by("-number"))
    return {
        "id": agent.pk,
        "idao": agent.idao.slug,
        "name": agent.name,
        "description": agent.description,
        "behaviour_policy": agent.behaviour_policy,
        "current_version": versions[0].number if versions else None,
        "artifact_hash": versions[0].artifact_hash if versions else "",
        "versions": [
            {
                "number": v.number,
                "behaviour_policy": v.behaviour_policy,
                "artifact_hash": v.artifact_hash,
                "created_at": v.created_at.isoformat(),
                "approved_by_proposal": v.approved_by_proposal_id,
            }
            for v in versions
        ],
    }
