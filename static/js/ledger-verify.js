// Byte helpers and the check of one ledger proof bundle, shared by the proof page
// (ledger-proof.js) and the DAT provenance check (verify.js):
// leaf = keccak256(keccak256(abi.encode(bytes32, uint256, bytes32))), sorted-pair hashing up to
// the root, then the block header hash and the chain of headers to the latest block.
import { keccak256 } from "./keccak.js";

const hexToBytes = (hex) => Uint8Array.from(hex.slice(2).match(/../g) || [], (b) => parseInt(b, 16));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
};
const word = (n) => hexToBytes("0x" + BigInt(n).toString(16).padStart(64, "0"));
const k = (bytes) => "0x" + keccak256(bytes);
const utf8 = (text) => new TextEncoder().encode(text);

const HASH = /^0x[0-9a-f]{64}$/;
const FORMAT = "idao-ledger-proof/1";

// JSON with sorted keys, as the server's canonical form, for comparing records.
export function canon(value) {
  if (Array.isArray(value)) return "[" + value.map(canon).join(",") + "]";
  if (value && typeof value === "object") {
    return "{" + Object.keys(value).sort().map((key) => JSON.stringify(key) + ":" + canon(value[key])).join(",") + "}";
  }
  return JSON.stringify(value);
}

function hashPair(a, b) {
  return a <= b ? k(concat(hexToBytes(a), hexToBytes(b))) : k(concat(hexToBytes(b), hexToBytes(a)));
}

function headerHash(h) {
  return k(concat(word(h.height), hexToBytes(h.prevHash), hexToBytes(h.merkleRoot), word(h.leafCount), word(h.timestamp)));
}

// null when the bundle checks out, else what is wrong with it, in a few words.
export function proofProblem(bundle) {
  if (bundle.format !== FORMAT) return "unknown proof format";
  const [subject, id, payload] = bundle.value;
  for (const h of [subject, payload, bundle.root, bundle.leafHash, ...bundle.proof]) if (!HASH.test(h)) return "a hash is malformed";
  if (String(bundle.leaf.id) !== id) return "the record id differs from the leaf";
  if (k(utf8(`${bundle.leaf.kind}:${bundle.leaf.subject}`)) !== subject) return "the record's kind and subject do not match the leaf";
  if (k(utf8(bundle.leaf.payload)) !== payload) return "the record's payload does not match the leaf";
  let node = k(hexToBytes(k(concat(hexToBytes(subject), word(id), hexToBytes(payload)))));
  if (bundle.leafHash !== node) return "leafHash is not the hash of value";
  for (const sibling of bundle.proof) node = hashPair(node, sibling);
  if (node !== bundle.root) return "the proof does not lead to the root";
  if (bundle.block.merkleRoot !== bundle.root) return "the root is not the block's";
  let previous = null;
  for (const h of bundle.headers) {
    if (headerHash(h) !== h.blockHash) return `block ${h.height} does not hash to its header`;
    if (previous && (h.prevHash !== previous.blockHash || h.height !== previous.height + 1)) return `block ${h.height} breaks the chain`;
    previous = h;
  }
  if (canon(bundle.headers[0]) !== canon(bundle.block)) return "the headers do not start at the record's block";
  return null;
}

// --- the chain anchor (docs/ledger.md "On-chain anchoring") -------------------------------------
// The extra Merkle step from the bundle's block hash to the rootOfRoots its publication anchored.
export function anchorProblem(bundle) {
  const a = bundle.chainAnchor;
  if (!a) return null;
  if (a.format !== "idao-ledger-anchor/1") return "unknown chain anchor format";
  for (const h of [a.rootOfRoots, a.lastBlockHash, a.txHash, ...a.proof]) if (!HASH.test(h)) return "a chain anchor hash is malformed";
  if (String(bundle.block.height) !== a.value[0] || bundle.block.blockHash !== a.value[1]) return "the chain anchor names another block";
  if (bundle.block.height < a.fromHeight || bundle.block.height > a.toHeight) return "the block is outside the anchored range";
  let node = k(hexToBytes(k(concat(word(a.value[0]), hexToBytes(a.value[1])))));
  for (const sibling of a.proof) node = hashPair(node, sibling);
  if (node !== a.rootOfRoots) return "the block hash does not lead to the anchored root";
  return null;
}

const selectorOf = (signature) => k(utf8(signature)).slice(0, 10);

async function rpc(url, method, params) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const answer = await response.json();
  if (answer.error) throw new Error(answer.error.message || "the RPC node refused the request");
  return answer.result;
}

// Ask a public RPC node whether LedgerAnchor stores this anchoring and the transaction emitted it.
// Resolves to null when it does, else to what differs.
export async function anchorOnChainProblem(anchor, url) {
  const chainId = BigInt(await rpc(url, "eth_chainId", []));
  if (chainId !== BigInt(anchor.chainId)) return `the RPC node serves chain ${chainId}, not ${anchor.chainId}`;
  const call = (data) => rpc(url, "eth_call", [{ to: anchor.contract, data }, "latest"]);
  const index = BigInt(await call(selectorOf("indexOfRoot(bytes32)") + anchor.rootOfRoots.slice(2)));
  if (index === 0n) return "the contract never anchored this root";
  const stored = (await call(selectorOf("anchorings(uint256)") + BigInt(index).toString(16).padStart(64, "0"))).slice(2);
  const words = stored.match(/.{64}/g) || [];
  if (BigInt("0x" + words[0]) !== BigInt(anchor.fromHeight) || BigInt("0x" + words[1]) !== BigInt(anchor.toHeight)
      || "0x" + words[2] !== anchor.lastBlockHash || "0x" + words[3] !== anchor.rootOfRoots) {
    return `anchoring ${index} on chain holds other heights or hashes`;
  }
  const receipt = await rpc(url, "eth_getTransactionReceipt", [anchor.txHash]);
  if (!receipt || BigInt(receipt.status) !== 1n) return `transaction ${anchor.txHash} is not mined`;
  const topics = [k(utf8("Anchored(uint256,bytes32,uint256,uint256,bytes32)")), "0x" + index.toString(16).padStart(64, "0"), anchor.rootOfRoots];
  const emitted = (receipt.logs || []).some((log) => log.address.toLowerCase() === anchor.contract.toLowerCase()
    && canon(log.topics.map((t) => t.toLowerCase())) === canon(topics));
  return emitted ? null : `transaction ${anchor.txHash} did not emit the Anchored event`;
}

// One sentence on the chain anchor for a page: checked against the RPC node, or "not checked".
export async function anchorSentence(bundle, publicRpc) {
  const a = bundle.chainAnchor;
  if (!a) return "";
  const problem = anchorProblem(bundle);
  if (problem) return `Invalid chain anchor: ${problem}.`;
  const where = `anchored on chain ${a.chainId} in tx ${a.txHash}`;
  if (!publicRpc) return `Also ${where}, not checked.`;
  const onChain = await anchorOnChainProblem(a, publicRpc);
  return onChain ? `Chain anchor does not verify: ${onChain}.` : `Also ${where}: checked against the contract on chain.`;
}
