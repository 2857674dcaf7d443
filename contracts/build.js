// Compile the ERC-6492 universal validator with solc-js (offline; the compiler is the pinned npm
// `solc` in contracts/node_modules) and print the build record as JSON on stdout.
//   cd contracts && npm ci && node build.js > build/ValidateSigOffchain.json
// tests/portal/test_signatures_contracts.py runs this and compares with the committed record.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const SOURCE = "erc6492/UniversalSigValidator.sol";
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "paris",
  viaIR: true, // the reference source is "stack too deep" without the IR pipeline
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
};

const input = {
  language: "Solidity",
  sources: { [SOURCE]: { content: fs.readFileSync(path.join(__dirname, SOURCE), "utf8") } },
  settings: SETTINGS,
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) process.stderr.write(e.formattedMessage + "\n");
  process.exit(1);
}
const unit = output.contracts[SOURCE];
const record = {
  source: SOURCE,
  compiler: "solc-js " + solc.version(),
  settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion, viaIR: SETTINGS.viaIR, metadata: SETTINGS.metadata },
  contracts: {},
};
for (const name of ["ValidateSigOffchain", "UniversalSigValidator"]) {
  record.contracts[name] = { abi: unit[name].abi, bytecode: "0x" + unit[name].evm.bytecode.object };
}
process.stdout.write(JSON.stringify(record, null, 2) + "\n");
