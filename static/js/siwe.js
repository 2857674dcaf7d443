// Sign-In with Ethereum (EIP-4361): connect, fetch a nonce, build the message, personal_sign,
// post it, reload signed in. Bound to every [data-siwe-signin] and [data-siwe-signout] button.
import { chainName } from "./chains.js";
import { WalletError, connect, ensureChain, postJson, request, showStatus } from "./wallet.js";

const STATEMENT = "Sign in to the iDAO Portal.";

function toHex(text) {
  return "0x" + [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function buildMessage({ domain, address, uri, chainId, nonce, issuedAt, expirationTime }) {
  return [
    `${domain} wants you to sign in with your Ethereum account:`,
    address,
    "",
    STATEMENT,
    "",
    `URI: ${uri}`,
    "Version: 1",
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${issuedAt}`,
    `Expiration Time: ${expirationTime}`,
  ].join("\n");
}

async function signIn(button) {
  const status = document.querySelector("[data-siwe-status]");
  const votingChain = Number(document.body.dataset.chainId || "1");
  const allowed = (document.body.dataset.chainIds || String(votingChain)).split(",").filter(Boolean).map(Number);
  // Ballots and verdicts are signed on the portal's chain: prefer it when the wallet must switch.
  const preferred = allowed.includes(votingChain) ? votingChain : allowed[0];
  button.disabled = true;
  showStatus(status, "Waiting for your wallet…", "info");
  try {
    const { provider, address, chainId: walletChain } = await connect({ anchor: status });
    let chainId = walletChain;
    if (!allowed.includes(chainId)) {
      // A chain the portal does not sign in on: offer the voting chain, so nothing contradicts later.
      showStatus(status, `Your wallet is on ${chainName(chainId)}; asking it to switch to ${chainName(preferred)}…`, "info");
      try {
        chainId = await ensureChain(provider, preferred, "Sign-ins");
      } catch (err) {
        throw new WalletError(
          `Your wallet is on ${chainName(chainId)}, which this portal does not sign in on, and it did not switch to ` +
            `${chainName(preferred)}; switch to one of: ${allowed.map(chainName).join(", ")}.`,
        );
      }
    }
    const nonceResponse = await fetch("/auth/siwe/nonce", { credentials: "same-origin" });
    const nonceBody = await nonceResponse.json();
    if (!nonceResponse.ok) throw new WalletError(nonceBody.detail || "Could not get a sign-in nonce.");
    const now = new Date();
    const message = buildMessage({
      domain: window.location.host,
      address,
      uri: window.location.origin,
      chainId,
      nonce: nonceBody.nonce,
      issuedAt: now.toISOString(),
      expirationTime: new Date(now.getTime() + 10 * 60 * 1000).toISOString(),
    });
    showStatus(status, "Sign the message in your wallet…", "info");
    const signature = await request(provider, { method: "personal_sign", params: [toHex(message), address] });
    const result = await postJson("/auth/siwe/verify", { message, signature });
    if (!result.ok) throw new WalletError(`Sign-in refused: ${result.data.detail || result.data.error}`);
    const note =
      chainId === votingChain
        ? ""
        : ` You signed in on ${chainName(chainId)}; ballots and verdicts are signed on ${chainName(votingChain)}, and your wallet will be asked to switch when you sign one.`;
    if (note) sessionStorage.setItem("idao.signin-note", note.trim());
    showStatus(status, `Signed in as ${result.data.address}.${note}`, "ok");
    const next = button.dataset.next;
    if (next) window.location.assign(next);
    else window.location.reload();
  } catch (err) {
    showStatus(status, err instanceof WalletError ? err.message : `Sign-in failed: ${err.message || err}`);
    button.disabled = false;
  }
}

async function signOut(event) {
  event.preventDefault();
  await postJson("/auth/logout", {});
  window.location.assign("/");
}

for (const button of document.querySelectorAll("[data-siwe-signin]")) {
  button.addEventListener("click", () => signIn(button));
}
for (const form of document.querySelectorAll("[data-siwe-signout]")) {
  form.addEventListener("submit", signOut);
}
