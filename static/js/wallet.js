// Wallet discovery (EIP-6963, falling back to window.ethereum), choosing among several wallets,
// switching the wallet's chain (wallet_switchEthereumChain) and small helpers shared by the
// sign-in and signing modules.
import { chainName } from "./chains.js";
import { toChecksumAddress } from "./keccak.js";

export class WalletError extends Error {}

const CHOICE_KEY = "idao.wallet";

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
        wallets.push({ info: { name: "Browser wallet", rdns: "injected", uuid: "injected" }, provider: window.ethereum });
      }
      resolve(wallets);
    }, waitMs);
  });
}

function walletKey(wallet) {
  return wallet.info.uuid || wallet.info.rdns || wallet.info.name;
}

// Several wallets: ask which one (a list of buttons next to `anchor`), and remember the choice
// for this tab so the ballot is signed by the wallet that signed in.
function choose(wallets, anchor) {
  const remembered = sessionStorage.getItem(CHOICE_KEY);
  const known = wallets.find((w) => walletKey(w) === remembered);
  if (known) return Promise.resolve(known);
  return new Promise((resolve, reject) => {
    document.querySelector("[data-wallet-picker]")?.remove();
    const box = document.createElement("div");
    box.className = "wallet-picker";
    box.dataset.walletPicker = "";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Choose a wallet");
    const title = document.createElement("p");
    title.textContent = `${wallets.length} wallets are installed. Which one do you want to use?`;
    box.append(title);
    for (const w of wallets) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.dataset.walletChoice = walletKey(w);
      if (w.info.icon && /^data:image\//.test(w.info.icon)) {
        const icon = document.createElement("img");
        icon.src = w.info.icon;
        icon.alt = "";
        icon.width = 16;
        icon.height = 16;
        button.append(icon, " ");
      }
      button.append(w.info.name || w.info.rdns || "Wallet");
      button.addEventListener("click", () => {
        sessionStorage.setItem(CHOICE_KEY, walletKey(w));
        box.remove();
        resolve(w);
      });
      box.append(button);
    }
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button secondary";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => {
      box.remove();
      reject(new WalletError("No wallet chosen. Nothing was signed."));
    });
    box.append(cancel);
    (anchor && anchor.parentNode ? anchor.parentNode : document.body).insertBefore(box, anchor || null);
  });
}

export async function connect({ anchor } = {}) {
  const wallets = await discoverWallets();
  if (!wallets.length) {
    throw new WalletError("No Ethereum wallet found. Install a browser wallet (for example MetaMask), then reload this page.");
  }
  const chosen = wallets.length === 1 ? wallets[0] : await choose(wallets, anchor);
  const provider = chosen.provider;
  const accounts = await request(provider, { method: "eth_requestAccounts" });
  if (!accounts || !accounts.length) throw new WalletError("Your wallet did not share an account.");
  const chainHex = await request(provider, { method: "eth_chainId" });
  return { provider, address: toChecksumAddress(accounts[0]), chainId: parseInt(chainHex, 16), name: chosen.info.name };
}

// Make the wallet use `wanted` before it signs: ask it to switch, and say plainly what happened
// if it cannot or will not. Resolves to the chain id the wallet is on afterwards.
export async function ensureChain(provider, wanted, purpose) {
  const current = parseInt(await request(provider, { method: "eth_chainId" }), 16);
  if (current === wanted) return current;
  const target = chainName(wanted);
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x" + wanted.toString(16) }] });
  } catch (err) {
    const code = err && err.code;
    if (code === 4001 || code === "ACTION_REJECTED") {
      throw new WalletError(
        `Your wallet is on ${chainName(current)} and you declined to switch it to ${target}. ${purpose} are counted on ${target}, ` +
          `so nothing was signed. Switch your wallet to ${target} and try again.`,
      );
    }
    if (code === 4902) {
      throw new WalletError(
        `Your wallet is on ${chainName(current)} and does not know ${target}. Add ${target} to your wallet, switch to it ` +
          "and try again. Nothing was signed.",
      );
    }
    throw new WalletError(
      `Your wallet is on ${chainName(current)} and could not switch to ${target} (${(err && err.message) || err}). ` +
        `Switch it to ${target} yourself and try again. Nothing was signed.`,
    );
  }
  const now = parseInt(await request(provider, { method: "eth_chainId" }), 16);
  if (now !== wanted) {
    throw new WalletError(`Your wallet is still on ${chainName(now)}. Switch it to ${target} and try again. Nothing was signed.`);
  }
  return now;
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
