// Signed delegation: build the EIP-712 Delegation (or Revocation) from /governance/eip712.json, ask
// the wallet for eth_signTypedData_v4, post it to the API and say in plain words what happened.
import { chainName } from "./chains.js";
import { WalletError, connect, ensureChain, postJson, request, showStatus } from "./wallet.js";

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

async function getJson(url, what) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new WalletError(`Could not load ${what} from the server (${response.status}).`);
  return response.json();
}

// The wallet must be the signed-in account, on the chain the portal counts signatures on.
async function wallet(el, status, chainId, purpose) {
  const { provider, address, chainId: current } = await connect({ anchor: status });
  if (address.toLowerCase() !== el.dataset.delegator.toLowerCase()) {
    throw new WalletError(`Your wallet is on ${address}, but you are signed in as ${el.dataset.delegator}. Switch accounts.`);
  }
  if (current !== chainId) {
    showStatus(status, `Your wallet is on ${chainName(current)}; asking it to switch to ${chainName(chainId)}…`, "info");
    await ensureChain(provider, chainId, purpose);
  }
  return provider;
}

async function sign(provider, signer, spec, part, message) {
  const typedData = { types: spec[part].types, primaryType: spec[part].primaryType, domain: spec.domain, message };
  return request(provider, { method: "eth_signTypedData_v4", params: [signer, JSON.stringify(typedData)] });
}

function refused(result, what) {
  const detail = result.data.detail || result.data.error || `the server answered ${result.status}`;
  return new WalletError(`${what} refused: ${detail}`);
}

// The shares of the new message: this delegate's share, beside the other delegates of a live
// delegation in the same scope (a split) unless "replace" is ticked.
async function sharesFor(form, delegator, scope, delegate, bps, replace) {
  const shares = [{ delegate, bps }];
  if (replace) return shares;
  const mine = await getJson(form.dataset.byUrl + delegator, "your delegations");
  const live = (mine.items || []).find((d) => d.live && d.scope === scope);
  if (!live) return shares;
  const others = live.shares.filter((s) => s.delegate.toLowerCase() !== delegate.toLowerCase());
  const kept = others.reduce((sum, s) => sum + s.bps, 0);
  if (kept + bps > 10000) {
    throw new WalletError(
      `Your other delegates in ${scope} already hold ${kept / 100}% of your power, so at most ${(10000 - kept) / 100}% is left. ` +
        "Lower the share, or tick “Replace my other delegates”. Nothing was signed.",
    );
  }
  return [...others.map((s) => ({ delegate: s.delegate, bps: s.bps })), ...shares];
}

async function delegate(form) {
  const status = form.querySelector("[data-delegate-status]");
  const button = form.querySelector("button[type=submit]");
  const data = new FormData(form);
  const delegateTo = String(data.get("delegate") || "").trim();
  const scope = String(data.get("scope") || "");
  const bps = Math.round(Number(data.get("share")) * 100);
  const days = Math.floor(Number(data.get("days")));
  if (!ADDRESS.test(delegateTo)) return showStatus(status, "The delegate is an Ethereum address: 0x and 40 hexadecimal digits.");
  if (delegateTo.toLowerCase() === form.dataset.delegator.toLowerCase()) return showStatus(status, "You cannot delegate to yourself.");
  if (!(bps >= 1 && bps <= 10000)) return showStatus(status, "The share is a percentage between 0.01 and 100.");
  button.disabled = true;
  showStatus(status, "Waiting for your wallet…", "info");
  try {
    const published = await getJson(form.dataset.eip712, "the delegation format");
    const spec = published.delegation;
    if (!(days >= 1 && days <= spec.max_days)) throw new WalletError(`A delegation lasts 1 to ${spec.max_days} days.`);
    const provider = await wallet(form, status, spec.domain.chainId, "Delegations");
    const delegator = form.dataset.delegator;
    const shares = await sharesFor(form, delegator, scope, delegateTo, bps, data.get("replace") === "on");
    const { nonce } = await getJson(form.dataset.nonceUrl + delegator, "your delegation nonce");
    const message = { delegator, scope, shares, expiry: Math.floor(Date.now() / 1000) + days * 86400, nonce };
    showStatus(status, "Sign the delegation in your wallet…", "info");
    const signature = await sign(provider, delegator, spec, "delegation", message);
    const result = await postJson(form.dataset.endpoint, { message, signature });
    if (!result.ok) throw refused(result, "Delegation");
    const until = new Date(result.data.expires_at).toISOString().slice(0, 10);
    showStatus(status, `Delegated: ${bps / 100}% of your vote in ${scope} until ${until}. It counts from the next vote that opens.`, "ok");
    form.dispatchEvent(new CustomEvent("delegated", { bubbles: true, detail: result.data }));
  } catch (err) {
    showStatus(status, err instanceof WalletError ? err.message : `Delegating failed: ${err.message || err}`);
  } finally {
    button.disabled = false;
  }
}

async function revoke(box, button) {
  const status = box.querySelector("[data-delegate-status]");
  const scope = button.dataset.revokeScope;
  button.disabled = true;
  showStatus(status, "Waiting for your wallet…", "info");
  try {
    const spec = (await getJson(box.dataset.eip712, "the revocation format")).delegation;
    const provider = await wallet(box, status, spec.domain.chainId, "Revocations");
    const delegator = box.dataset.delegator;
    const { nonce } = await getJson(box.dataset.nonceUrl + delegator, "your delegation nonce");
    const message = { delegator, scope, nonce };
    showStatus(status, "Sign the revocation in your wallet…", "info");
    const signature = await sign(provider, delegator, spec, "revocation", message);
    const result = await postJson(box.dataset.endpoint, { message, signature });
    if (!result.ok) throw refused(result, "Revocation");
    showStatus(status, `Revoked: your delegation in ${scope} has ended. Votes that open from now on count your power as your own.`, "ok");
    button.remove();
  } catch (err) {
    showStatus(status, err instanceof WalletError ? err.message : `Revoking failed: ${err.message || err}`);
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form[data-delegate]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    delegate(form);
  });
}

for (const box of document.querySelectorAll("[data-revoke-box]")) {
  for (const button of box.querySelectorAll("[data-revoke-scope]")) {
    button.addEventListener("click", () => revoke(box, button));
  }
}
