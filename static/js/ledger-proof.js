// Verify a ledger proof bundle in the browser, independently of the server's own check (the check
// itself lives in ledger-verify.js, shared with the DAT provenance check).
import { anchorProblem, anchorSentence, proofProblem } from "./ledger-verify.js";

// The name the proof page and its tests use.
export const verifyBundle = proofProblem;

for (const button of document.querySelectorAll("[data-verify-proof]")) {
  button.addEventListener("click", async () => {
    const out = button.parentElement.querySelector("[data-proof-result]");
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.verifyProof, { headers: { Accept: "application/json" } });
      const bundle = await response.json();
      const problem = proofProblem(bundle) || anchorProblem(bundle);
      const anchor = problem ? "" : await anchorSentence(bundle, button.dataset.publicRpc || "");
      out.textContent = problem
        ? `Invalid: ${problem}.`
        : `Verified in your browser: the record, proof, root and header chain all agree. ${anchor}`.trim();
      if (anchor.startsWith("Chain anchor does not")) out.className = "badge bad";
      else out.className = problem ? "badge bad" : "badge ok";
    } catch (err) {
      out.textContent = `Could not verify: ${err.message}`;
      out.className = "badge bad";
    } finally {
      button.disabled = false;
    }
  });
}
