#!/usr/bin/env bash
# Builds the real peers of Keel's interop tests into interop/bin and interop/node_modules (both git-ignored):
#   - op-geth, from source through the Go module proxy (go.mod pins it; cgo on), as bin/geth;
#   - op-node, from the optimism monorepo module through the Go module proxy, as bin/op-node;
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

# op-node, the validator peer of the gossip interop test, from the optimism monorepo through the Go module proxy. The
# monorepo's go.mod pins its own op-geth (a replace directive), so it is built inside a copy of the module rather than
# with `go install`.
OPTIMISM_VERSION=v1.19.6
op_stamp="github.com/ethereum-optimism/optimism@$OPTIMISM_VERSION $(go env GOVERSION)"
if [[ -x bin/op-node && -f bin/op-node.stamp && "$(cat bin/op-node.stamp)" == "$op_stamp" ]]; then
    echo "interop: op-node up to date ($OPTIMISM_VERSION)"
else
    echo "interop: building op-node $OPTIMISM_VERSION from the Go module proxy (a few minutes cold)"
    t0=$SECONDS
    src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS= go mod download -json "github.com/ethereum-optimism/optimism@$OPTIMISM_VERSION" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    work=build/optimism
    rm -rf "$work" && mkdir -p build && cp -r "$src" "$work" && chmod -R u+w "$work"
    # op-core/superchain embeds superchain-configs.zip, generated from the superchain-registry submodule at build time
    # and absent from the module zip. The test chain is in no registry, so op-node gets an empty bundle (no known
    # chains) and its pinned checksum is set to that bundle's.
    python3 - "$work/op-core/superchain" <<'EOF'
import hashlib, sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(f"{d}/superchain-configs.zip", "w") as z:
    z.writestr(zipfile.ZipInfo("dictionary", (1980, 1, 1, 0, 0, 0)), b"")
    z.writestr(zipfile.ZipInfo("chains.json", (1980, 1, 1, 0, 0, 0)), b"{}\n")
digest = hashlib.sha256(open(f"{d}/superchain-configs.zip", "rb").read()).hexdigest()
open(f"{d}/superchain-configs.zip.sha256", "w").write(f"{digest}  superchain-configs.zip\n")
EOF
    (cd "$work" && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath -o ../../bin/op-node.tmp ./op-node/cmd)
    mv bin/op-node.tmp bin/op-node
    rm -rf "$work"
    echo "$op_stamp" > bin/op-node.stamp
    echo "interop: op-node built in $((SECONDS - t0)) s"
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
