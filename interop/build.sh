#!/usr/bin/env bash
# Builds the real peers of Keel's interop tests into interop/bin and interop/node_modules (both git-ignored):
#   - op-geth, from source through the Go module proxy (go.mod pins it; cgo on), as bin/geth;
#   - anvil and solc-js from the npm registry (package.json / package-lock.json pin them);
#   - the deposit contract (contracts/DepositEmitter.sol) compiled with solc-js into bin/DepositEmitter.bin-runtime.
# Reuses what is there: Go's module and build caches, node_modules, and a geth binary whose go.mod/go.sum stamp
# matches. Nothing is downloaded as a prebuilt binary except through the registries named above.
set -euo pipefail
cd "$(dirname "$0")"

command -v go >/dev/null || { echo "interop/build.sh: go not found (this machine kind has Go 1.26)" >&2; exit 1; }
command -v npm >/dev/null || { echo "interop/build.sh: npm not found" >&2; exit 1; }
mkdir -p bin

stamp="$(cat go.mod go.sum | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -x bin/geth && -f bin/geth.stamp && "$(cat bin/geth.stamp)" == "$stamp" ]]; then
    echo "interop: op-geth up to date ($(go version -m bin/geth | awk '$1 == "=>" && $2 ~ /op-geth/ {print $2, $3}'))"
else
    echo "interop: building op-geth from the Go module proxy (a few minutes cold)"
    t0=$SECONDS
    CGO_ENABLED=1 GOFLAGS=-mod=readonly go build -trimpath -o bin/geth.tmp github.com/ethereum/go-ethereum/cmd/geth
    mv bin/geth.tmp bin/geth
    echo "$stamp" > bin/geth.stamp
    echo "interop: op-geth built in $((SECONDS - t0)) s"
fi

if [[ -x node_modules/.bin/anvil && -f node_modules/solc/package.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
    echo "interop: npm tools up to date"
else
    echo "interop: installing anvil and solc-js from npm"
    npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/anvil --version | head -1

if [[ ! -f bin/DepositEmitter.bin-runtime || contracts/DepositEmitter.sol -nt bin/DepositEmitter.bin-runtime || compile.js -nt bin/DepositEmitter.bin-runtime ]]; then
    node compile.js bin/DepositEmitter.bin-runtime
fi
echo "interop: tools ready in $(pwd)"
