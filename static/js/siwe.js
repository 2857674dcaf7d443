// Sign-In with Ethereum (EIP-4361): connect, fetch a nonce, build the message, personal_sign,
// post it, reload signed in. Bound to every [data-siwe-signin] and [data-siwe-signout] button.
import { WalletError, connect, postJson, request, showStatus } from "./wallet.js";

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
  const allowed = (document.body.dataset.chainIds || "1").split(",").map(Number);
  button.disabled = true;
  showStatus(status, "Waiting for your wallet…", "info");
  try {
    const { provider, address, chainId } = await connect();
    if (!allowed.includes(chainId)) {
      throw new WalletError(`Your wallet is on chain ${chainId}; switch to one of: ${allowed.join(", ")}.`);
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
    showStatus(status, `Signed in as ${result.data.address}.`, "ok");
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
