#!/usr/bin/env python3
"""Generate shell/data/superchain-registry.json from a superchain-registry git mirror.

Usage:
    scripts/gen-registry.py [MIRROR_GIT_DIR] [--out PATH]

MIRROR_GIT_DIR is a (bare) git directory of ethereum-optimism/superchain-registry;
its HEAD commit is used. Nothing is checked out: files are read with `git show`.

For every chain config in superchain/configs/{mainnet,sepolia}/ this writes the
rollup.json object op-node v1.19.6 would produce for that chain. The mapping
mirrors op-node/superchain/superchain.go (rollupConfigFromRegistry and
applyHardforks) and the JSON tags in op-node/rollup/types.go and
op-service/eth/types.go:

  * Hardfork times come only from the chain's own [hardforks] table; op-node does
    not merge superchain.toml's [hardforks] into a chain. superchain.toml supplies
    only l1.chain_id.
  * regolith_time is always 0; channel_timeout is always 300.
  * keep_karst_upgrade_gas is the chain's [hardforks] flag, written only when true
    (omitempty bool).
  * chain_op_config comes from the chain's [optimism] table.
  * genesis.system_config carries the four registry values; the other
    SystemConfig fields are never set by op-node but have no omitempty tag, so
    op-node writes them as zero values.
  * alt_da is written when the chain has an [alt_da] table.
  * rollup.Config has no protocol versions field, so none is written.

Chains op-node would not load are skipped with a message: the ones
op-core/superchain/sync-superchain.sh leaves out of op-node's embedded bundle,
configs its strict TOML decoding rejects, and configs rollup.Config.Check()
rejects.

Python 3.11+ standard library only. Run by hand; the output is deterministic.
"""

import argparse
import json
import os
import subprocess
import sys
import tomllib

DEFAULT_MIRROR = "/work/.mirror/ethereum-optimism+superchain-registry/repo"
REPOSITORY = "ethereum-optimism/superchain-registry"
GENERATOR = "scripts/gen-registry.py"
NETWORKS = ("mainnet", "sepolia")

# Chain ids op-core/superchain/sync-superchain.sh (op-node v1.19.6) removes from
# the embedded registry bundle, so op-node cannot load them by chain id.
OP_NODE_EXCLUDED = {
    28882: "Boba Sepolia, excluded from op-node's embedded registry",
    288: "Boba Mainnet, excluded from op-node's embedded registry",
    42220: "Celo Mainnet, excluded from op-node's embedded registry (non-standard genesis format)",
}

# op-node/superchain/superchain.go hardcodes this.
CHANNEL_TIMEOUT_BEDROCK = 300

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = "0x" + "00" * 32


class ConfigError(Exception):
    """A registry file op-node would refuse to decode or use."""


# ---------------------------------------------------------------------------
# Strict decoding, modelled on op-core/superchain/types.go and superchain.go.
# op-node decodes with BurntSushi/toml and rejects any key the Go struct lacks.
# ---------------------------------------------------------------------------

U64, BOOL, STR, ADDR, HASH = "u64", "bool", "str", "address", "hash"


class MapOf:
    """A TOML table with arbitrary keys whose values follow one schema."""

    def __init__(self, value_schema):
        self.value_schema = value_schema


HARDFORKS = {
    "canyon_time": U64,
    "delta_time": U64,
    "ecotone_time": U64,
    "fjord_time": U64,
    "granite_time": U64,
    "holocene_time": U64,
    "isthmus_time": U64,
    "jovian_time": U64,
    "karst_time": U64,
    "keep_karst_upgrade_gas": BOOL,
    "lagoon_time": U64,
    "pectra_blob_schedule_time": U64,
}

GENESIS_REF = {"hash": HASH, "number": U64}

CHAIN_SCHEMA = {
    "name": STR,
    "public_rpc": STR,
    "sequencer_rpc": STR,
    "explorer": STR,
    "governed_by_optimism": BOOL,
    "superchain_time": U64,
    "data_availability_type": STR,
    "deployment_tx_hash": HASH,
    "chain_id": U64,
    "batch_inbox_addr": ADDR,
    "block_time": U64,
    "seq_window_size": U64,
    "max_sequencer_drift": U64,
    "gas_paying_token": ADDR,
    "hardforks": HARDFORKS,
    "interop": {"dependencies": MapOf({})},
    "optimism": {
        "eip1559_elasticity": U64,
        "eip1559_denominator": U64,
        "eip1559_denominator_canyon": U64,
    },
    "alt_da": {
        "da_challenge_contract_address": ADDR,
        "da_challenge_window": U64,
        "da_resolve_window": U64,
        "da_commitment_type": STR,
    },
    "genesis": {
        "l2_time": U64,
        "l1": GENESIS_REF,
        "l2": GENESIS_REF,
        "system_config": {
            "batcherAddress": ADDR,
            "overhead": HASH,
            "scalar": HASH,
            "gasLimit": U64,
            "baseFeeScalar": U64,
            "blobBaseFeeScalar": U64,
        },
    },
    "roles": {
        k: ADDR
        for k in (
            "SystemConfigOwner",
            "ProxyAdminOwner",
            "Guardian",
            "Challenger",
            "Proposer",
            "UnsafeBlockSigner",
            "BatchSubmitter",
        )
    },
    "addresses": {
        k: ADDR
        for k in (
            "AddressManager",
            "L1CrossDomainMessengerProxy",
            "L1ERC721BridgeProxy",
            "L1StandardBridgeProxy",
            "L2OutputOracleProxy",
            "OptimismMintableERC20FactoryProxy",
            "OptimismPortalProxy",
            "SystemConfigProxy",
            "ProxyAdmin",
            "SuperchainConfig",
            "AnchorStateRegistryProxy",
            "DelayedWETHProxy",
            "DisputeGameFactoryProxy",
            "FaultDisputeGame",
            "MIPS",
            "PermissionedDisputeGame",
            "PreimageOracle",
            "DAChallengeAddress",
        )
    },
}

SUPERCHAIN_SCHEMA = {
    "name": STR,
    "superchain_config_addr": ADDR,
    "op_contracts_manager_addr": ADDR,
    "safer_safes_addr": ADDR,
    "hardforks": HARDFORKS,
    "l1": {"chain_id": U64, "public_rpc": STR, "explorer": STR},
}


def _hex_fixed(value, nbytes, path):
    if not isinstance(value, str):
        raise ConfigError(f"{path}: expected a hex string, got {type(value).__name__}")
    if not (value.startswith("0x") or value.startswith("0X")):
        raise ConfigError(f"{path}: hex string without 0x prefix: {value!r}")
    digits = value[2:]
    if len(digits) != 2 * nbytes:
        raise ConfigError(f"{path}: expected {nbytes} bytes of hex, got {value!r}")
    try:
        bytes.fromhex(digits)
    except ValueError:
        raise ConfigError(f"{path}: invalid hex {value!r}") from None
    # go-ethereum marshals addresses and hashes as lowercase hex.
    return "0x" + digits.lower()


def _decode_scalar(kind, value, path):
    if kind == U64:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        if not 0 <= value < 2**64:
            raise ConfigError(f"{path}: integer out of uint64 range: {value}")
        return value
    if kind == BOOL:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected a boolean, got {value!r}")
        return value
    if kind == STR:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    if kind == ADDR:
        return _hex_fixed(value, 20, path)
    if kind == HASH:
        return _hex_fixed(value, 32, path)
    raise AssertionError(kind)


def _match_key(key, schema):
    """Find the struct field for a TOML key: exact first, then case-insensitive
    (BurntSushi/toml's rule)."""
    if key in schema:
        return key
    folded = [k for k in schema if k.casefold() == key.casefold()]
    return folded[0] if folded else None


def strict_decode(table, schema, path=""):
    """Validate and normalise a parsed TOML table; raise ConfigError on any key
    or value the Go structs would not accept."""
    if isinstance(schema, MapOf):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: expected a table")
        return {
            k: strict_decode(v, schema.value_schema, f"{path}.{k}") for k, v in table.items()
        }
    if isinstance(schema, dict):
        if not isinstance(table, dict):
            raise ConfigError(f"{path or '<root>'}: expected a table")
        out = {}
        for key, value in table.items():
            field = _match_key(key, schema)
            sub = f"{path}.{key}" if path else key
            if field is None:
                raise ConfigError(f"unknown TOML key not represented in op-node's struct: {sub}")
            out[field] = strict_decode(value, schema[field], sub)
        return out
    return _decode_scalar(schema, table, path)


# ---------------------------------------------------------------------------
# Registry chain config -> op-node rollup.json
# ---------------------------------------------------------------------------

# op-node/rollup/types.go field order for fork times (all *uint64, omitempty).
FORK_FIELDS = (
    "canyon_time",
    "delta_time",
    "ecotone_time",
    "fjord_time",
    "granite_time",
    "holocene_time",
    "isthmus_time",
    "jovian_time",
    "karst_time",
    "lagoon_time",
    "pectra_blob_schedule_time",
)


def rollup_config(chain, superchain):
    """The equivalent of rollupConfigFromRegistry followed by json.Marshal."""
    if "optimism" not in chain:
        # op-node dereferences chConfig.Optimism unconditionally.
        raise ConfigError("no [optimism] table (op-node would dereference a nil pointer)")
    addrs = chain.get("addresses", {})
    for name in ("OptimismPortalProxy", "SystemConfigProxy"):
        if name not in addrs:
            raise ConfigError(f"no addresses.{name} (op-node would dereference a nil pointer)")

    genesis = chain.get("genesis", {})
    sys_cfg = genesis.get("system_config", {})
    opt = chain["optimism"]
    hardforks = chain.get("hardforks", {})

    chain_op_config = {
        "eip1559Elasticity": opt.get("eip1559_elasticity", 0),
        "eip1559Denominator": opt.get("eip1559_denominator", 0),
    }
    if "eip1559_denominator_canyon" in opt:
        chain_op_config["eip1559DenominatorCanyon"] = opt["eip1559_denominator_canyon"]

    out = {
        "genesis": {
            "l1": {
                "hash": genesis.get("l1", {}).get("hash", ZERO_HASH),
                "number": genesis.get("l1", {}).get("number", 0),
            },
            "l2": {
                "hash": genesis.get("l2", {}).get("hash", ZERO_HASH),
                "number": genesis.get("l2", {}).get("number", 0),
            },
            "l2_time": genesis.get("l2_time", 0),
            # eth.SystemConfig: only these four are set from the registry; the rest
            # are zero and still written (no omitempty, Holocene marshalling).
            "system_config": {
                "batcherAddr": sys_cfg.get("batcherAddress", ZERO_ADDRESS),
                "overhead": sys_cfg.get("overhead", ZERO_HASH),
                "scalar": sys_cfg.get("scalar", ZERO_HASH),
                "gasLimit": sys_cfg.get("gasLimit", 0),
                "eip1559Params": "0x" + "00" * 8,
                "operatorFeeParams": ZERO_HASH,
                "minBaseFee": 0,
                "daFootprintGasScalar": 0,
            },
        },
        "block_time": chain.get("block_time", 0),
        "seq_window_size": chain.get("seq_window_size", 0),
        "channel_timeout": CHANNEL_TIMEOUT_BEDROCK,
        "l1_chain_id": superchain.get("l1", {}).get("chain_id", 0),
        "l2_chain_id": chain.get("chain_id", 0),
        "regolith_time": 0,
        "batch_inbox_address": chain.get("batch_inbox_addr", ZERO_ADDRESS),
        "deposit_contract_address": addrs["OptimismPortalProxy"],
        "l1_system_config_address": addrs["SystemConfigProxy"],
        "chain_op_config": chain_op_config,
    }
    msd = chain.get("max_sequencer_drift", 0)
    if msd != 0:  # omitempty
        out["max_sequencer_drift"] = msd
    for name in FORK_FIELDS:
        if name in hardforks:
            out[name] = hardforks[name]
    if hardforks.get("keep_karst_upgrade_gas", False):  # omitempty bool
        out["keep_karst_upgrade_gas"] = True
    if "alt_da" in chain:
        alt = chain["alt_da"]
        # rollup.AltDAConfig; da_max_input_size is nil here and omitted.
        out["alt_da"] = {
            "da_challenge_contract_address": alt.get("da_challenge_contract_address", ZERO_ADDRESS),
            "da_commitment_type": alt.get("da_commitment_type", ""),
            "da_challenge_window": alt.get("da_challenge_window", 0),
            "da_resolve_window": alt.get("da_resolve_window", 0),
        }
    return out


KECCAK_COMMITMENT = "KeccakCommitment"
GENERIC_COMMITMENT = "GenericCommitment"


def check(cfg):
    """rollup.Config.Check() from op-node/rollup/types.go; raise ConfigError on failure."""
    g = cfg["genesis"]
    sc = g["system_config"]
    if cfg["block_time"] == 0:
        raise ConfigError("block time cannot be 0")
    if cfg["channel_timeout"] == 0:
        raise ConfigError("channel timeout must be set")
    if cfg["seq_window_size"] < 2:
        raise ConfigError("sequencing window size must at least be 2")
    if cfg.get("max_sequencer_drift", 0) == 0:
        raise ConfigError("maximum sequencer drift must be greater than 0")
    if g["l1"]["hash"] == ZERO_HASH:
        raise ConfigError("genesis L1 hash cannot be empty")
    if g["l2"]["hash"] == ZERO_HASH:
        raise ConfigError("genesis L2 hash cannot be empty")
    if g["l1"]["hash"] == g["l2"]["hash"]:
        raise ConfigError("L1 and L2 genesis cannot be the same")
    if g["l2_time"] == 0:
        raise ConfigError("missing L2 genesis time")
    if sc["batcherAddr"] == ZERO_ADDRESS:
        raise ConfigError("missing genesis system config batcher address")
    if sc["scalar"] == ZERO_HASH:
        raise ConfigError("missing genesis system config scalar")
    if sc["gasLimit"] == 0:
        raise ConfigError("missing genesis system config gas limit")
    if cfg["batch_inbox_address"] == ZERO_ADDRESS:
        raise ConfigError("missing batch inbox address")
    if cfg["deposit_contract_address"] == ZERO_ADDRESS:
        raise ConfigError("missing deposit contract address")
    if cfg["l1_chain_id"] == cfg["l2_chain_id"]:
        raise ConfigError("L1 and L2 chain IDs must be different")
    if cfg["l1_chain_id"] < 1:
        raise ConfigError("L1 chain ID must be non-zero and positive")
    if cfg["l2_chain_id"] < 1:
        raise ConfigError("L2 chain ID must be non-zero and positive")
    alt = cfg.get("alt_da")
    if alt is not None:
        ctype = alt["da_commitment_type"]
        if ctype not in (KECCAK_COMMITMENT, GENERIC_COMMITMENT):
            raise ConfigError(f"invalid commitment type: {ctype}")
        addr = alt["da_challenge_contract_address"]
        if ctype == KECCAK_COMMITMENT and addr == ZERO_ADDRESS:
            raise ConfigError("Must set da_challenge_contract_address for keccak commitments")
        if ctype == GENERIC_COMMITMENT and addr != ZERO_ADDRESS:
            raise ConfigError("Must set empty da_challenge_contract_address for generic commitments")
    ordered = ("regolith_time",) + FORK_FIELDS[:7]  # Regolith .. Isthmus, as Check() does
    for prev, nxt in zip(ordered, ordered[1:]):
        a, b = cfg.get(prev), cfg.get(nxt)
        if a is None and b is not None:
            raise ConfigError(f"fork {nxt} set (to {b}), but prior fork {prev} missing")
        if a is not None and b is not None and a > b:
            raise ConfigError(f"fork {nxt} set to {b}, but prior fork {prev} has higher offset {a}")


# ---------------------------------------------------------------------------
# Git access and main
# ---------------------------------------------------------------------------


def git(mirror, *args):
    return subprocess.run(
        ["git", f"--git-dir={mirror}", *args], check=True, capture_output=True
    ).stdout


def load_toml(mirror, commit, path):
    data = git(mirror, "show", f"{commit}:{path}")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"failed to decode TOML: {e}") from None


def latest_fork(rollup):
    """The last network upgrade, in activation order, that the chain schedules."""
    name = [f for f in ("regolith_time",) + FORK_FIELDS if f in rollup and f != "pectra_blob_schedule_time"][-1]
    return f"{name[:-len('_time')]}@{rollup[name]}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mirror", nargs="?", default=DEFAULT_MIRROR, help="superchain-registry git dir")
    parser.add_argument(
        "--out",
        default=os.path.join(here, "..", "shell", "data", "superchain-registry.json"),
        help="output path (default: shell/data/superchain-registry.json)",
    )
    args = parser.parse_args()

    commit = git(args.mirror, "rev-parse", "HEAD^{commit}").decode().strip()
    commit_date = git(args.mirror, "show", "-s", "--format=%cI", commit).decode().strip()

    chains = {}
    skipped = 0
    for network in NETWORKS:
        base = f"superchain/configs/{network}"
        try:
            superchain = strict_decode(load_toml(args.mirror, commit, f"{base}/superchain.toml"), SUPERCHAIN_SCHEMA)
        except ConfigError as e:
            sys.exit(f"error: {base}/superchain.toml: {e}")
        names = git(args.mirror, "ls-tree", "--name-only", f"{commit}:{base}").decode().split("\n")
        for fname in sorted(n for n in names if n.endswith(".toml") and n != "superchain.toml"):
            path = f"{base}/{fname}"
            try:
                raw = load_toml(args.mirror, commit, path)
                chain_id = raw.get("chain_id")
                if chain_id in OP_NODE_EXCLUDED:
                    raise ConfigError(OP_NODE_EXCLUDED[chain_id])
                if chain_id is None:
                    raise ConfigError("no chain_id (op-node's index skips it)")
                chain = strict_decode(raw, CHAIN_SCHEMA)
                rollup = rollup_config(chain, superchain)
                check(rollup)
            except ConfigError as e:
                print(f"skip  {network:<8} {str(chain_id):>10}  {path}: {e}")
                skipped += 1
                continue
            key = str(chain["chain_id"])
            if key in chains:
                sys.exit(f"error: chain id {key} appears twice ({path})")
            chains[key] = {"name": chain.get("name", ""), "superchain": network, "rollup": rollup}
            extras = []
            if rollup.get("keep_karst_upgrade_gas"):
                extras.append("keep_karst_upgrade_gas")
            if "alt_da" in rollup:
                extras.append(f"alt_da={rollup['alt_da']['da_commitment_type']}")
            print(
                f"ok    {network:<8} {key:>10}  {chains[key]['name']:<32} "
                f"block_time={rollup['block_time']} latest={latest_fork(rollup)} {' '.join(extras)}".rstrip()
            )

    doc = {
        "source": {
            "repository": REPOSITORY,
            "commit": commit,
            "commit_date": commit_date,
            "generator": GENERATOR,
        },
        "chains": chains,
    }
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {os.path.normpath(args.out)}: {len(chains)} chains, {skipped} skipped, registry {commit} ({commit_date})")


if __name__ == "__main__":
    main()
