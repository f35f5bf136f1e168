//! The L2 chain of a local op-geth devnet: op-geth's `genesis.json` and the matching rollup config.
//!
//! Both are derived from one [`ChainPlan`], so the fork times, EIP-1559 parameters and gas limit op-geth executes with
//! are the ones Keel sequences with. The L2 genesis hash is not computed here: op-geth computes it at `geth init` and
//! the caller reads it back (`eth_getBlockByNumber(0)`) before calling [`ChainPlan::rollup`].

use alloy_primitives::{address, Address, B256, U256};
use keel_core::Rollup;
use kona_genesis::{ChainGenesis, RollupConfig, SystemConfig};
use kona_protocol::BlockInfo;
use serde_json::{json, Map, Value};

/// L2 chain id of the local devnet (op-devstack's and the OP devnets' customary 901).
pub const L2_CHAIN_ID: u64 = 901;
/// anvil's default chain id.
pub const L1_CHAIN_ID: u64 = 31337;
/// Where the deposit contract is installed on anvil (`anvil_setCode`).
pub const DEPOSIT_CONTRACT: Address = address!("0xde90000000000000000000000000000000000001");
/// The L1 SystemConfig address. Nothing is deployed there: no `ConfigUpdate` log is ever emitted, so the genesis
/// system config holds for the whole run.
pub const SYSTEM_CONFIG: Address = address!("0x5c00000000000000000000000000000000000001");
/// The batch inbox (op-batcher's customary `0xff00…<chain id>`).
pub const BATCH_INBOX: Address = address!("0xff00000000000000000000000000000000000901");
/// The batcher in the genesis system config.
pub const BATCHER: Address = address!("0xba00000000000000000000000000000000000001");
/// The dev account funded in the L2 genesis: the first account of the "test test … junk" mnemonic, which anvil also
/// funds on L1. Its key is public; it exists to sign test transactions.
pub const DEV_ACCOUNT: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
/// Private key of [`DEV_ACCOUNT`] (public knowledge: anvil's and hardhat's account 0).
pub const DEV_KEY: B256 = alloy_primitives::b256!("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
/// L2 balance of [`DEV_ACCOUNT`] at genesis: 1,000,000 ETH.
pub const DEV_BALANCE_WEI: u128 = 1_000_000 * 1_000_000_000_000_000_000;
/// op-geth's and op-node's EIP-1559 parameters for OP chains (`optimism` chain config section).
pub const EIP1559_ELASTICITY: u64 = 6;
/// Pre-Canyon denominator.
pub const EIP1559_DENOMINATOR: u64 = 50;
/// Canyon and later denominator.
pub const EIP1559_DENOMINATOR_CANYON: u64 = 250;
/// Ecotone-format fee scalars of the genesis system config (the OP devnet defaults).
pub const BASE_FEE_SCALAR: u32 = 1_368;
/// Blob base fee scalar.
pub const BLOB_BASE_FEE_SCALAR: u32 = 810_949;
/// Genesis base fee: 1 gwei.
pub const GENESIS_BASE_FEE: u64 = 1_000_000_000;

/// What the local chain looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPlan {
    /// L2 genesis timestamp (seconds); at or after the L1 origin's timestamp.
    pub genesis_time: u64,
    /// L2 block time in seconds.
    pub block_time: u64,
    /// Isthmus activation, seconds after genesis (0 = active at genesis).
    pub isthmus_offset_s: u64,
    /// Jovian activation, seconds after genesis (0 = active at genesis); not before Isthmus.
    pub jovian_offset_s: u64,
    /// Block gas limit (genesis header and system config).
    pub gas_limit: u64,
}

impl ChainPlan {
    /// Regolith … Jovian all active at genesis.
    pub fn jovian_at_genesis(genesis_time: u64) -> Self {
        Self { genesis_time, block_time: 1, isthmus_offset_s: 0, jovian_offset_s: 0, gas_limit: 30_000_000 }
    }

    /// Holocene at genesis, then Isthmus and Jovian a few blocks in.
    pub fn staggered(genesis_time: u64, isthmus_offset_s: u64, jovian_offset_s: u64) -> Self {
        Self { isthmus_offset_s, jovian_offset_s, ..Self::jovian_at_genesis(genesis_time) }
    }

    /// Absolute Isthmus time.
    pub fn isthmus_time(&self) -> u64 {
        self.genesis_time + self.isthmus_offset_s
    }

    /// Absolute Jovian time.
    pub fn jovian_time(&self) -> u64 {
        self.genesis_time + self.jovian_offset_s
    }

    /// The genesis header's extraData in the form its fork requires (op-geth's `ValidateOptimismExtraData`, the
    /// Holocene and Jovian exec-engine specs): Holocene `0x00 ‖ denominator u32 ‖ elasticity u32`, Jovian
    /// `0x01 ‖ denominator u32 ‖ elasticity u32 ‖ min base fee u64` (zero here).
    pub fn genesis_extra_data(&self) -> Vec<u8> {
        let mut extra = Vec::with_capacity(17);
        let jovian = self.jovian_offset_s == 0;
        extra.push(u8::from(jovian));
        extra.extend_from_slice(&(EIP1559_DENOMINATOR_CANYON as u32).to_be_bytes());
        extra.extend_from_slice(&(EIP1559_ELASTICITY as u32).to_be_bytes());
        if jovian {
            extra.extend_from_slice(&0u64.to_be_bytes());
        }
        extra
    }

    /// op-geth's `genesis.json` (`geth init`): the chain config with every OP fork time and its L1 counterpart
    /// (Canyon ⇒ Shanghai, Ecotone ⇒ Cancun, Isthmus ⇒ Prague), the `optimism` EIP-1559 section, no `blobSchedule`
    /// (op-geth refuses one on OP chains), and the dev account funded.
    pub fn op_geth_genesis(&self) -> Value {
        let mut config = Map::new();
        config.insert("chainId".into(), json!(L2_CHAIN_ID));
        for block_fork in [
            "homesteadBlock",
            "eip150Block",
            "eip155Block",
            "eip158Block",
            "byzantiumBlock",
            "constantinopleBlock",
            "petersburgBlock",
            "istanbulBlock",
            "muirGlacierBlock",
            "berlinBlock",
            "londonBlock",
            "arrowGlacierBlock",
            "grayGlacierBlock",
            "mergeNetsplitBlock",
            "bedrockBlock",
        ] {
            config.insert(block_fork.into(), json!(0));
        }
        for (name, t) in [
            ("shanghaiTime", 0),
            ("cancunTime", 0),
            ("pragueTime", self.isthmus_time()),
            ("regolithTime", 0),
            ("canyonTime", 0),
            ("deltaTime", 0),
            ("ecotoneTime", 0),
            ("fjordTime", 0),
            ("graniteTime", 0),
            ("holoceneTime", 0),
            ("isthmusTime", self.isthmus_time()),
            ("jovianTime", self.jovian_time()),
        ] {
            config.insert(name.into(), json!(t));
        }
        config.insert("terminalTotalDifficulty".into(), json!(0));
        config.insert("depositContractAddress".into(), json!(Address::ZERO));
        config.insert(
            "optimism".into(),
            json!({
                "eip1559Elasticity": EIP1559_ELASTICITY,
                "eip1559Denominator": EIP1559_DENOMINATOR,
                "eip1559DenominatorCanyon": EIP1559_DENOMINATOR_CANYON,
            }),
        );
        let mut alloc = Map::new();
        alloc.insert(format!("{DEV_ACCOUNT:#x}"), json!({"balance": format!("{:#x}", U256::from(DEV_BALANCE_WEI))}));
        json!({
            "config": config,
            "nonce": "0x0",
            "timestamp": format!("{:#x}", self.genesis_time),
            "extraData": alloy_primitives::hex::encode_prefixed(self.genesis_extra_data()),
            "gasLimit": format!("{:#x}", self.gas_limit),
            "difficulty": "0x0",
            "mixHash": B256::ZERO,
            "coinbase": "0x4200000000000000000000000000000000000011",
            "number": "0x0",
            "gasUsed": "0x0",
            "parentHash": B256::ZERO,
            "baseFeePerGas": format!("{GENESIS_BASE_FEE:#x}"),
            "alloc": alloc,
        })
    }

    /// The genesis system config: batcher, Ecotone-format scalar, gas limit and the Holocene EIP-1559 parameters that
    /// the genesis extraData also carries.
    pub fn system_config(&self) -> SystemConfig {
        let mut scalar = [0u8; 32];
        scalar[0] = 1;
        scalar[24..28].copy_from_slice(&BLOB_BASE_FEE_SCALAR.to_be_bytes());
        scalar[28..32].copy_from_slice(&BASE_FEE_SCALAR.to_be_bytes());
        SystemConfig {
            batcher_address: BATCHER,
            overhead: U256::ZERO,
            scalar: U256::from_be_bytes(scalar),
            gas_limit: self.gas_limit,
            eip1559_denominator: Some(EIP1559_DENOMINATOR_CANYON as u32),
            eip1559_elasticity: Some(EIP1559_ELASTICITY as u32),
            ..Default::default()
        }
    }

    /// The rollup config for this chain, anchored at `l1_origin` (an anvil block) and at the genesis block op-geth
    /// built from [`Self::op_geth_genesis`].
    pub fn rollup(&self, l1_origin: &BlockInfo, l2_genesis_hash: B256) -> Rollup {
        let mut base = RollupConfig {
            genesis: ChainGenesis {
                l1: l1_origin.id(),
                l2: alloy_eips::BlockNumHash { number: 0, hash: l2_genesis_hash },
                l2_time: self.genesis_time,
                system_config: Some(self.system_config()),
            },
            block_time: self.block_time,
            max_sequencer_drift: 600,
            seq_window_size: 3600,
            channel_timeout: 300,
            l1_chain_id: L1_CHAIN_ID,
            l2_chain_id: L2_CHAIN_ID.into(),
            batch_inbox_address: BATCH_INBOX,
            deposit_contract_address: DEPOSIT_CONTRACT,
            l1_system_config_address: SYSTEM_CONFIG,
            ..Default::default()
        };
        base.chain_op_config.eip1559_elasticity = EIP1559_ELASTICITY;
        base.chain_op_config.eip1559_denominator = EIP1559_DENOMINATOR;
        base.chain_op_config.eip1559_denominator_canyon = EIP1559_DENOMINATOR_CANYON;
        keel_core::rollup::schedule_forks_through(&mut base.hardforks, "holocene", 0);
        let h = &mut base.hardforks;
        h.isthmus_time = Some(self.isthmus_time());
        h.jovian_time = Some(self.jovian_time());
        Rollup::from(base)
    }
}

/// op-node's L1 chain config for anvil's chain id (`--rollup.l1-chain-config`; op-node knows only public L1s): every
/// fork through Osaka at genesis, with the blob schedules of those forks (EIP-7840 values).
pub fn op_node_l1_chain_config() -> Value {
    let blob =
        |target: u64, max: u64, fraction: u64| json!({"target": target, "max": max, "baseFeeUpdateFraction": fraction});
    json!({
        "chainId": L1_CHAIN_ID,
        "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0, "byzantiumBlock": 0,
        "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
        "mergeNetsplitBlock": 0, "terminalTotalDifficulty": 0,
        "shanghaiTime": 0, "cancunTime": 0, "pragueTime": 0, "osakaTime": 0,
        "blobSchedule": {
            "cancun": blob(3, 6, 3_338_477),
            "prague": blob(6, 9, 5_007_716),
            "osaka": blob(6, 9, 5_007_716),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_data_has_the_form_of_the_genesis_fork() {
        let jovian = ChainPlan::jovian_at_genesis(1_000);
        let extra = jovian.genesis_extra_data();
        assert_eq!(alloy_primitives::hex::encode(&extra), "01000000fa000000060000000000000000");
        let holocene = ChainPlan::staggered(1_000, 6, 12).genesis_extra_data();
        assert_eq!(alloy_primitives::hex::encode(&holocene), "00000000fa00000006");
    }

    #[test]
    fn genesis_and_rollup_agree_on_forks_and_fees() {
        let plan = ChainPlan::staggered(1_000, 6, 12);
        let g = plan.op_geth_genesis();
        let c = &g["config"];
        assert_eq!(c["isthmusTime"], 1_006);
        assert_eq!(c["pragueTime"], 1_006);
        assert_eq!(c["jovianTime"], 1_012);
        assert_eq!(c["holoceneTime"], 0);
        assert!(c.get("blobSchedule").is_none());
        assert!(c.get("karstTime").is_none(), "op-geth has no Karst rules");
        assert_eq!(c["optimism"]["eip1559DenominatorCanyon"], 250);
        assert_eq!(g["timestamp"], "0x3e8");
        assert_eq!(g["gasLimit"], "0x1c9c380");
        let balance = &g["alloc"][format!("{DEV_ACCOUNT:#x}")]["balance"];
        assert_eq!(balance, "0xd3c21bcecceda1000000");

        let origin = BlockInfo { number: 7, hash: B256::repeat_byte(7), timestamp: 990, ..Default::default() };
        let rollup = plan.rollup(&origin, B256::repeat_byte(9));
        rollup.validate().unwrap();
        assert_eq!(rollup.genesis.l1.number, 7);
        assert_eq!(rollup.genesis.l2.hash, B256::repeat_byte(9));
        assert!(!rollup.is_isthmus_active(1_005) && rollup.is_isthmus_active(1_006));
        assert!(!rollup.is_jovian_active(1_011) && rollup.is_jovian_active(1_012));
        assert!(rollup.karst_time.is_none());
        let sc = rollup.genesis.system_config.unwrap();
        assert_eq!(sc.gas_limit, 30_000_000);
        assert_eq!(sc.eip1559_denominator, Some(250));
        // The Ecotone scalar: version 1, blob base fee scalar, base fee scalar.
        assert_eq!(
            format!("{:#066x}", sc.scalar),
            "0x010000000000000000000000000000000000000000000000000c5fc500000558"
        );
    }
}
