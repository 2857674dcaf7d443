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
