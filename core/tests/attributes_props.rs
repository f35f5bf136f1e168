//! Fork-boundary table and differential property tests for the payload attributes (issue #4).
//!
//! The differential test compares `attributes::build` with an independent reference written here from op-node's
//! `attributes.go`, `l1_block_info.go` and the deposit-tx spec: its own fork-activation rule (op-node's
//! `t >= blockTime && active(t) && !active(t - blockTime)`), its own calldata packing, its own RLP, its own blob fee
//! arithmetic (512-bit) and blob schedules, and the upgrade transactions by their hashes. kona-derive's
//! `StatefulAttributesBuilder` is not used: kona-derive is not in the dependency tree, and it is async.

use alloy_consensus::Header;
use alloy_eips::BlockNumHash;
use alloy_primitives::{address, b256, keccak256, Address, Bytes, B256, B64, U256, U512};
use alloy_rpc_types_engine::PayloadAttributes;
use keel_core::attributes::{self, Attributes, AttributesInput};
use keel_core::l1_info::L1InfoFormat;
use keel_core::system_config::{L2BlockFacts, SystemConfig};
use keel_core::{L1Block, L2BlockRef, OpPayloadAttributes, Rollup, RollupConfig};
use proptest::prelude::*;

const BLOCK_TIME: u64 = 2;

/// Fork times in activation order: Regolith, Canyon, Delta, Ecotone, Fjord, Granite, Holocene, Isthmus, Jovian,
/// Karst.
fn rollup_with(times: &[Option<u64>; 10], l1_chain_id: u64, pectra_blob_schedule_time: Option<u64>) -> Rollup {
    let mut r = RollupConfig { block_time: BLOCK_TIME, l1_chain_id, ..Default::default() };
    let h = &mut r.hardforks;
    h.regolith_time = times[0];
    h.canyon_time = times[1];
    h.delta_time = times[2];
    h.ecotone_time = times[3];
    h.fjord_time = times[4];
    h.granite_time = times[5];
    h.holocene_time = times[6];
    h.isthmus_time = times[7];
    h.jovian_time = times[8];
    h.pectra_blob_schedule_time = pectra_blob_schedule_time;
    Rollup { karst_time: times[9], ..Rollup::from(r) }
}

// ---------------------------------------------------------------------------------------------------------------
// The independent reference.

mod reference {
    use super::*;

    pub fn active(times: &[Option<u64>; 10], fork: usize, t: u64) -> bool {
        times[fork].is_some_and(|f| t >= f)
    }

    /// op-node `Is<Fork>ActivationBlock`.
    pub fn activation(times: &[Option<u64>; 10], fork: usize, t: u64) -> bool {
        t >= BLOCK_TIME && active(times, fork, t) && !active(times, fork, t - BLOCK_TIME)
    }

    pub const REGOLITH: usize = 0;
    pub const CANYON: usize = 1;
    pub const ECOTONE: usize = 3;
    pub const FJORD: usize = 4;
    pub const HOLOCENE: usize = 6;
    pub const ISTHMUS: usize = 7;
    pub const JOVIAN: usize = 8;
    pub const KARST: usize = 9;

    /// The Karst NUTs as this reference reads them from the bundle file: (intent, from, to, gas, data).
    pub fn karst_nuts() -> Vec<(String, Address, Address, u64, Vec<u8>)> {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../data/karst_nut_bundle.json")).expect("bundle JSON");
        let addr = |x: &serde_json::Value| x.as_str().unwrap().parse::<Address>().unwrap();
        v["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let data = alloy_primitives::hex::decode(t["data"].as_str().unwrap()).unwrap();
                (
                    t["intent"].as_str().unwrap().to_string(),
                    addr(&t["from"]),
                    addr(&t["to"]),
                    t["gasLimit"].as_u64().unwrap(),
                    data,
                )
            })
            .collect()
    }

    /// The gas the Karst activation block adds: the NUTs' gas limits summed.
    pub fn karst_gas(times: &[Option<u64>; 10], t: u64) -> u64 {
        if activation(times, KARST, t) {
            karst_nuts().iter().map(|n| n.3).sum()
        } else {
            0
        }
    }

    /// (selector, length) of the L1 info calldata at `t`.
    pub fn format(times: &[Option<u64>; 10], t: u64) -> ([u8; 4], usize) {
        let after = |f| active(times, f, t) && !activation(times, f, t);
        if after(JOVIAN) {
            ([0x3d, 0xb6, 0xbe, 0x2b], 178)
        } else if after(ISTHMUS) {
            ([0x09, 0x89, 0x99, 0xbe], 176)
        } else if after(ECOTONE) {
            ([0x44, 0x0a, 0x5e, 0x20], 164)
        } else {
            ([0x01, 0x5d, 0x8e, 0xb9], 260)
        }
    }

    fn rlp_string(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if b.len() == 1 && b[0] < 0x80 {
            out.push(b[0]);
        } else if b.len() < 56 {
            out.push(0x80 + b.len() as u8);
            out.extend_from_slice(b);
        } else {
            let len = (b.len() as u64).to_be_bytes();
            let len = &len[len.iter().position(|x| *x != 0).unwrap()..];
            out.push(0xb7 + len.len() as u8);
            out.extend_from_slice(len);
            out.extend_from_slice(b);
        }
        out
    }

    fn rlp_uint(be: &[u8]) -> Vec<u8> {
        let start = be.iter().position(|x| *x != 0).unwrap_or(be.len());
        rlp_string(&be[start..])
    }

    /// `0x7e ‖ rlp([sourceHash, from, to, mint, value, gas, isSystemTx, data])`.
    pub fn deposit(source: B256, from: Address, to: Address, gas: u64, system: bool, data: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend(rlp_string(source.as_slice()));
        payload.extend(rlp_string(from.as_slice()));
        payload.extend(rlp_string(to.as_slice()));
        payload.extend(rlp_uint(&[0]));
        payload.extend(rlp_uint(&[0]));
        payload.extend(rlp_uint(&gas.to_be_bytes()));
        payload.extend(rlp_uint(&[system as u8]));
        payload.extend(rlp_string(data));
        let mut out = vec![0x7e];
        if payload.len() < 56 {
            out.push(0xc0 + payload.len() as u8);
        } else {
            let len = (payload.len() as u64).to_be_bytes();
            let len = &len[len.iter().position(|x| *x != 0).unwrap()..];
            out.push(0xf7 + len.len() as u8);
            out.extend_from_slice(len);
        }
        out.extend(payload);
        out
    }

    /// go-ethereum `params/config.go` blob schedules: (chain id, [(activation, update fraction)]).
    const SCHEDULES: &[(u64, &[(u64, u64)])] = &[
        (1, &[(1710338135, 3338477), (1746612311, 5007716), (1765290071, 8346193), (1767747671, 11684671)]),
        (11155111, &[(1706655072, 3338477), (1741159776, 5007716), (1761017184, 8346193), (1761607008, 11684671)]),
        (17000, &[(1707305664, 3338477), (1740434112, 5007716), (1759800000, 8346193), (1760389824, 11684671)]),
        (560048, &[(0, 3338477), (1742999832, 5007716), (1762365720, 8346193), (1762955544, 11684671)]),
    ];

    fn fake_exponential(numerator: u64, denominator: u64) -> U512 {
        let (n, d) = (U512::from(numerator), U512::from(denominator));
        let (mut i, mut output, mut acc) = (U512::from(1), U512::ZERO, d);
        while acc > U512::ZERO {
            output += acc;
            acc = acc * n / (d * i);
            i += U512::from(1);
        }
        output / d
    }

    /// The blob base fee, or `None` if it does not fit 128 bits (Keel refuses those).
    pub fn blob_base_fee(chain_id: u64, pectra: Option<u64>, h: &Header) -> Option<u128> {
        let Some(excess) = h.excess_blob_gas else {
            return Some(1);
        };
        let fraction = if pectra.is_some_and(|p| h.timestamp < p) {
            3338477
        } else if let Some((_, s)) = SCHEDULES.iter().find(|(id, _)| *id == chain_id) {
            s.iter().rev().find(|(a, _)| h.timestamp >= *a).map(|(_, f)| *f).unwrap_or(3338477)
        } else if h.requests_hash.is_some() {
            5007716
        } else {
            3338477
        };
        u128::try_from(fake_exponential(excess, fraction)).ok()
    }

    /// op-node `EcotoneScalars`: (blob base fee scalar, base fee scalar) or an error.
    pub fn scalars(scalar: U256) -> Option<(u32, u32)> {
        let s = scalar.to_be_bytes::<32>();
        let u = |i: usize| u32::from_be_bytes(s[i..i + 4].try_into().unwrap());
        match s[0] {
            0 if s[1..28] != [0u8; 27] => Some((0, u32::MAX)),
            0 => Some((0, u(28))),
            1 if s[1..24] == [0u8; 23] => Some((u(24), u(28))),
            _ => None,
        }
    }

    fn word(v: impl Into<U256>) -> [u8; 32] {
        v.into().to_be_bytes::<32>()
    }

    /// The L1 info calldata, or `None` where Keel must fail.
    #[allow(clippy::too_many_arguments)]
    pub fn l1_info_calldata(
        times: &[Option<u64>; 10],
        chain_id: u64,
        pectra: Option<u64>,
        sys: &SystemConfig,
        seq: u64,
        h: &Header,
        hash: B256,
        t: u64,
    ) -> Option<Vec<u8>> {
        let (selector, len) = format(times, t);
        let mut d = selector.to_vec();
        let base_fee = h.base_fee_per_gas.unwrap_or(0);
        if len == 260 {
            d.extend(word(U256::from(h.number)));
            d.extend(word(U256::from(h.timestamp)));
            d.extend(word(U256::from(base_fee)));
            d.extend(hash);
            d.extend(word(U256::from(seq)));
            d.extend([0u8; 12]);
            d.extend(sys.batcher_address);
            d.extend(word(sys.overhead));
            d.extend(word(sys.scalar));
            return Some(d);
        }
        let (blob_scalar, base_scalar) = scalars(sys.scalar)?;
        let blob_fee = blob_base_fee(chain_id, pectra, h)?;
        d.extend(base_scalar.to_be_bytes());
        d.extend(blob_scalar.to_be_bytes());
        d.extend(seq.to_be_bytes());
        d.extend(h.timestamp.to_be_bytes());
        d.extend(h.number.to_be_bytes());
        d.extend(word(U256::from(base_fee)));
        d.extend(word(U256::from(blob_fee)));
        d.extend(hash);
        d.extend([0u8; 12]);
        d.extend(sys.batcher_address);
        if len >= 176 {
            d.extend(sys.operator_fee_scalar.to_be_bytes());
            d.extend(sys.operator_fee_constant.to_be_bytes());
        }
        if len == 178 {
            let s = if sys.da_footprint_gas_scalar == 0 { 400 } else { sys.da_footprint_gas_scalar };
            d.extend(s.to_be_bytes());
        }
        assert_eq!(d.len(), len);
        Some(d)
    }

    /// Upgrade transaction hashes per activating fork (VECTORS.md §2.2 and §4), in op-node's order.
    pub fn upgrade_hashes(times: &[Option<u64>; 10], t: u64) -> Vec<B256> {
        let mut out = Vec::new();
        if activation(times, ECOTONE, t) {
            out.extend([
                b256!("0x50549bed9a83ba7238893970780b458ed3d543f299d6f69f7a5d0b32d7cd71a7"),
                b256!("0xf8e8dd83c100c9eb137fa372cdda2cf854f79b6e8cfc604c5e54d970c05cb6dc"),
                b256!("0x9f2b2d34dfa2cb55cceb9860cade0cb03cfbd7ff1dd07d48b4708b29a46b4a24"),
                b256!("0xedbfdad1f44ea830b863eac45eca4408398351b30511826012882059625963d2"),
                b256!("0x91f762393442ac507c6852211b62445d82c9b58bae34726ecef2f10b4156f027"),
                b256!("0x5b7915f2a55ce67519e6d8f65248918f4e62f545706af2bf02549bb9782c03f3"),
            ]);
        }
        if activation(times, FJORD, t) {
            out.extend([
                b256!("0xaafd55b14e021a2c04628606e42dbe58cc9c86b6ed695a8b9ccf258e28963e5e"),
                b256!("0x2f63bbe08a66796dde569281a58a53e0b0f64b7aa067297e9c70455fb8e375bc"),
                b256!("0x7cedc4f1c428928cdfb9b340bda3060102c71ad23f982678471b222ba8a756e1"),
            ]);
        }
        if activation(times, ISTHMUS, t) {
            out.extend([
                b256!("0x4557f1142fedd52d571b070a290aa8683a03f7aac7929967858af7aab48cd4cc"),
                b256!("0x9412bd3fa72eb1dbec94fd2297d44a8b86cb1f55966324e6cc7d57decc92c1f6"),
                b256!("0xa9e6286eadd53ecf7bb2bff668c4fcb62305a8b3e4b584c30f7d4f90046ee75e"),
                b256!("0xe992e00998b34075506d2726a274db07a62af6cdd9d527bfda9128114603cfbd"),
                b256!("0xb6560306ccb0e772b132a8a6dd78244c0d7ac270c80baba40f95006184926c30"),
                b256!("0xf162acc8ebbaf9237755736b62331a4817fe27bbbe3712f473ecfa8fee499f7c"),
                b256!("0xbf2fef09f73279373fce8acd2968ca4fd1d10ba88bf10993b6a69c33d913f01b"),
                b256!("0xf3ddde30514a8d00b0b92f14b9ce6b3170ea30f5f45b1afdc0905801134ffefe"),
            ]);
        }
        if activation(times, JOVIAN, t) {
            out.extend([
                b256!("0x0bad46dcef609affe3d306a9ce6239a1f3ec59673943a4c533eb20459950f542"),
                b256!("0xcd60191626fa3124e7031235c52f0adf6be545ebbd7cf55641bd9dabcbedaf6a"),
                b256!("0x675febfc848d9b30f27dce1aabb6572d1de80c9eaa75773ac2106eeea7ff3aff"),
                b256!("0xc7c01d75d0b6950fcd30b448cba848e9841ab9ebb6b46eed9ecde4ba05ad0fd9"),
                b256!("0x159d785e90a42f3b9a4d3b9fd4ab69e7c0edec3122cb2e767f3a66aba8f3e664"),
            ]);
        }
        if activation(times, KARST, t) {
            for (i, (intent, from, to, gas, data)) in karst_nuts().into_iter().enumerate() {
                // Source hash domain 2 over the qualified intent.
                let mut pre = [0u8; 64];
                pre[31] = 2;
                pre[32..].copy_from_slice(keccak256(format!("Karst {i}: {intent}")).as_slice());
                out.push(keccak256(deposit(keccak256(pre), from, to, gas, false, &data)));
            }
        }
        out
    }

    /// op-node `sequencer.go`: the activation blocks that exclude the pool.
    pub fn upgrade_block_without_txs(times: &[Option<u64>; 10], t: u64) -> bool {
        [ECOTONE, FJORD, ISTHMUS, JOVIAN, KARST].iter().any(|f| activation(times, *f, t))
    }

    pub struct Expected {
        /// Everything but the upgrade transactions (compared by hash).
        pub attrs: Attributes,
        pub upgrade_hashes: Vec<B256>,
    }

    /// op-node `PreparePayloadAttributes` (with the sequencer's `noTxPool`), or `None` where Keel must fail.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        times: &[Option<u64>; 10],
        chain_id: u64,
        pectra: Option<u64>,
        sys: &SystemConfig,
        origin: &Header,
        seq: u64,
        t: u64,
        no_tx_pool: bool,
        deposits: &[Bytes],
    ) -> Option<Expected> {
        let hash = origin.hash_slow(); // header hashing is not under test
        let data = l1_info_calldata(times, chain_id, pectra, sys, seq, origin, hash, t)?;
        let mut payload = [0u8; 64];
        payload[..32].copy_from_slice(hash.as_slice());
        payload[56..].copy_from_slice(&seq.to_be_bytes());
        let mut pre = [0u8; 64];
        pre[31] = 1;
        pre[32..].copy_from_slice(keccak256(payload).as_slice());
        let regolith = active(times, REGOLITH, t);
        let l1_info = deposit(
            keccak256(pre),
            address!("0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001"),
            address!("0x4200000000000000000000000000000000000015"),
            if regolith { 1_000_000 } else { 150_000_000 },
            !regolith,
            &data,
        );
        let mut transactions = vec![Bytes::from(l1_info)];
        if seq == 0 {
            transactions.extend_from_slice(deposits);
        }
        let mut eip = [0u8; 8];
        eip[..4].copy_from_slice(&sys.eip1559_denominator.to_be_bytes());
        eip[4..].copy_from_slice(&sys.eip1559_elasticity.to_be_bytes());
        let op = OpPayloadAttributes {
            payload_attributes: PayloadAttributes {
                timestamp: t,
                prev_randao: origin.mix_hash,
                suggested_fee_recipient: address!("0x4200000000000000000000000000000000000011"),
                withdrawals: active(times, CANYON, t).then(Vec::new),
                parent_beacon_block_root: active(times, ECOTONE, t)
                    .then(|| origin.parent_beacon_block_root.unwrap_or(B256::ZERO)),
            },
            transactions: Some(transactions),
            no_tx_pool: Some(no_tx_pool),
            gas_limit: Some(sys.gas_limit + karst_gas(times, t)),
            eip_1559_params: active(times, HOLOCENE, t).then_some(B64::from(eip)),
        };
        Some(Expected {
            attrs: Attributes { op, min_base_fee: active(times, JOVIAN, t).then_some(sys.min_base_fee) },
            upgrade_hashes: upgrade_hashes(times, t),
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Generators.

fn fork_times() -> impl Strategy<Value = [Option<u64>; 10]> {
    // How many forks are scheduled (in order), then non-decreasing activation times, some unaligned to blocks.
    // Half the cases schedule every fork, so late-fork boundaries are hit as often as early ones.
    (prop_oneof![0usize..=10, Just(10usize)], prop::collection::vec(0u64..6, 10)).prop_map(|(n, gaps)| {
        let mut times = [None; 10];
        let mut t = 0;
        for (slot, gap) in times.iter_mut().zip(gaps).take(n) {
            t += gap;
            *slot = Some(t);
        }
        times
    })
}

fn u256_small() -> impl Strategy<Value = U256> {
    any::<u64>().prop_map(U256::from)
}

fn scalar() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u32>().prop_map(U256::from),
        (any::<u32>(), any::<u32>())
            .prop_map(|(blob, base)| { U256::from(1u8) << 248 | U256::from(blob) << 32 | U256::from(base) }),
        any::<u64>().prop_map(|x| U256::from(x) << 64), // version 0 with non-empty padding: u32::MAX
        (1u8..=3, any::<u64>()).prop_map(|(v, x)| U256::from(v) << 248 | U256::from(x) << 192), // bad padding/version
    ]
}

fn system_config() -> impl Strategy<Value = SystemConfig> {
    (
        any::<[u8; 20]>(),
        u256_small(),
        scalar(),
        any::<u64>(),
        prop_oneof![Just((0u32, 0u32)), (1u32.., any::<u32>())],
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        prop_oneof![Just(0u16), any::<u16>()],
    )
        .prop_map(|(b, overhead, scalar, gas_limit, (d, e), ofs, ofc, mbf, da)| SystemConfig {
            batcher_address: Address::from(b),
            overhead,
            scalar,
            gas_limit,
            eip1559_denominator: d,
            eip1559_elasticity: e,
            operator_fee_scalar: ofs,
            operator_fee_constant: ofc,
            min_base_fee: mbf,
            da_footprint_gas_scalar: da,
        })
}

/// L1 times around the blob schedule boundaries of the known chains.
fn l1_time() -> impl Strategy<Value = u64> {
    prop_oneof![
        1_700_000_000u64..1_780_000_000,
        prop::sample::select(vec![
            1_710_338_135u64,
            1_746_612_311,
            1_765_290_071,
            1_767_747_671,
            1_761_017_184,
            1_761_607_008,
            1_759_800_000,
            1_762_955_544,
        ])
        .prop_flat_map(|t| (t - 2)..(t + 2)),
    ]
}

fn origin_header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        l1_time(),
        prop::option::of(any::<u64>()),
        any::<[u8; 32]>(),
        prop::option::of(any::<[u8; 32]>()),
        prop::option::of(0u64..400_000_000),
        any::<bool>(),
    )
        .prop_map(|(number, timestamp, base_fee, mix, beacon, excess, prague)| Header {
            number,
            timestamp,
            base_fee_per_gas: base_fee,
            mix_hash: B256::from(mix),
            parent_beacon_block_root: beacon.map(B256::from),
            excess_blob_gas: excess,
            blob_gas_used: excess.map(|_| 0),
            requests_hash: prague.then_some(B256::ZERO),
            ..Default::default()
        })
}

#[derive(Debug, Clone)]
struct Case {
    times: [Option<u64>; 10],
    chain_id: u64,
    pectra: Option<u64>,
    sys: SystemConfig,
    origin: Header,
    seq: u64,
    n: u64,
    no_tx_pool: bool,
    deposits: Vec<Bytes>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        fork_times(),
        prop::sample::select(vec![1u64, 11_155_111, 17_000, 560_048, 900]),
        prop::option::of(1_740_000_000u64..1_780_000_000),
        system_config(),
        origin_header(),
        0u64..4,
        1u64..40,
        any::<bool>(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from), 0..3),
    )
        .prop_map(|(times, chain_id, pectra, sys, origin, seq, n, no_tx_pool, deposits)| Case {
            times,
            chain_id,
            pectra,
            sys,
            origin,
            seq,
            n,
            no_tx_pool,
            deposits,
        })
}

fn parent_of(n: u64, origin: &L1Block, seq: u64) -> L2BlockRef {
    L2BlockRef {
        hash: B256::repeat_byte(0xaa),
        number: n - 1,
        parent_hash: B256::repeat_byte(0xbb),
        time_ms: (n - 1) * BLOCK_TIME * 1000,
        l1_origin: if seq == 0 { BlockNumHash::default() } else { origin.info.id() },
        seq_num: seq.saturating_sub(1),
    }
}

fn keel(c: &Case, rollup: &Rollup) -> Result<Attributes, attributes::AttributesError> {
    let origin = L1Block::from_header(c.origin.clone());
    let parent = parent_of(c.n, &origin, c.seq);
    attributes::build(&AttributesInput {
        rollup,
        system_config: &c.sys,
        parent: &parent,
        origin: &origin,
        seq_num: c.seq,
        timestamp: c.n * BLOCK_TIME,
        no_tx_pool: c.no_tx_pool,
        deposits: &c.deposits,
        receipts: &[],
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Keel's attributes equal the reference's, field by field and byte by byte, across all forks; Keel fails
    /// exactly where op-node would (invalid Ecotone scalar) or where the blob fee exceeds 128 bits.
    #[test]
    fn attributes_match_the_reference(c in case()) {
        let rollup = rollup_with(&c.times, c.chain_id, c.pectra);
        let t = c.n * BLOCK_TIME;
        let got = keel(&c, &rollup);
        let want = reference::build(&c.times, c.chain_id, c.pectra, &c.sys, &c.origin, c.seq, t, c.no_tx_pool, &c.deposits);
        match (got, want) {
            (Ok(mut got), Some(want)) => {
                let txs = got.op.transactions.as_mut().unwrap();
                let upgrades: Vec<B256> = txs.split_off(txs.len() - want.upgrade_hashes.len()).iter().map(keccak256).collect();
                prop_assert_eq!(upgrades, want.upgrade_hashes);
                prop_assert_eq!(got, want.attrs);
            }
            (Err(_), None) => {}
            (got, want) => prop_assert!(false, "keel {:?} vs reference ok={}", got.map(|_| ()), want.is_some()),
        }
        prop_assert_eq!(
            attributes::is_upgrade_block_without_txs(&rollup, t),
            reference::upgrade_block_without_txs(&c.times, t)
        );
    }

    /// What op-node reconstructs from a block built by Keel (`from_l2_block`, reading the L1 info deposit and an
    /// engine-written extraData) equals `after_block` of the config it was built with.
    #[test]
    fn reconstruction_matches_after_block(c in case()) {
        let rollup = rollup_with(&c.times, c.chain_id, c.pectra);
        let t = c.n * BLOCK_TIME;
        let Ok(a) = keel(&c, &rollup) else { return Ok(()) };
        // The engine: zero EIP-1559 parameters become the chain's defaults in extraData.
        let (d, e) = match (c.sys.eip1559_denominator, c.sys.eip1559_elasticity) {
            (0, _) => keel_core::system_config::default_eip1559(&rollup),
            p => p,
        };
        let mut extra = Vec::new();
        if rollup.is_jovian_active(t) {
            extra.push(1);
            extra.extend(d.to_be_bytes());
            extra.extend(e.to_be_bytes());
            extra.extend(a.min_base_fee.unwrap().to_be_bytes());
        } else if rollup.is_holocene_active(t) {
            extra.push(0);
            extra.extend(d.to_be_bytes());
            extra.extend(e.to_be_bytes());
        }
        let txs = a.op.transactions.unwrap();
        let block = L2BlockFacts {
            number: c.n + 1000,
            hash: B256::repeat_byte(0xcc),
            timestamp: t,
            gas_limit: a.op.gas_limit.unwrap(),
            extra_data: &extra,
            first_tx: Some(&txs[0]),
        };
        let rebuilt = SystemConfig::from_l2_block(&rollup, &block).unwrap();
        prop_assert_eq!(rebuilt, c.sys.after_block(&rollup, t));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Fork boundaries: the block before, at and after each activation.

/// Each fork of Regolith…Karst activates 100 s after the previous one (blocks every 2 s from genesis at 0).
fn staggered() -> Rollup {
    let t = |i: u64| Some(100 * (i + 1));
    rollup_with(&[t(0), t(1), t(2), t(3), t(4), t(5), t(6), t(7), t(8), t(9)], 1, None)
}

#[derive(Debug, PartialEq)]
struct Row {
    format: L1InfoFormat,
    l1_info_gas: u64,
    upgrade_txs: usize,
    withdrawals: bool,
    beacon_root: bool,
    eip1559: Option<B64>,
    min_base_fee: Option<u64>,
    pool_excluded: bool,
}

#[test]
fn fork_boundary_table() {
    use L1InfoFormat::*;
    const P: u64 = 150_000_000; // pre-Regolith system tx gas
    const R: u64 = 1_000_000;
    let e = B64::from([0, 0, 0, 250, 0, 0, 0, 6]);
    let z = Some(B64::ZERO);
    #[rustfmt::skip]
    let table: [(&str, u64, Row); 30] = [
        ("regolith-1",  98, Row { format: Bedrock, l1_info_gas: P, upgrade_txs: 0, withdrawals: false, beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("regolith",   100, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: false, beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("regolith+1", 102, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: false, beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("canyon-1",   198, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: false, beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("canyon",     200, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("canyon+1",   202, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("delta-1",    298, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("delta",      300, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("delta+1",    302, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("ecotone-1",  398, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: false, eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("ecotone",    400, Row { format: Bedrock, l1_info_gas: R, upgrade_txs: 6, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: true }),
        ("ecotone+1",  402, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("fjord-1",    498, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("fjord",      500, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 3, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: true }),
        ("fjord+1",    502, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("granite-1",  598, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("granite",    600, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("granite+1",  602, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("holocene-1", 698, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: None, min_base_fee: None, pool_excluded: false }),
        ("holocene",   700, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: z,    min_base_fee: None, pool_excluded: false }),
        ("holocene+1", 702, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: None, pool_excluded: false }),
        ("isthmus-1",  798, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: None, pool_excluded: false }),
        ("isthmus",    800, Row { format: Ecotone, l1_info_gas: R, upgrade_txs: 8, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: None, pool_excluded: true }),
        ("isthmus+1",  802, Row { format: Isthmus, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: None, pool_excluded: false }),
        ("jovian-1",   898, Row { format: Isthmus, l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: None, pool_excluded: false }),
        ("jovian",     900, Row { format: Isthmus, l1_info_gas: R, upgrade_txs: 5, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: Some(0), pool_excluded: true }),
        ("jovian+1",   902, Row { format: Jovian,  l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: Some(7), pool_excluded: false }),
        ("karst-1",    998, Row { format: Jovian,  l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: Some(7), pool_excluded: false }),
        ("karst",     1000, Row { format: Jovian,  l1_info_gas: R, upgrade_txs: 31, withdrawals: true, beacon_root: true,  eip1559: Some(e), min_base_fee: Some(7), pool_excluded: true }),
        ("karst+1",   1002, Row { format: Jovian,  l1_info_gas: R, upgrade_txs: 0, withdrawals: true,  beacon_root: true,  eip1559: Some(e), min_base_fee: Some(7), pool_excluded: false }),
    ];
    let rollup = staggered();
    // The SystemConfig as the state machine carries it: genesis values, reconstructed from each parent.
    let genesis = SystemConfig {
        batcher_address: Address::repeat_byte(0xba),
        scalar: U256::from(684_000),
        gas_limit: 30_000_000,
        eip1559_denominator: 250,
        eip1559_elasticity: 6,
        min_base_fee: 7,
        ..Default::default()
    };
    let origin = L1Block::from_header(Header {
        number: 5,
        timestamp: 1_700_000_000,
        mix_hash: B256::repeat_byte(0x11),
        parent_beacon_block_root: Some(B256::repeat_byte(0x22)),
        ..Default::default()
    });
    for (name, t, want) in table {
        let sys = genesis.after_block(&rollup, t - BLOCK_TIME);
        let parent = parent_of(t / BLOCK_TIME, &origin, 1);
        let a = attributes::build(&AttributesInput {
            rollup: &rollup,
            system_config: &sys,
            parent: &parent,
            origin: &origin,
            seq_num: 1,
            timestamp: t,
            no_tx_pool: false,
            deposits: &[],
            receipts: &[],
        })
        .unwrap();
        let txs = a.op.transactions.as_ref().unwrap();
        let env =
            <op_alloy_consensus::OpTxEnvelope as alloy_eips::eip2718::Decodable2718>::decode_2718(&mut txs[0].as_ref())
                .unwrap();
        let l1_info = env.as_deposit().unwrap();
        let input = l1_info.input.as_ref();
        let format = [Bedrock, Ecotone, Isthmus, Jovian]
            .into_iter()
            .find(|f| input[..4] == f.selector() && input.len() == f.calldata_len())
            .unwrap_or_else(|| panic!("{name}: unknown L1 info format"));
        let got = Row {
            format,
            l1_info_gas: l1_info.gas_limit,
            upgrade_txs: txs.len() - 1,
            withdrawals: a.op.payload_attributes.withdrawals.is_some(),
            beacon_root: a.op.payload_attributes.parent_beacon_block_root.is_some(),
            eip1559: a.op.eip_1559_params,
            min_base_fee: a.min_base_fee,
            pool_excluded: attributes::is_upgrade_block_without_txs(&rollup, t),
        };
        assert_eq!(got, want, "{name} (t={t})");
        assert_eq!(l1_info.is_system_transaction, t < 100, "{name}: system tx only before Regolith");
    }
}

/// The Interop activation block excludes the pool, and its upgrade transactions are refused (see `upgrades`).
#[test]
fn interop_activation_is_refused() {
    let mut rollup = staggered();
    rollup.lagoon_time = Some(1100);
    assert!(rollup.validate().is_err(), "a config activating Lagoon never reaches the builder");
    assert!(attributes::is_upgrade_block_without_txs(&rollup, 1100));
    assert!(!attributes::is_upgrade_block_without_txs(&rollup, 1102));
    assert!(keel_core::upgrades::upgrade_transactions(&rollup, 1100).is_err());
    assert_eq!(keel_core::upgrades::upgrade_transactions(&rollup, 1102), Ok(vec![]));
    assert_eq!(L1InfoFormat::at(&rollup, 1102), L1InfoFormat::Jovian, "Lagoon keeps the Jovian format");
}

/// The engine API JSON names of every field (op-geth `PayloadAttributes`, op-node `eth.PayloadAttributes`).
#[test]
fn json_field_names() {
    let rollup = staggered();
    let origin = L1Block::from_header(Header { number: 5, timestamp: 1_700_000_000, ..Default::default() });
    let sys = SystemConfig {
        gas_limit: 30_000_000,
        eip1559_denominator: 250,
        eip1559_elasticity: 6,
        min_base_fee: 0x10,
        ..Default::default()
    };
    let a = attributes::build(&AttributesInput {
        rollup: &rollup,
        system_config: &sys,
        parent: &parent_of(451, &origin, 1),
        origin: &origin,
        seq_num: 1,
        timestamp: 902,
        no_tx_pool: true,
        deposits: &[],
        receipts: &[],
    })
    .unwrap();
    let v = serde_json::to_value(&a).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "eip1559Params",
            "gasLimit",
            "minBaseFee",
            "noTxPool",
            "parentBeaconBlockRoot",
            "prevRandao",
            "suggestedFeeRecipient",
            "timestamp",
            "transactions",
            "withdrawals"
        ]
    );
    assert_eq!(v["timestamp"], "0x386");
    assert_eq!(v["gasLimit"], "0x1c9c380");
    assert_eq!(v["eip1559Params"], "0x000000fa00000006");
    assert_eq!(v["minBaseFee"], 16, "a JSON number, as op-node sends it");
    assert_eq!(v["noTxPool"], true);
    assert_eq!(v["suggestedFeeRecipient"], "0x4200000000000000000000000000000000000011");
    let back: Attributes = serde_json::from_value(v).unwrap();
    assert_eq!(back, a);
    // And the transaction list, re-encoded, is what the builder produced.
    assert_eq!(back.op.transactions.unwrap()[0], a.op.transactions.as_ref().unwrap()[0]);
}
