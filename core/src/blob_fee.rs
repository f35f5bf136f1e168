//! The L1 blob base fee the L1 info deposit carries (EIP-4844 `fake_exponential`, EIP-7691 and EIP-7892 update
//! fractions), and which fraction an L1 chain uses when (op-node `BlobBaseFee(l1ChainConfig)`).
//!
//! Pure. A wrong fraction gives a different L1 info deposit than validators derive, so the unsafe chain would be
//! reorged: the schedule of every L1 Keel runs on is either built in or read from an L1 chain config.

use alloy_primitives::U256;

/// EIP-4844 `BLOB_BASE_FEE_UPDATE_FRACTION` of Cancun.
pub const CANCUN_UPDATE_FRACTION: u64 = 3_338_477;
/// Prague's (EIP-7691); Osaka keeps it.
pub const PRAGUE_UPDATE_FRACTION: u64 = 5_007_716;
/// BPO1 (EIP-7892 blob-parameter-only fork).
pub const BPO1_UPDATE_FRACTION: u64 = 8_346_193;
/// BPO2.
pub const BPO2_UPDATE_FRACTION: u64 = 11_684_671;

/// Blob fee update fraction by activation time, for the L1 chains whose schedule Keel knows. Times are
/// go-ethereum's `params/config.go` (Cancun, Prague, Osaka, BPO1, BPO2). A new BPO fork on L1 must be added here
/// before it activates, or the L1 info deposit's blob base fee diverges from op-node's; other L1s are configured
/// with an L1 chain config file (`--rollup.l1-chain-config`).
/// One known L1: chain id, name, and its five blob forks as (activation time, update fraction).
type KnownSchedule = (u64, &'static str, [(u64, u64); 5]);

const KNOWN_BLOB_SCHEDULES: [KnownSchedule; 4] = [
    (
        1,
        "Ethereum mainnet",
        [
            (1_710_338_135, CANCUN_UPDATE_FRACTION),
            (1_746_612_311, PRAGUE_UPDATE_FRACTION),
            (1_764_798_551, PRAGUE_UPDATE_FRACTION),
            (1_765_290_071, BPO1_UPDATE_FRACTION),
            (1_767_747_671, BPO2_UPDATE_FRACTION),
        ],
    ),
    (
        11_155_111,
        "Sepolia",
        [
            (1_706_655_072, CANCUN_UPDATE_FRACTION),
            (1_741_159_776, PRAGUE_UPDATE_FRACTION),
            (1_760_427_360, PRAGUE_UPDATE_FRACTION),
            (1_761_017_184, BPO1_UPDATE_FRACTION),
            (1_761_607_008, BPO2_UPDATE_FRACTION),
        ],
    ),
    (
        17_000,
        "Holesky",
        [
            (1_707_305_664, CANCUN_UPDATE_FRACTION),
            (1_740_434_112, PRAGUE_UPDATE_FRACTION),
            (1_759_308_480, PRAGUE_UPDATE_FRACTION),
            (1_759_800_000, BPO1_UPDATE_FRACTION),
            (1_760_389_824, BPO2_UPDATE_FRACTION),
        ],
    ),
    (
        560_048,
        "Hoodi",
        [
            (0, CANCUN_UPDATE_FRACTION),
            (1_742_999_832, PRAGUE_UPDATE_FRACTION),
            (1_761_677_592, PRAGUE_UPDATE_FRACTION),
            (1_762_365_720, BPO1_UPDATE_FRACTION),
            (1_762_955_544, BPO2_UPDATE_FRACTION),
        ],
    ),
];

/// The L1 chain's blob base fee update fraction over time (op-node passes geth's L1 `params.ChainConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobSchedule {
    /// `(activation time, update fraction)` of every blob fork, ascending by time: a known L1 chain's, or one read
    /// from an L1 chain config file.
    Forks {
        /// Where the schedule comes from (for logs): the chain's name or the file.
        source: String,
        /// The forks, ascending by time.
        forks: Vec<(u64, u64)>,
    },
    /// An L1 nobody described (a devnet): Prague's fraction when the header carries a requests hash, else Cancun's
    /// (kona's rule). Wrong on any L1 past a BPO fork; said at startup.
    Inferred,
}

impl BlobSchedule {
    /// The schedule Keel carries for `l1_chain_id`, or [`BlobSchedule::Inferred`].
    pub fn for_l1_chain(l1_chain_id: u64) -> Self {
        match KNOWN_BLOB_SCHEDULES.iter().find(|(id, _, _)| *id == l1_chain_id) {
            Some((_, name, forks)) => Self::Forks { source: format!("{name} (built in)"), forks: forks.to_vec() },
            None => Self::Inferred,
        }
    }

    /// The fraction in force for an L1 header at `time` that carries excess blob gas.
    pub fn update_fraction(&self, time: u64, has_requests_hash: bool) -> u64 {
        match self {
            // Blob headers predate the first fork only on a misconfigured chain; Cancun's is the least surprising.
            Self::Forks { forks, .. } => {
                forks.iter().rev().find(|(at, _)| time >= *at).map_or(CANCUN_UPDATE_FRACTION, |(_, f)| *f)
            }
            Self::Inferred if has_requests_hash => PRAGUE_UPDATE_FRACTION,
            Self::Inferred => CANCUN_UPDATE_FRACTION,
        }
    }

    /// One line for the startup log: which schedule is assumed.
    pub fn describe(&self) -> String {
        match self {
            Self::Forks { source, forks } => {
                let list: Vec<String> = forks.iter().map(|(t, f)| format!("{f}@{t}")).collect();
                format!("blob fee update fractions from {source}: {}", list.join(", "))
            }
            Self::Inferred => format!(
                "no blob schedule known for this L1 and no --rollup.l1-chain-config given: assuming Prague's fraction \
                 {PRAGUE_UPDATE_FRACTION} for headers with a requests hash, else Cancun's {CANCUN_UPDATE_FRACTION} \
                 (wrong past any BPO fork)"
            ),
        }
    }
}

/// EIP-4844 `fake_exponential(1, excess, fraction)` with go-ethereum's unbounded arithmetic, in 256 bits with
/// overflow detection (alloy's 128-bit version silently truncates the series on overflow).
pub fn blob_fee(excess_blob_gas: u64, update_fraction: u64) -> Option<u128> {
    let numerator = U256::from(excess_blob_gas);
    let denominator = U256::from(update_fraction);
    let mut output = U256::ZERO;
    let mut accum = denominator; // factor (MIN_BASE_FEE_PER_BLOB_GAS = 1) * denominator
    let mut i = U256::from(1u8);
    while !accum.is_zero() {
        output = output.checked_add(accum)?;
        accum = accum.checked_mul(numerator)? / denominator.checked_mul(i)?;
        i += U256::from(1u8);
    }
    u128::try_from(output / denominator).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_fee_matches_go_ethereum_and_alloy_in_range() {
        // op-node `TestStripBPOBlobBaseFee`: Sepolia L1 block 10253939, excess 226664020, Prague fraction.
        assert_eq!(blob_fee(226_664_020, PRAGUE_UPDATE_FRACTION), Some(45_441_352_348_192_177_559));
        for (excess, fraction) in
            [(0, CANCUN_UPDATE_FRACTION), (82_706_432, CANCUN_UPDATE_FRACTION), (1 << 27, BPO2_UPDATE_FRACTION)]
        {
            let alloy = alloy_eips::eip4844::fake_exponential(1, excess as u128, fraction as u128);
            assert_eq!(blob_fee(excess, fraction), Some(alloy));
        }
        assert_eq!(blob_fee(0, CANCUN_UPDATE_FRACTION), Some(1));
        assert_eq!(blob_fee(u64::MAX, CANCUN_UPDATE_FRACTION), None, "overflow is reported, not truncated");
    }

    #[test]
    fn known_schedules_are_ordered() {
        for (id, _, schedule) in KNOWN_BLOB_SCHEDULES {
            assert!(schedule.windows(2).all(|w| w[0].0 < w[1].0), "chain {id}");
        }
    }

    #[test]
    fn schedule_boundaries() {
        // Ethereum mainnet, each fork's first second and the second before it (go-ethereum params/config.go).
        let s = BlobSchedule::for_l1_chain(1);
        for (t, f) in [
            (1_746_612_310, CANCUN_UPDATE_FRACTION),
            (1_746_612_311, PRAGUE_UPDATE_FRACTION),
            (1_765_290_070, PRAGUE_UPDATE_FRACTION),
            (1_765_290_071, BPO1_UPDATE_FRACTION),
            (1_767_747_670, BPO1_UPDATE_FRACTION),
            (1_767_747_671, BPO2_UPDATE_FRACTION),
        ] {
            assert_eq!(s.update_fraction(t, true), f, "mainnet at {t}");
        }
        let s = BlobSchedule::for_l1_chain(11_155_111);
        assert_eq!(s.update_fraction(1_761_017_183, true), PRAGUE_UPDATE_FRACTION);
        assert_eq!(s.update_fraction(1_761_017_184, true), BPO1_UPDATE_FRACTION);
        assert_eq!(s.update_fraction(1_761_607_008, false), BPO2_UPDATE_FRACTION, "the header's shape is ignored");
        let s = BlobSchedule::for_l1_chain(900);
        assert_eq!(s, BlobSchedule::Inferred);
        assert_eq!(s.update_fraction(2_000_000_000, true), PRAGUE_UPDATE_FRACTION);
        assert_eq!(s.update_fraction(2_000_000_000, false), CANCUN_UPDATE_FRACTION);
        assert!(s.describe().contains("assuming Prague"), "{}", s.describe());
    }
}
