// The one table of chain names the portal shows (people read names, not chain ids). A chain not
// listed is shown as "chain <id>".
export const CHAIN_NAMES = Object.freeze({
  1: "Ethereum",
  10: "OP Mainnet",
  100: "Gnosis",
  137: "Polygon",
  8453: "Base",
  17000: "Holesky",
  42161: "Arbitrum One",
  11155111: "Sepolia",
  31337: "Local development chain",
  131277322940537: "Local test EVM",
});

export function chainName(chainId) {
  const id = Number(chainId);
  return CHAIN_NAMES[id] || `chain ${id}`;
}
