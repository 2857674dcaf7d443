// Wallet discovery (EIP-6963, falling back to window.ethereum) and small helpers shared by the
// sign-in and signing modules.
import { toChecksumAddress } from "./keccak.js";

export class WalletError extends Error {}

export function discoverWallets(waitMs = 300) {
  return new Promise((resolve) => {
    const found = new Map();
    const onAnnounce = (event) => {
      const detail = event.detail;
      if (detail && detail.info && detail.provider) found.set(detail.info.uuid || detail.info.rdns, detail);
    };
    window.addEventListener("eip6963:announceProvider", onAnnounce);
    window.dispatchEvent(new Event("eip6963:requestProvider"));
    setTimeout(() => {
      window.removeEventListener("eip6963:announceProvider", onAnnounce);
      const wallets = [...found.values()];
      if (!wallets.length && window.ethereum) {
        wallets.push({ info: { name: "Browser wallet", rdns: "injected" }, provider: window.ethereum });
      }
      resolve(wallets);
    }, waitMs);
  });
}

export async function connect() {
  const wallets = await discoverWallets();
  if (!wallets.length) {
    throw new WalletError("No Ethereum wallet found. Install a browser wallet (for example MetaMask), then reload this page.");
  }
  const provider = wallets[0].provider;
  const accounts = await request(provider, { method: "eth_requestAccounts" });
  if (!accounts || !accounts.length) throw new WalletError("Your wallet did not share an account.");
  const chainHex = await request(provider, { method: "eth_chainId" });
  return { provider, address: toChecksumAddress(accounts[0]), chainId: parseInt(chainHex, 16) };
}

export async function request(provider, args) {
  try {
    return await provider.request(args);
  } catch (err) {
    if (err && (err.code === 4001 || err.code === "ACTION_REJECTED")) {
      throw new WalletError("You rejected the request in your wallet. Nothing was signed.");
    }
    throw new WalletError(`Your wallet reported an error: ${(err && err.message) || err}`);
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = { error: "bad_response", detail: `The server answered ${response.status}.` };
  }
  return { ok: response.ok, status: response.status, data };
}

export function showStatus(el, text, kind = "error") {
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}
