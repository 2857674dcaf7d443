// Verify a DAT's provenance bundle in the browser, independently of the server: every ledger
// proof (leaf hash, Merkle path, root, block header hashes, header chain), every anchored record
// (mint, accepted validation round with the same SHA-256, later events replayed into the stated
// owner/policy/parents), the ancestors' presence, and the latest header against the ledger's
// published chain. Nothing here trusts the server's own verdict.
import { anchorProblem, anchorSentence, canon, proofProblem } from "./ledger-verify.js";

class Invalid extends Error {}
const fail = (text) => { throw new Invalid(text); };

function checkLedgerProof(p, what) {
  const problem = proofProblem(p) || anchorProblem(p);
  if (problem) fail(`${what}: ${problem}`);
  return JSON.parse(p.leaf.payload);
}

export function verifyDatBundle(bundle) {
  if (bundle.format !== "idao-dat-provenance/1") fail("unknown bundle format");
  const graph = new Map();
  const heads = new Set();
  let proofs = 0;
  for (const entry of bundle.dats) {
    const id = entry.tokenId;
    if (entry.mint.leaf.kind !== "dat.mint" || entry.mint.leaf.subject !== `dat:${id}`) fail(`DAT #${id}: the mint proof is for another record`);
    const mint = checkLedgerProof(entry.mint, `DAT #${id} mint`);
    if (mint.tokenId !== id) fail(`DAT #${id}: the mint record names another token`);
    const round = checkLedgerProof(entry.round, `DAT #${id} round`);
    if (entry.round.leaf.kind !== "validation_round" || entry.round.leaf.subject !== `round:${mint.round}`) fail(`DAT #${id}: the round proof is for another record`);
    if (entry.round.leaf.id !== mint.roundAnchorLeafId) fail(`DAT #${id}: the round proof is not the round the mint names`);
    if (round.outcome !== "accepted") fail(`DAT #${id}: its validation round was not accepted`);
    if (round.content_hash !== mint.sha256) fail(`DAT #${id}: the round validated other content`);
    let owner = mint.owner;
    let policy = mint.policy;
    let parents = [...mint.parents];
    entry.events.forEach((p, i) => {
      const seq = i + 1;
      if (p.leaf.kind !== "dat.event" || p.leaf.subject !== `dat:${id}:${seq}`) fail(`DAT #${id}: event ${seq} is for another record`);
      const event = checkLedgerProof(p, `DAT #${id} event ${seq}`);
      if (event.kind === "policy") policy = event.policy;
      else if (event.kind === "transfer") {
        if (event.from !== owner) fail(`DAT #${id}: event ${seq} transfers from a non-owner`);
        owner = event.to;
      } else if (event.kind === "parents") parents = [...event.parents];
      else fail(`DAT #${id}: unknown event ${event.kind}`);
    });
    parents.sort((a, b) => a - b);
    if (canon(entry.current) !== canon({ owner, policy, parents })) fail(`DAT #${id}: the stated owner, policy or parents differ from the anchored history`);
    for (const p of [entry.mint, entry.round, ...entry.events]) heads.add(canon(p.headers[p.headers.length - 1]));
    proofs += 2 + entry.events.length;
    graph.set(id, { parents, mint });
  }
  for (const [id, node] of graph) for (const parent of node.parents) if (!graph.has(parent)) fail(`DAT #${id}: parent #${parent} is missing from the bundle`);
  if (heads.size !== 1) fail("the proofs do not end at the same latest block");
  const focus = graph.get(bundle.tokenId);
  if (!focus || bundle.dats[0].tokenId !== bundle.tokenId) fail("the bundle is not about this DAT");
  return { proofs, dats: graph.size, head: JSON.parse([...heads][0]), focus: focus.mint };
}

async function verifyOnPage(button) {
  const section = button.closest("[data-testid=verify]") || document;
  const out = section.querySelector("[data-verify-result]");
  const list = section.querySelector("[data-verify-checks]");
  const say = (text, ok) => { out.textContent = text; out.className = ok ? "badge ok" : "badge bad"; out.dataset.state = ok ? "pass" : "fail"; };
  button.disabled = true;
  list.replaceChildren();
  try {
    const response = await fetch(button.dataset.bundleUrl, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
    const result = verifyDatBundle(body);
    const shown = document.querySelector("[data-testid=sha256]");
    if (shown && shown.textContent.trim() !== result.focus.sha256) fail("the SHA-256 on this page differs from the anchored one");
    const published = await fetch(`${button.dataset.headersUrl}?after=${result.head.height - 1}&limit=1`).then((r) => r.json());
    const live = (published.headers || [])[0];
    if (!live || live.blockHash !== result.head.blockHash) fail(`block ${result.head.height} differs from the ledger's published header`);
    const checks = [
      `${result.proofs} ledger proofs: each record hashes to its leaf, each Merkle path leads to its block's root, and every block header hashes correctly and links to the one before.`,
      `Mint record of DAT #${button.dataset.verifyDat}: SHA-256 ${result.focus.sha256} matches this page, and its validation round ${result.focus.round} is anchored as accepted for that same content.`,
      "The owner, policy and parents shown follow from the anchored changes.",
      `${result.dats - 1} ancestor(s) included, each with its own mint and accepted round.`,
      `The latest block (${result.head.height}, ${result.head.blockHash.slice(0, 12)}…) matches the ledger's published header chain.`,
    ];
    const mint = body.dats[0].mint;
    if (mint.chainAnchor) {
      const sentence = await anchorSentence(mint, button.dataset.publicRpc || "");
      if (sentence.startsWith("Chain anchor does not") || sentence.startsWith("Invalid")) fail(sentence.replace(/\.$/, ""));
      checks.push(`Mint record's block: ${sentence.replace(/^Also a/, "A")}`);
    }
    for (const text of checks) list.append(Object.assign(document.createElement("li"), { textContent: text }));
    say("Verified in your browser: the proof bundle checks out against the ledger headers.", true);
  } catch (err) {
    say(err instanceof Invalid ? `Verification failed: ${err.message}.` : `Could not verify: ${err.message}`, false);
  } finally {
    button.disabled = false;
  }
}

for (const button of document.querySelectorAll("[data-verify-dat]")) {
  button.addEventListener("click", () => verifyOnPage(button));
}
