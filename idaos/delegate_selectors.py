"""Reads for the delegation pages (docs/governance.md "Delegation"): the delegate directories, who
voted on whose behalf on a proposal, the delegate's receipt after overrides, and the panels of a
person's profile (portal.profiles). Each costs a fixed number of queries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet
from django.utils import timezone

from . import delegation
from .models import (
    IDAO,
    Ballot,
    DelegateStatement,
    Delegation,
    Domain,
    Membership,
    MembershipStatus,
    Proposal,
    VotingPower,
)

PARTICIPATION_WINDOW = 10  # the last N proposals a delegate's participation rate is measured over
DIRECTORY_SIZE = 100
REASONS_SHOWN = 3
GLOBAL = "global"


@dataclass
class Behalf:
    """What a voter's counted ballot carried for others: `carried` [(origin, amount)] counted with
    it, `left` [(origin, amount, who)] that left because `who` voted first (the origin itself, or a
    delegate before this voter on the chain)."""

    carried: list[tuple[str, int]] = field(default_factory=list)
    left: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def carried_total(self) -> int:
        return sum(a for _, a in self.carried)


# The flows of this proposal's snapshot that pass through any of the given voters, each with who on
# its path ([from, *via]) cast a counted ballot, in one query of index lookups whatever the number of
# delegations: walk down the applied delegations from the voters (a flow through a voter ends at one
# of the holders below them, at most MAX_DEPTH hops), then read those holders' `delegated_from`.
# The LIMIT 1 subqueries keep each step an index lookup on (proposal, voter).
_FLOWS_THROUGH = """
WITH RECURSIVE down(addr, depth) AS (
    SELECT a, 0 FROM unnest(%(voters)s::text[]) AS a
    UNION
    SELECT s.delegate, down.depth + 1
    FROM down
    CROSS JOIN LATERAL (
        SELECT vp.delegation_id FROM idaos_votingpower vp
        WHERE vp.proposal_id = %(proposal)s AND vp.voter = down.addr LIMIT 1
    ) AS applied
    JOIN idaos_delegationshare s ON s.delegation_id = applied.delegation_id
    WHERE down.depth < %(depth)s
)
SELECT e.value, ARRAY(
    SELECT b.voter FROM idaos_ballot b
    WHERE b.proposal_id = %(proposal)s AND b.counted
      AND b.voter = ANY((e.value->>'from') || ARRAY(SELECT jsonb_array_elements_text(e.value->'via')))
)
FROM (SELECT DISTINCT addr FROM down) AS d
CROSS JOIN LATERAL (
    SELECT vp.delegated_from FROM idaos_votingpower vp
    WHERE vp.proposal_id = %(proposal)s AND vp.voter = d.addr AND vp.delegated > 0 LIMIT 1
) AS h
CROSS JOIN LATERAL jsonb_array_elements(h.delegated_from) AS e(value)
WHERE (e.value->'via') ?| %(voters)s::text[]
"""


def behalf_of(proposal: Proposal, voters: list[str]) -> dict[str, Behalf]:
    """For each of `voters` who cast a counted ballot: whose delegated weight it carried, and whose
    share left it because they (or a delegate before this voter) voted directly. One query."""
    if not voters or proposal.activated_at is None:
        return {}
    flows: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    voted: set[str] = set()
    for flow, on_path in _flows_through(proposal, voters):
        flows.setdefault(flow["from"], []).append((tuple(flow["via"]), int(flow["amount"])))
        voted.update(on_path)
    out: dict[str, Behalf] = {}
    for holder, entries in delegation.behalf(flows=flows, voted=voted).items():
        if holder not in voters:
            continue
        b = out.setdefault(holder, Behalf())
        for origin, amount, first in entries:
            if first == holder:
                b.carried.append((origin, amount))
            else:
                b.left.append((origin, amount, first or origin))
    return out


def _flows_through(proposal: Proposal, voters: list[str]) -> list[tuple[dict[str, Any], list[str]]]:
    """The snapshot's flows passing through any of `voters`, each with who on its path cast a
    counted ballot: one indexed query on PostgreSQL; on the embedded SQLite default (small by
    design, and without arrays or jsonb operators) the same answer from two plain reads."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_FLOWS_THROUGH, {"proposal": proposal.pk, "voters": voters, "depth": delegation.MAX_DEPTH})
            return [(json.loads(v) if isinstance(v, str) else v, list(path)) for v, path in cursor.fetchall()]
    wanted = set(voters)
    through = [
        flow
        for held in VotingPower.objects.filter(proposal=proposal, delegated__gt=0).values_list(
            "delegated_from", flat=True
        )
        for flow in (held or [])
        if wanted.intersection(flow.get("via") or [])
    ]
    on_any_path = {a for flow in through for a in [flow["from"], *flow["via"]]}
    counted = set(
        Ballot.objects.filter(proposal=proposal, counted=True, voter__in=on_any_path).values_list("voter", flat=True)
    )
    return [(flow, [a for a in [flow["from"], *flow["via"]] if a in counted]) for flow in through]


def annotate_behalf(proposal: Proposal, ballots: list[Ballot]) -> list[Ballot]:
    """Set `.behalf` (a Behalf or None) on each counted ballot of the list (the voters table)."""
    found = behalf_of(proposal, [b.voter for b in ballots if b.counted])
    for b in ballots:
        b.behalf = found.get(b.voter)  # type: ignore[attr-defined]  # a display attribute for the template
    return ballots


def receipt_context(ballot: Ballot) -> dict[str, Any]:
    """The delegate's receipt after overrides: the weight actually counted and whose share left."""
    if not ballot.counted:
        return {"behalf": None, "counted_weight": None}
    found = behalf_of(ballot.proposal, [ballot.voter]).get(ballot.voter)
    own = int(ballot.weight)
    return {"behalf": found, "counted_weight": own + (found.carried_total if found else 0)}


# Delegate directories


def _live(now: datetime) -> QuerySet[Delegation]:
    return Delegation.objects.filter(ended_at=None, expires_at__gt=now)


def _specific(scopes: list[str], members: QuerySet[Any], now: datetime) -> list[Delegation]:
    """Each member's live delegation in the most specific of `scopes` (listed most specific first)."""
    rank = {s: i for i, s in enumerate(scopes)}
    best: dict[str, Delegation] = {}
    for d in _live(now).filter(scope__in=scopes, delegator__in=members).prefetch_related("shares"):
        if d.delegator not in best or rank[d.scope] < rank[best[d.delegator].scope]:
            best[d.delegator] = d
    return list(best.values())


@dataclass
class DelegateRow:
    address: str
    statement: str = ""
    delegators: int = 0
    delegated_bps: int = 0  # sum of the shares delegated to them, in basis points of one member's power
    snapshot_delegated: int | None = None
    eligible: int = 0
    voted: int = 0
    reasons: list[Ballot] = field(default_factory=list)

    @property
    def short(self) -> str:
        return f"{self.address[:6]}…{self.address[-4:]}"

    @property
    def participation_pct(self) -> int | None:
        return self.voted * 100 // self.eligible if self.eligible else None


def _directory(*, idaos: QuerySet[IDAO], scopes: list[str], latest: Proposal | None) -> list[DelegateRow]:
    now = timezone.now()
    members = Membership.objects.filter(idao__in=idaos, status=MembershipStatus.ACTIVE).values("user__address")
    rows: dict[str, DelegateRow] = {}
    for d in _specific(scopes, members, now):
        for share in d.shares.all():
            row = rows.setdefault(share.delegate, DelegateRow(share.delegate))
            row.delegators += 1
            row.delegated_bps += share.bps
    statements = DelegateStatement.objects.filter(user__address__in=members).exclude(text="")
    for address, text in statements.values_list("user__address", "text")[: DIRECTORY_SIZE * 2]:
        rows.setdefault(address, DelegateRow(address)).statement = text
    shown = sorted(rows.values(), key=lambda r: (-r.delegated_bps, r.address))[:DIRECTORY_SIZE]
    addresses = [r.address for r in shown]
    by_address = {r.address: r for r in shown}
    if latest is not None:
        for voter, amount in VotingPower.objects.filter(proposal=latest, voter__in=addresses).values_list(
            "voter", "delegated"
        ):
            by_address[voter].snapshot_delegated = int(amount)
    recent = list(
        Proposal.objects.filter(idao__in=idaos, activated_at__isnull=False)
        .order_by("-activated_at", "-id")
        .values_list("pk", flat=True)[:PARTICIPATION_WINDOW]
    )
    for voter, n in (
        VotingPower.objects.filter(proposal_id__in=recent, voter__in=addresses)
        .values("voter")
        .annotate(n=Count("id"))
        .values_list("voter", "n")
    ):
        by_address[voter].eligible = n
    for voter, n in (
        Ballot.objects.filter(proposal_id__in=recent, voter__in=addresses, counted=True)
        .values("voter")
        .annotate(n=Count("id"))
        .values_list("voter", "n")
    ):
        by_address[voter].voted = n
    reasons = (
        Ballot.objects.filter(proposal__idao__in=idaos, voter__in=addresses, counted=True)
        .exclude(reason="")
        .select_related("proposal")
        .only("voter", "choice", "reason", "proposal__id", "proposal__title")
        .order_by("-received_at", "-id")[: DIRECTORY_SIZE * REASONS_SHOWN]
    )
    for b in reasons:
        row = by_address[b.voter]
        if len(row.reasons) < REASONS_SHOWN:
            row.reasons.append(b)
    return shown


def _latest(idao: IDAO) -> Proposal | None:
    return Proposal.objects.filter(idao=idao, activated_at__isnull=False).order_by("-activated_at", "-id").first()


def idao_delegates(idao: IDAO) -> dict[str, Any]:
    """The delegate directory of one iDAO: delegations that apply to it (its own scope, its domain,
    global: the most specific per member), statements, the delegated weight at its latest vote."""
    latest = _latest(idao)
    scopes = [f"idao:{idao.slug}", f"domain:{idao.domain}", GLOBAL]
    rows = _directory(idaos=IDAO.objects.filter(pk=idao.pk), scopes=scopes, latest=latest)
    return {"idao": idao, "rows": rows, "latest": latest, "scopes": scopes, "window": PARTICIPATION_WINDOW}


def domain_delegates(domain: str) -> dict[str, Any]:
    """The delegate directory of a domain: members of its iDAOs, delegations scoped to the domain
    (or global), participation over the domain's latest proposals."""
    idaos = IDAO.objects.filter(domain=domain)
    rows = _directory(idaos=idaos, scopes=[f"domain:{domain}", GLOBAL], latest=None)
    return {
        "domain": domain,
        "domain_label": Domain(domain).label,
        "domains": Domain.choices,
        "idaos": list(idaos.only("slug", "name")[:50]),
        "rows": rows,
        "window": PARTICIPATION_WINDOW,
    }


# "My delegations", "delegated to me" and the profile


def delegations_page(address: str) -> dict[str, Any]:
    now = timezone.now()
    mine = list(Delegation.objects.filter(delegator=address).prefetch_related("shares")[:200])
    to_me = list(
        _live(now).filter(shares__delegate=address).prefetch_related("shares").distinct().order_by("-created_at")
    )
    for d in mine:
        d.live = d.ended_at is None and d.expires_at > now  # type: ignore[attr-defined]  # display attribute
    for d in to_me:
        d.my_bps = next((s.bps for s in d.shares.all() if s.delegate == address), 0)  # type: ignore[attr-defined]
    return {"mine": mine, "to_me": to_me}


def scope_choices(idaos: list[IDAO]) -> list[tuple[str, str]]:
    """The scopes a delegation form offers: the given iDAOs, every domain, everywhere."""
    choices = [(f"idao:{i.slug}", f"This iDAO: {i.name}") for i in idaos]
    choices += [(f"domain:{value}", f"Domain: {label}") for value, label in Domain.choices]
    choices.append((GLOBAL, "Everywhere (global)"))
    return choices


def delegate_form_context(*, viewer: Any, delegate: str | None, idaos: list[IDAO], scope: str = "") -> dict:
    """What templates/idaos/_delegate_form.html needs (the signing module reads its data- fields)."""
    return {
        "viewer": viewer,
        "delegate": delegate,
        "scopes": scope_choices(idaos),
        "scope": scope,
        "default_days": settings.IDAOS_DELEGATION_DEFAULT_DAYS,
        "max_days": settings.IDAOS_DELEGATION_MAX_DAYS,
    }


def profile_delegation_panel(person: Any, viewer: Any) -> dict[str, Any]:
    """The profile's statement and delegations panel (registered in IdaosConfig.ready())."""
    statement = DelegateStatement.objects.filter(user=person).first()
    idaos = list(IDAO.objects.filter(memberships__user=person, memberships__status=MembershipStatus.ACTIVE))
    page = delegations_page(person.address)
    is_self = getattr(viewer, "pk", None) == person.pk
    context = {
        "statement": statement,
        "is_self": is_self,
        "from_them": [d for d in page["mine"] if d.live],
        "to_them": page["to_me"],
    }
    if getattr(viewer, "is_authenticated", False) and not is_self:
        domain = idaos[0].domain if idaos else ""
        context["form"] = delegate_form_context(
            viewer=viewer, delegate=person.address, idaos=idaos, scope=f"domain:{domain}" if domain else ""
        )
    return context


def profile_votes_panel(person: Any) -> dict[str, Any]:
    """The profile's iDAOs and their latest counted votes with reasons."""
    memberships = (
        Membership.objects.filter(user=person, status=MembershipStatus.ACTIVE).select_related("idao").order_by("id")
    )
    votes = (
        Ballot.objects.filter(voter=person.address, counted=True)
        .select_related("proposal__idao")
        .order_by("-received_at", "-id")[:20]
    )
    return {"memberships": list(memberships[:100]), "votes": list(votes)}
