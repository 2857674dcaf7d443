// Sign a validation verdict as EIP-712 typed data (eth_signTypedData_v4) and submit it.
// The domain and types come from /quorums/eip712.json, so the page and server never disagree.
import { chainName } from "./chains.js";
import { WalletError, connect, ensureChain, postJson, request, showStatus } from "./wallet.js";

async function schema() {
  const response = await fetch("/quorums/eip712.json", { credentials: "same-origin" });
  if (!response.ok) throw new WalletError("Could not load the verdict schema.");
  return response.json();
}

async function submit(card, verdict) {
  const status = document.querySelector("[data-verdict-status]");
  const reason = (card.querySelector("[data-reason]")?.value || "").trim();
  if (verdict === "reject" && !reason) {
    showStatus(status, "Write a reason before rejecting.");
    return;
  }
  const buttons = card.querySelectorAll("[data-verdict]");
  buttons.forEach((b) => (b.disabled = true));
  try {
    const { provider, address, chainId } = await connect({ anchor: status });
    if (address.toLowerCase() !== card.dataset.validator.toLowerCase()) {
      throw new WalletError(`Your wallet is ${address}; this seat belongs to ${card.dataset.validator}.`);
    }
    // A person signs version 1 (a Verdict without scores); nodes sign ScoredVerdicts.
    const spec = await schema();
    const { domain } = spec;
    const { types, primaryType } = (spec.versions || []).find((v) => v.version === 1) || spec;
    if (chainId !== domain.chainId) {
      showStatus(status, `Your wallet is on ${chainName(chainId)}; asking it to switch to ${chainName(domain.chainId)}…`, "info");
      await ensureChain(provider, domain.chainId, "Verdicts");
    }
    const message = {
      validator: card.dataset.validator,
      round: Number(card.dataset.round),
      contentHash: card.dataset.contentHash,
      verdict,
      reason,
    };
    const typed = { types, primaryType, domain, message };
    showStatus(status, "Sign the verdict in your wallet…", "info");
    const signature = await request(provider, { method: "eth_signTypedData_v4", params: [address, JSON.stringify(typed)] });
    const result = await postJson(`/api/v1/rounds/${card.dataset.round}/verdicts`, { message, signature });
    if (!result.ok) throw new WalletError(result.data.detail || result.data.error);
    window.location.assign(`/rounds/${card.dataset.round}/`);
  } catch (err) {
    showStatus(status, err instanceof WalletError ? err.message : `Could not submit: ${err.message || err}`);
    buttons.forEach((b) => (b.disabled = false));
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-verdict]");
  if (!button) return;
  submit(button.closest("[data-round]"), button.dataset.verdict);
});
