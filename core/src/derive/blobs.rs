//! Batcher data carried in EIP-4844 blobs (the OP blob encoding, version 0; op-node `eth.Blob`).
//!
//! A blob is 4096 field elements of 32 bytes. The encoding works in 1024 rounds of four field elements: each round
//! carries 127 bytes of data, four 31-byte chunks in bytes 1..32 of the field elements and three more bytes split into
//! four 6-bit pieces in their first bytes (whose top two bits stay clear, keeping every element below the field
//! modulus). The first field element's bytes 1..5 hold the version (0) and the data length as a big-endian 24-bit
//! number, so it carries 27 bytes of data. Decoding refuses a wrong version, a length over the maximum, set top bits,
//! and any non-zero byte after the data: each of those makes the blob's data unusable, as in op-node.

/// Bytes in a blob.
pub const BLOB_SIZE: usize = 4096 * 32;
/// Most data bytes one blob carries.
pub const MAX_BLOB_DATA_SIZE: usize = (4 * 31 + 3) * 1024 - 4;
const ROUNDS: usize = 1024;
const ENCODING_VERSION: u8 = 0;

/// Why a blob's data cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// Not 131,072 bytes.
    #[error("blob is {0} bytes, not {BLOB_SIZE}")]
    Size(usize),
    /// The version byte is not 0.
    #[error("blob encoding version {0}, expected 0")]
    Version(u8),
    /// The length field exceeds what a blob can carry.
    #[error("blob data length {0} exceeds {MAX_BLOB_DATA_SIZE}")]
    Length(usize),
    /// A field element's top two bits are set.
    #[error("field element at byte {0} has its top bits set")]
    FieldElement(usize),
    /// Non-zero bytes after the data.
    #[error("non-zero byte at {0} after the blob's data")]
    Trailing(usize),
    /// More data than one blob carries (encoding).
    #[error("{0} bytes do not fit in one blob (max {MAX_BLOB_DATA_SIZE})")]
    TooLarge(usize),
}

/// The data a blob carries.
pub fn decode_blob(blob: &[u8]) -> Result<Vec<u8>, BlobError> {
    if blob.len() != BLOB_SIZE {
        return Err(BlobError::Size(blob.len()));
    }
    if blob[1] != ENCODING_VERSION {
        return Err(BlobError::Version(blob[1]));
    }
    let len = usize::from(blob[2]) << 16 | usize::from(blob[3]) << 8 | usize::from(blob[4]);
    if len > MAX_BLOB_DATA_SIZE {
        return Err(BlobError::Length(len));
    }
    // Output laid out as op-node does: per round four 31-byte chunks with a one-byte gap after each of the first
    // three; the gaps receive the three re-assembled bytes. Round 0's first chunk is 27 bytes (bytes 0..27).
    // The last round run ends fewer than 127 bytes past `len` (and never past `MAX_BLOB_DATA_SIZE`).
    let mut out = vec![0u8; (len + 127).min(MAX_BLOB_DATA_SIZE + 1)];
    let mut six = [0u8; 4];
    let mut opos = 0usize;
    let mut ipos = 0usize;
    for round in 0..ROUNDS {
        if round > 0 && opos >= len {
            break;
        }
        for (j, piece) in six.iter_mut().enumerate() {
            let fe = &blob[ipos..ipos + 32];
            if fe[0] & 0b1100_0000 != 0 {
                return Err(BlobError::FieldElement(ipos));
            }
            *piece = fe[0];
            if round == 0 && j == 0 {
                out[0..27].copy_from_slice(&fe[5..32]);
                opos = 28;
            } else {
                out[opos..opos + 31].copy_from_slice(&fe[1..32]);
                opos += 32;
            }
            ipos += 32;
        }
        // The 128th position of the round is not output.
        opos -= 1;
        out[opos - 96] = (six[0] & 0b0011_1111) | ((six[1] & 0b0011_0000) << 2);
        out[opos - 64] = (six[1] & 0b0000_1111) | ((six[3] & 0b0000_1111) << 4);
        out[opos - 32] = (six[2] & 0b0011_1111) | ((six[3] & 0b0011_0000) << 2);
    }
    if let Some(i) = out[len..].iter().position(|b| *b != 0) {
        return Err(BlobError::Trailing(len + i));
    }
    if let Some(i) = first_nonzero(&blob[ipos..]) {
        return Err(BlobError::Trailing(ipos + i));
    }
    out.truncate(len);
    Ok(out)
}

/// Index of the first non-zero byte of `bytes`, eight bytes at a time (most of a blob is its zero tail).
pub fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    let words = bytes.chunks_exact(8);
    let rest = words.remainder().len();
    let word = words.map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes"))).position(|w| w != 0);
    let from = word.map_or(bytes.len() - rest, |w| w * 8);
    bytes[from..].iter().position(|b| *b != 0).map(|i| from + i)
}

/// Length of `bytes` without its trailing zeros, eight bytes at a time.
pub fn used_len(bytes: &[u8]) -> usize {
    let zero_words =
        bytes.rchunks_exact(8).take_while(|w| u64::from_ne_bytes((*w).try_into().expect("8 bytes")) == 0).count();
    let end = bytes.len() - zero_words * 8;
    bytes[..end].iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
}

/// `data` as a blob (the batcher's side; the simulator and tests use it).
pub fn encode_blob(data: &[u8]) -> Result<Vec<u8>, BlobError> {
    if data.len() > MAX_BLOB_DATA_SIZE {
        return Err(BlobError::TooLarge(data.len()));
    }
    let mut blob = vec![0u8; BLOB_SIZE];
    let read = std::cell::Cell::new(0usize);
    let take = |n: usize| -> Vec<u8> {
        let mut chunk = vec![0u8; n];
        let at = read.get();
        let end = (at + n).min(data.len());
        if at < end {
            chunk[..end - at].copy_from_slice(&data[at..end]);
        }
        read.set(at + n);
        chunk
    };
    let mut w = 0usize;
    for round in 0..ROUNDS {
        if round > 0 && read.get() >= data.len() {
            break;
        }
        let first: Vec<u8> = if round == 0 {
            let len = data.len();
            let mut c = vec![ENCODING_VERSION, (len >> 16) as u8, (len >> 8) as u8, len as u8];
            c.extend(take(27));
            c
        } else {
            take(31)
        };
        let x = take(1)[0];
        let c1 = take(31);
        let y = take(1)[0];
        let c2 = take(31);
        let z = take(1)[0];
        let c3 = take(31);
        let pieces = [
            x & 0b0011_1111,
            (y & 0b0000_1111) | ((x & 0b1100_0000) >> 2),
            z & 0b0011_1111,
            ((z & 0b1100_0000) >> 2) | ((y & 0b1111_0000) >> 4),
        ];
        for (piece, chunk) in pieces.iter().zip([&first, &c1, &c2, &c3]) {
            blob[w] = *piece;
            blob[w + 1..w + 32].copy_from_slice(chunk);
            w += 32;
        }
    }
    Ok(blob)
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_scans_agree_with_the_bytewise_ones() {
        for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 64, 131_072] {
            for at in [0usize, 1, 6, 7, 8, 9, 15, 16, 63].into_iter().chain([len / 2, len.saturating_sub(1)]) {
                let mut v = vec![0u8; len];
                assert_eq!(super::first_nonzero(&v), None);
                assert_eq!(super::used_len(&v), 0);
                if at < len {
                    v[at] = 1;
                    assert_eq!(super::first_nonzero(&v), v.iter().position(|b| *b != 0), "len {len} at {at}");
                    assert_eq!(super::used_len(&v), at + 1, "len {len} at {at}");
                    v[len - 1] = 2;
                    assert_eq!(super::used_len(&v), len);
                    assert_eq!(super::first_nonzero(&v), Some(at.min(len - 1)));
                }
            }
        }
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_first_field_element_holds_version_length_and_27_bytes() {
        let data: Vec<u8> = (1..=40).collect();
        let blob = encode_blob(&data).unwrap();
        assert_eq!(blob[1], 0, "version");
        assert_eq!(&blob[2..5], &[0, 0, 40], "length, big-endian 24 bits");
        assert_eq!(&blob[5..32], &data[..27], "first 27 data bytes");
        // Byte 27 of the data is split into six-bit pieces: its low six bits lead field element 0, its top two
        // bits go into field element 1's first byte (bits 4..6).
        assert_eq!(blob[0], data[27] & 0x3f);
        assert_eq!(blob[32] & 0b0011_0000, (data[27] & 0xc0) >> 2);
        assert_eq!(&blob[33..45], &data[28..40]);
        assert!(blob[45..].iter().all(|b| *b == 0));
        assert_eq!(decode_blob(&blob).unwrap(), data);
    }

    #[test]
    fn a_full_blob_round_trips_and_every_field_element_stays_below_the_modulus() {
        let data: Vec<u8> = (0..MAX_BLOB_DATA_SIZE).map(|i| (i * 7 + 3) as u8).collect();
        let blob = encode_blob(&data).unwrap();
        assert!(blob.chunks(32).all(|fe| fe[0] & 0xc0 == 0));
        assert_eq!(decode_blob(&blob).unwrap(), data);
        assert_eq!(encode_blob(&[0; MAX_BLOB_DATA_SIZE + 1]), Err(BlobError::TooLarge(MAX_BLOB_DATA_SIZE + 1)));
    }

    #[test]
    fn malformed_blobs_are_refused() {
        let good = encode_blob(b"hello blob").unwrap();
        let mut v = good.clone();
        v[1] = 1;
        assert_eq!(decode_blob(&v), Err(BlobError::Version(1)));
        let mut v = good.clone();
        v[2] = 0xff;
        assert!(matches!(decode_blob(&v), Err(BlobError::Length(_))));
        let mut v = good.clone();
        v[32] |= 0x80;
        assert_eq!(decode_blob(&v), Err(BlobError::FieldElement(32)));
        let mut v = good.clone();
        v[BLOB_SIZE - 1] = 1;
        assert!(matches!(decode_blob(&v), Err(BlobError::Trailing(_))), "data after the length");
        let mut v = good.clone();
        v[20] = 7; // inside field element 0, beyond the 10 data bytes
        assert!(matches!(decode_blob(&v), Err(BlobError::Trailing(_))));
        assert_eq!(decode_blob(&good[..100]), Err(BlobError::Size(100)));
        assert_eq!(decode_blob(&encode_blob(&[]).unwrap()), Ok(Vec::new()));
    }

    proptest! {
        #[test]
        fn any_data_round_trips(data in prop::collection::vec(any::<u8>(), 0..2_000)) {
            prop_assert_eq!(decode_blob(&encode_blob(&data).unwrap()).unwrap(), data);
        }

        #[test]
        fn random_blobs_never_panic(seed in any::<u64>(), flips in prop::collection::vec((0usize..BLOB_SIZE, any::<u8>()), 0..8)) {
            let mut blob = encode_blob(&seed.to_be_bytes()).unwrap();
            for (i, b) in flips {
                blob[i] = b;
            }
            let _ = decode_blob(&blob);
        }
    }
}
