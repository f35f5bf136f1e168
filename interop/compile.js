// Compiles contracts/DepositEmitter.sol with solc-js (npm `solc`, pinned in package.json) and writes the runtime
// bytecode the interop harness installs on anvil with anvil_setCode.
// Usage: node compile.js <out-file>
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const file = 'DepositEmitter.sol';
const source = fs.readFileSync(path.join(__dirname, 'contracts', file), 'utf8');
const input = {
  language: 'Solidity',
  sources: { [file]: { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { DepositEmitter: ['evm.deployedBytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const code = out.contracts[file].DepositEmitter.evm.deployedBytecode.object;
if (!code) {
  console.error('solc produced no runtime bytecode for DepositEmitter');
  process.exit(1);
}
fs.writeFileSync(process.argv[2], '0x' + code + '\n');
console.log(`DepositEmitter runtime: ${code.length / 2} bytes (solc ${solc.version()})`);
