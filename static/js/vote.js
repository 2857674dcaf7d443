// Signed voting: build the EIP-712 Ballot (or, on a signal with options, the OptionBallot: type
// version 2 of /governance/eip712.json), sign it with eth_signTypedData_v4 in the wallet, post it,
// and ask htmx to refresh the tally and voter list (no reload). Also runs the countdown.
import { chainName } from "./chains.js";
import { WalletError, connect, ensureChain, postJson, request, showStatus } from "./wallet.js";

async function loadEip712(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new WalletError("Could not load the ballot format from the server.");
  return response.json();
}

// The options a signal's form picks, in ballot order: the ranking (most preferred first), the
// approved options or the one chosen. Throws a WalletError the voter can act on.
function pickedOptions(fieldset) {
  const method = fieldset.dataset.signalMethod;
  if (method === "ranked") {
    const ranked = [...fieldset.querySelectorAll("[data-rank]")]
      .filter((s) => s.value !== "")
      .map((s) => ({ option: Number(s.dataset.rank), rank: Number(s.value) }));
    const ranks = ranked.map((r) => r.rank);
    if (new Set(ranks).size !== ranks.length) throw new WalletError("Two options have the same rank: give each its own.");
    ranked.sort((a, b) => a.rank - b.rank);
    if (!ranked.length) throw new WalletError("Rank at least one option.");
    return ranked.map((r) => r.option);
  }
  const picked = [...fieldset.querySelectorAll("[data-option]")].filter((i) => i.checked).map((i) => Number(i.dataset.option));
  if (!picked.length) throw new WalletError(method === "approval" ? "Approve at least one option." : "Choose an option.");
  return picked;
}

async function castVote(box, choice, buttons) {
  const status = box.querySelector("[data-vote-status]");
  const reasonField = box.querySelector("[data-vote-reason]");
  buttons.forEach((b) => (b.disabled = true));
  showStatus(status, "Waiting for your wallet…", "info");
  try {
    if (choice instanceof HTMLFieldSetElement) choice = pickedOptions(choice);
    const spec = await loadEip712(box.dataset.eip712);
    const { provider, address, chainId } = await connect({ anchor: status });
    if (address.toLowerCase() !== box.dataset.voter.toLowerCase()) {
      throw new WalletError(`Your wallet is on ${address}, but you are signed in as ${box.dataset.voter}. Switch accounts.`);
    }
    if (chainId !== spec.domain.chainId) {
      showStatus(status, `Your wallet is on ${chainName(chainId)}; asking it to switch to ${chainName(spec.domain.chainId)}…`, "info");
      await ensureChain(provider, spec.domain.chainId, "Ballots");
    }
    const options = Array.isArray(choice) ? choice : null;
    const message = {
      voter: box.dataset.voter,
      idao: box.dataset.idao,
      proposal: Number(box.dataset.proposal),
      ...(options ? { options } : { choice }),
      reason: reasonField ? reasonField.value : "",
      timestamp: Math.floor(Date.now() / 1000),
    };
    const type = options ? spec.option_ballot : spec;
    const typedData = { types: type.types, primaryType: type.primaryType, domain: spec.domain, message };
    showStatus(status, "Sign the ballot in your wallet…", "info");
    const signature = await request(provider, {
      method: "eth_signTypedData_v4",
      params: [box.dataset.voter, JSON.stringify(typedData)],
    });
    const result = await postJson(box.dataset.endpoint, { message, signature });
    if (!result.ok) throw new WalletError(`Vote refused: ${result.data.detail || result.data.error}`);
    const ballot = result.data.ballot;
    const what = options ? "options" : choice;
    if (ballot.verified_by === "pending") {
      showStatus(
        status,
        `Your “${what}” ballot is pending: your wallet has to approve it on chain (${chainName(ballot.verified_chain_id)}) before voting closes. Receipt #${ballot.id}.`,
        "info",
      );
    } else {
      showStatus(status, `Your ${options ? "" : `“${choice}” `}vote is counted. Receipt #${ballot.id}.`, "ok");
    }
    document.body.dispatchEvent(new CustomEvent("ballot-cast", { bubbles: true, detail: result.data }));
  } catch (err) {
    showStatus(status, err instanceof WalletError ? err.message : `Voting failed: ${err.message || err}`);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

for (const el of document.querySelectorAll("[data-voting-chain]")) {
  el.textContent = chainName(document.body.dataset.chainId || "1");
}

for (const box of document.querySelectorAll("[data-vote]")) {
  const buttons = [...box.querySelectorAll("[data-choice], [data-options-submit]")];
  for (const button of buttons) {
    const fieldset = button.closest("[data-signal-method]");
    button.addEventListener("click", () => castVote(box, fieldset || button.dataset.choice, buttons));
  }
}

function tick() {
  for (const el of document.querySelectorAll("[data-countdown]")) {
    const left = Number(el.dataset.countdown) - Math.floor(Date.now() / 1000);
    if (left <= 0) {
      el.textContent = "voting has ended; the result appears once the proposal is closed";
      continue;
    }
    const d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
    const m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = `${d ? d + "d " : ""}${h}h ${String(m).padStart(2, "0")}m ${String(s).padStart(2, "0")}s left`;
  }
}
tick();
setInterval(tick, 1000);
