"""Many wallets and chains in headless Chromium: EIP-6963 discovery with a choice between
injected wallets, switching the wallet's chain before a ballot is signed (and explaining a
refusal), and a contract wallet that signs in and votes, verified through ERC-1271 on a real EVM
(py-evm behind JSON-RPC, tests/chain) that the live server reaches through PORTAL_CHAIN_RPC."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from idaos.models import Ballot
from idaos.services import membership
from portal.models import User
from tests.chain.wallets import *  # noqa: F403
from tests.chain.wallets import CHAIN_ID
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB, MALLORY, Persona

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each injected wallet forwards every request to Python (window.__walletRequest), which keeps its
# chain across page loads, records what the page asked, signs with the owner's key and reports
# the wallet's own address (for a contract wallet: the wallet, not the owner).
PROVIDERS_JS = """
(() => {
  for (const info of %(infos)s) {
    const provider = {
      async request({ method, params }) {
        const answer = JSON.parse(await window.__walletRequest(info.uuid, method, JSON.stringify(params || [])));
        if (answer.error) throw answer.error;
        return answer.result;
      },
      on() {},
      removeListener() {},
    };
    const detail = Object.freeze({ info: Object.freeze(info), provider });
    const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail }));
    window.addEventListener("eip6963:requestProvider", announce);
    announce();
  }
})();
"""


@dataclass
class FakeWallet:
    name: str
    uuid: str
    address: str
    signer: Persona
    chain_id: int = 1
    switch: str = "accept"  # accept | refuse
    requests: list = field(default_factory=list)

    def methods(self) -> list[str]:
        return [m for m, _ in self.requests]

    def answer(self, method: str, params: list) -> dict:
        self.requests.append((method, params))
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [self.address.lower()]}
        if method == "eth_chainId":
            return {"result": hex(self.chain_id)}
        if method == "wallet_switchEthereumChain":
            if self.switch == "refuse":
                return {"error": {"code": 4001, "message": "User rejected the request."}}
            self.chain_id = int(params[0]["chainId"], 16)
            return {"result": None}
        if method == "personal_sign":
            data = params[0]
            text = bytes.fromhex(data[2:]).decode() if data.startswith("0x") else data
            return {"result": self.signer.sign_text(text)}
        if method == "eth_signTypedData_v4":
            typed = params[1]
            typed = json.loads(typed) if isinstance(typed, str) else typed
            if int(typed["domain"]["chainId"]) != self.chain_id:  # as MetaMask refuses
                return {"error": {"code": -32602, "message": "chainId does not match the active chain"}}
            return {"result": self.signer.sign_typed(typed)}
        return {"error": {"code": 4200, "message": f"Unsupported method {method}"}}


def inject(page, *wallets: FakeWallet) -> None:
    by_uuid = {w.uuid: w for w in wallets}

    def handle(uuid: str, method: str, params_json: str) -> str:
        return json.dumps(by_uuid[uuid].answer(method, json.loads(params_json)))

    page.expose_function("__walletRequest", handle)
    infos = [
        {"uuid": w.uuid, "name": w.name, "icon": "data:image/svg+xml,%3Csvg/%3E", "rdns": f"org.example.{w.uuid}"}
        for w in wallets
    ]
    page.add_init_script(PROVIDERS_JS % {"infos": json.dumps(infos)})


def sign_in(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in with Ethereum").click()


def test_two_injected_wallets_are_offered_and_the_chosen_one_signs_in_and_votes(live_server, page):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    alpha = FakeWallet("Alpha Wallet", "alpha", MALLORY.address, MALLORY)
    beta = FakeWallet("Beta Wallet", "beta", BOB.address, BOB)
    inject(page, alpha, beta)
    sign_in(page, f"{live_server.url}/proposals/{proposal.pk}")
    picker = page.locator("[data-wallet-picker]")
    picker.wait_for()
    assert "2 wallets" in picker.inner_text()
    assert picker.get_by_role("button", name="Alpha Wallet").is_visible()
    picker.get_by_role("button", name="Beta Wallet").click()
    page.get_by_test_id("signed-in-address").wait_for()
    assert page.get_by_test_id("signed-in-address").get_attribute("title") == BOB.address
    page.get_by_role("button", name="For", exact=True).click()
    page.locator("[data-vote-status]").filter(has_text="is counted").wait_for()
    assert page.locator("[data-wallet-picker]").count() == 0  # the chosen wallet is remembered
    assert alpha.requests == []
    assert beta.methods().count("eth_signTypedData_v4") == 1
    assert Ballot.objects.get(proposal=proposal).voter == BOB.address


def test_wallet_on_another_chain_is_asked_to_switch_before_signing_the_ballot(live_server, page, settings):
    settings.PORTAL_CHAIN_ID = 1
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    sepolia = FakeWallet("Test Wallet", "switcher", BOB.address, BOB, chain_id=11155111)
    inject(page, sepolia)
    sign_in(page, f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_test_id("signed-in-address").wait_for()
    assert "Ethereum" in page.get_by_test_id("voting-chain").inner_text()
    page.get_by_role("button", name="For", exact=True).click()
    page.locator("[data-vote-status]").filter(has_text="is counted").wait_for()
    methods = sepolia.methods()
    assert methods.index("wallet_switchEthereumChain") < methods.index("eth_signTypedData_v4")
    switch = next(p for m, p in sepolia.requests if m == "wallet_switchEthereumChain")
    assert switch == [{"chainId": "0x1"}]
    ballot = Ballot.objects.get(proposal=proposal)
    assert (ballot.voter, ballot.counted, ballot.verified_by) == (BOB.address, True, "eoa")


def test_wallet_that_refuses_to_switch_is_told_what_happened_and_nothing_is_signed(live_server, page, settings):
    settings.PORTAL_CHAIN_ID = 1
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    stubborn = FakeWallet("Test Wallet", "stubborn", BOB.address, BOB, chain_id=11155111, switch="refuse")
    inject(page, stubborn)
    sign_in(page, f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_test_id("signed-in-address").wait_for()
    page.get_by_role("button", name="For", exact=True).click()
    status = page.locator("[data-vote-status]")
    status.filter(has_text="declined to switch").wait_for()
    text = status.inner_text()
    assert "Sepolia" in text and "Ethereum" in text and "nothing was signed" in text
    assert "chain 1" not in text and "11155111" not in text  # names, not numbers
    assert "eth_signTypedData_v4" not in stubborn.methods()
    assert not Ballot.objects.filter(proposal=proposal).exists()
    assert page.get_by_role("button", name="For", exact=True).is_enabled()


def test_wallet_on_a_chain_the_portal_does_not_sign_in_on_is_switched_to_the_voting_chain(live_server, page, settings):
    settings.PORTAL_CHAIN_ID = 1
    bsc = FakeWallet("Test Wallet", "bsc", ALICE.address, ALICE, chain_id=56)
    inject(page, bsc)
    sign_in(page, live_server.url + "/")
    page.get_by_test_id("signed-in-address").wait_for()
    assert ("wallet_switchEthereumChain", [{"chainId": "0x1"}]) in bsc.requests
    assert User.objects.filter(address=ALICE.address).exists()


def test_contract_wallet_signs_in_and_votes_verified_by_erc1271_on_the_evm(
    live_server, page, settings, chain_rpc, wallets
):
    settings.PORTAL_CHAIN_ID = CHAIN_ID
    wallet = wallets.owned(ALICE)
    idao = make_idao(members=[BOB])
    membership.membership_join(
        idao=idao,
        user=User.objects.get_or_create(address=wallet)[0],
        now=timezone.now() - timezone.timedelta(seconds=5),
    )
    proposal = make_proposal(idao)
    safe = FakeWallet("Safe", "safe", wallet, ALICE, chain_id=CHAIN_ID)
    inject(page, safe)
    sign_in(page, f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_test_id("signed-in-address").wait_for()
    assert page.get_by_test_id("signed-in-address").get_attribute("title") == wallet
    assert "Local test EVM" in page.get_by_test_id("voting-chain").inner_text()
    page.get_by_role("button", name="Against", exact=True).click()
    page.locator("[data-vote-status]").filter(has_text="is counted").wait_for()
    ballot = Ballot.objects.get(proposal=proposal)
    assert (ballot.voter, ballot.choice, ballot.verified_by, ballot.verified_chain_id) == (
        wallet,
        "against",
        "erc1271",
        CHAIN_ID,
    )
    assert chain_rpc.calls.get("eth_call", 0) >= 2  # the sign-in and the ballot, both on chain
    page.goto(f"{live_server.url}/ballots/{ballot.pk}")
    assert "erc1271" in page.get_by_test_id("ballot-verified").inner_text()
    assert page.errors == []
