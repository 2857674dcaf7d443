"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, with a test EIP-1193
wallet injected into every page: it announces itself over EIP-6963 and signs with a persona's key."""

from __future__ import annotations

import json
import os

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

PROVIDER_JS = """
(() => {
  const config = %(config)s;
  const provider = {
    isTestWallet: true,
    async request({ method, params }) {
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [config.address.toLowerCase()];  // wallets often answer lowercase
        case "eth_chainId":
          return "0x" + config.chainId.toString(16);
        case "personal_sign":
        case "eth_signTypedData_v4": {
          const result = await window.__testWalletSign(method, JSON.stringify(params || []));
          if (result === "REJECT") throw { code: 4001, message: "User rejected the request." };
          return result;
        }
        default:
          throw { code: 4200, message: "Unsupported method " + method };
      }
    },
    on() {},
    removeListener() {},
  };
  const info = { uuid: "0b7c5b0e-test-wallet", name: "Test Wallet", icon: "data:image/svg+xml,%%3Csvg/%%3E", rdns: "org.example.testwallet" };
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def wallet():
    """wallet(page, persona, reject=False, chain_id=1): inject a test wallet that signs as persona.
    Returns a list that records every signing request the page made."""

    def install(page, who, *, reject: bool = False, chain_id: int = 1) -> list:
        requests: list = []

        def sign(method: str, params_json: str) -> str:
            params = json.loads(params_json)
            requests.append((method, params))
            if reject:
                return "REJECT"
            if method == "personal_sign":
                data = params[0]
                text = bytes.fromhex(data[2:]).decode() if data.startswith("0x") else data
                return who.sign_text(text)
            typed = params[1]
            return who.sign_typed(json.loads(typed) if isinstance(typed, str) else typed)

        page.expose_function("__testWalletSign", sign)
        page.add_init_script(PROVIDER_JS % {"config": json.dumps({"address": who.address, "chainId": chain_id})})
        return requests

    return install
