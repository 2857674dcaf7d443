"""Demo iDAOs for the embedded default: three communities, their members, a signal proposal with
signed ballots, and LAZ for stake-weighted voting. Idempotent: a second run changes nothing."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from eth_account.messages import encode_typed_data

from ledger import owners
from ledger import services as ledger_services
from portal.demo import DEMO_NAMES, demo_account
from portal.models import User

from . import eip712
from .models import IDAO, DelegateStatement, Delegation, Proposal, ProposalState
from .services import ballots, delegations, proposals
from .services import membership as membership_services
from .services.idaos import idao_create

IDAOS = [
    (
        "open-health",
        "Open Health Commons",
        "healthcare",
        "alice",
        "Patients and clinicians who decide which anonymised records train triage models.",
        {"voting_rule": "one_member_one_vote", "voting_period": 600, "quorum_bps": 2000},
    ),
    (
        "law-commons",
        "Law Commons",
        "law",
        "bob",
        "Legal aid workers curating case summaries for an open legal assistant.",
        {"voting_rule": "stake_weighted", "voting_period": 3600},
    ),
    (
        "creative-media",
        "Creative Media Guild",
        "creative_media",
        "carol",
        "Artists who license their work to models on their own terms.",
        {"voting_rule": "quadratic", "voting_period": 3600, "membership_policy": "approval"},
    ),
]


def _person(name: str) -> User:
    return User.objects.get_or_create(address=demo_account(name).address, defaults={"display_name": name.title()})[0]


def _sign_ballot(name: str, proposal: Proposal, choice: str, reason: str) -> None:
    account = demo_account(name)
    message = {
        "voter": account.address,
        "idao": proposal.idao.slug,
        "proposal": proposal.pk,
        "choice": choice,
        "reason": reason,
        "timestamp": int(time.time()),
    }
    signed = account.sign_message(encode_typed_data(full_message=eip712.typed_data(message)))
    ballots.ballot_cast(
        proposal_id=proposal.pk,
        message=message,
        signature="0x" + signed.signature.hex().removeprefix("0x"),
        user=_person(name),
    )


def _delegation_demo(people: dict[str, User]) -> None:
    """Bob publishes a statement and Dave delegates healthcare to him (once)."""
    if not DelegateStatement.objects.filter(user=people["bob"]).exists():
        delegations.delegate_statement_set(
            user=people["bob"], text="Radiographer. I read each dataset's consent record before I vote."
        )
    dave = demo_account("dave")
    if Delegation.objects.filter(delegator=dave.address).exists():
        return
    message = {
        "delegator": dave.address,
        "scope": "domain:healthcare",
        "shares": [{"delegate": people["bob"].address, "bps": 10000}],
        "expiry": int(time.time()) + settings.IDAOS_DELEGATION_DEFAULT_DAYS * 86400,
        "nonce": delegations.delegation_nonce(delegator=dave.address),
    }
    signed = dave.sign_message(encode_typed_data(full_message=eip712.delegation_typed_data(message)))
    delegations.delegation_create(message=message, signature="0x" + signed.signature.hex().removeprefix("0x"))


def load(stdout) -> None:
    people = {name: _person(name) for name in DEMO_NAMES}
    for name, person in people.items():
        ledger_services.mint(
            to=owners.user(person.address),
            asset="LAZ",
            amount=1_000 * (1 + list(DEMO_NAMES).index(name)),
            idempotency_key=f"demo:laz:{person.address}",
            memo="demo allocation",
        )
    for slug, title, domain, founder, description, charter in IDAOS:
        if IDAO.objects.filter(slug=slug).exists():
            continue
        idao = idao_create(
            creator=people[founder],
            slug=slug,
            name=title,
            domain=domain,
            description=description,
            charter={"voting_delay": 0, **charter},
        )
        for name, person in people.items():
            if name != founder:
                membership_services.membership_join(idao=idao, user=person, now=timezone.now())
    _delegation_demo(people)
    health = IDAO.objects.get(slug="open-health")
    if not Proposal.objects.filter(idao=health).exists():
        proposal = proposals.proposal_create(
            idao=health,
            author=people["alice"],
            kind="signal",
            title="Prefer de-identified records over synthetic ones for the next training run",
            description="A signal vote: no action runs, but the result is anchored on the ledger.",
        )
        proposals.proposal_activate(proposal_id=proposal.pk)
        proposal.refresh_from_db()
        if proposal.state == ProposalState.ACTIVE:
            _sign_ballot("bob", proposal, "for", "Real records generalise better.")
            _sign_ballot("carol", proposal, "against", "Synthetic data first, until consent tooling is ready.")
    proposal_renew()
    stdout.write(f"demo iDAOs: {', '.join(slug for slug, *_ in IDAOS)}")


def proposal_renew() -> Proposal | None:
    """Keep one proposal open in the demo iDAO: when none is voting or about to, open a new signal
    proposal (beat runs this while the demo is on). The iDAO row lock makes two runs open one."""
    with transaction.atomic():
        health = IDAO.objects.select_for_update().filter(slug="open-health").first()
        if health is None:
            return None
        if Proposal.objects.filter(idao=health, state__in=[ProposalState.ACTIVE, ProposalState.PENDING]).exists():
            return None
        number = Proposal.objects.filter(idao=health).count() + 1
        proposal = proposals.proposal_create(
            idao=health,
            author=_person("alice"),
            kind="signal",
            title=f"Demo signal {number}: keep preferring de-identified records for the next run",
            description="The demo keeps one vote open: a new signal proposal opens when the last one closes.",
        )
    proposals.proposal_activate(proposal_id=proposal.pk)
    proposal.refresh_from_db()
    return proposal
