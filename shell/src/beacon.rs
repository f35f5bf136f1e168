//! The L1 beacon node client (blobs for derivation): REST over `ureq`, bounded bodies, the slot of an L1 block from
//! the beacon genesis time and slot duration. Blobs come from `/eth/v1/beacon/blobs/{slot}` (the Fulu API, what
//! op-node asks first), each blob's KZG commitment computed and hashed to the versioned hash its transaction names
//! (`sha256(commitment)` with the first byte replaced by the version, 0x01). A node without that endpoint is asked
//! for `/eth/v1/beacon/blob_sidecars/{slot}`: each sidecar's commitment is hashed the same way, then the blob is
//! checked against it with the sidecar's KZG proof (c-kzg with Ethereum's trusted setup), as op-node's
//! `VerifyBlobProof` does, so a beacon node cannot pass off other data under a right commitment.

use keel_core::{Command, Event, L1BlockRef, RpcError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::Duration;

/// Largest beacon response read (a block's sidecars are ~130 KiB of hex per blob).
pub const MAX_BEACON_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// Version byte of a KZG versioned hash (EIP-4844).
pub const VERSIONED_HASH_VERSION_KZG: u8 = 0x01;
const BLOB_BYTES: usize = 131_072;

/// A beacon API endpoint.
pub struct BeaconClient {
    base: String,
    agent: ureq::Agent,
    /// (genesis time, seconds per slot), read once.
    clock: Option<(u64, u64)>,
    /// The node does not serve `/eth/v1/beacon/blobs` (a beacon node from before the Fulu API): learned once, then
    /// blob sidecars are asked for directly.
    sidecars_only: bool,
}

impl std::fmt::Debug for BeaconClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BeaconClient({})", self.base)
    }
}

fn bad(what: &str, msg: impl std::fmt::Display) -> RpcError {
    RpcError::Transport(format!("beacon {what}: {msg}"))
}

/// The versioned hash of a KZG commitment.
pub fn versioned_hash(commitment: &[u8]) -> alloy_primitives::B256 {
    let mut h: [u8; 32] = Sha256::digest(commitment).into();
    h[0] = VERSIONED_HASH_VERSION_KZG;
    h.into()
}

/// Most blobs read from one `/blobs` response (a block holds at most 21 under BPO2; a node ignoring the filter
/// returns all of them; computing a commitment costs milliseconds, so a hostile answer cannot cost minutes).
pub const MAX_BLOBS_PER_RESPONSE: usize = 128;

/// Ethereum's trusted setup, loaded once, without precomputed tables: they only speed up cell proofs (PeerDAS),
/// which Keel never computes, and alloy's default (precompute 8) costs ~100 MiB of resident memory and seconds of
/// start-up on the first blob.
fn kzg_settings() -> &'static alloy_eips::eip4844::c_kzg::KzgSettings {
    alloy_eips::eip4844::c_kzg::ethereum_kzg_settings(0)
}

/// The KZG commitment of a blob (EIP-4844 `blob_to_kzg_commitment`).
pub fn blob_commitment(blob: &[u8]) -> Result<[u8; 48], String> {
    use alloy_eips::eip4844::c_kzg::Blob;
    let blob = Blob::from_bytes(blob).map_err(|e| format!("blob: {e:?}"))?;
    let c = kzg_settings().blob_to_kzg_commitment(&blob).map_err(|e| format!("not a blob: {e:?}"))?;
    Ok(c.to_bytes().into_inner())
}

/// Checks `blob` against its KZG `commitment` with `proof` (EIP-4844 `verify_blob_kzg_proof`).
pub fn verify_blob_proof(blob: &[u8], commitment: &[u8], proof: &[u8]) -> Result<(), String> {
    use alloy_eips::eip4844::c_kzg::{Blob, Bytes48};
    let blob = Blob::from_bytes(blob).map_err(|e| format!("blob: {e:?}"))?;
    let commitment = Bytes48::from_bytes(commitment).map_err(|e| format!("kzg_commitment: {e:?}"))?;
    let proof = Bytes48::from_bytes(proof).map_err(|e| format!("kzg_proof: {e:?}"))?;
    match kzg_settings().verify_blob_kzg_proof(&blob, &commitment, &proof) {
        Ok(true) => Ok(()),
        Ok(false) => Err("the KZG proof does not open the commitment to this blob".into()),
        Err(e) => Err(format!("KZG verification refused the sidecar: {e:?}")),
    }
}

fn hex(what: &str, v: &Value) -> Result<Vec<u8>, RpcError> {
    let s = v.as_str().ok_or_else(|| bad(what, "not a string"))?;
    crate::codec::hex_bytes(s).ok_or_else(|| bad(what, format!("{} is not 0x-hex", &s[..s.len().min(20)])))
}

fn number(what: &str, v: &Value) -> Result<u64, RpcError> {
    match v {
        Value::String(s) => s.parse().map_err(|_| bad(what, format!("{s:?} is not a number"))),
        Value::Number(n) => n.as_u64().ok_or_else(|| bad(what, "not a u64")),
        _ => Err(bad(what, "missing")),
    }
}

impl BeaconClient {
    /// A client for the beacon API at `base` with a per-request deadline.
    pub fn new(base: &str, timeout: Duration) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(timeout).build();
        Self { base: base.trim_end_matches('/').to_string(), agent, clock: None, sidecars_only: false }
    }

    fn get(&self, path: &str) -> Result<Value, RpcError> {
        self.get_status(path).map_err(|(_, e)| e)
    }

    /// A GET whose failure keeps the HTTP status, when there was one.
    fn get_status(&self, path: &str) -> Result<Value, (Option<u16>, RpcError)> {
        let url = format!("{}{path}", self.base);
        let resp = match self.agent.get(&url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let mut body = String::new();
                let _ = r.into_reader().take(512).read_to_string(&mut body);
                let e = RpcError::Transport(format!("beacon GET {path}: HTTP {code}: {}", body.trim()));
                return Err((Some(code), e));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err((None, RpcError::Transport(format!("beacon GET {path}: {t}"))))
            }
        };
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_BEACON_RESPONSE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| (None, bad(path, format!("reading the body: {e}"))))?;
        if body.len() as u64 > MAX_BEACON_RESPONSE_BYTES {
            return Err((None, bad(path, format!("response over {MAX_BEACON_RESPONSE_BYTES} bytes"))));
        }
        serde_json::from_slice(&body).map_err(|e| (None, bad(path, format!("not JSON: {e}"))))
    }

    fn clock(&mut self) -> Result<(u64, u64), RpcError> {
        if let Some(c) = self.clock {
            return Ok(c);
        }
        let genesis = self.get("/eth/v1/beacon/genesis")?;
        let genesis_time = number("genesis_time", &genesis["data"]["genesis_time"])?;
        let spec = self.get("/eth/v1/config/spec")?;
        let slot_s = number("SECONDS_PER_SLOT", &spec["data"]["SECONDS_PER_SLOT"])?;
        if slot_s == 0 {
            return Err(bad("spec", "SECONDS_PER_SLOT is 0"));
        }
        self.clock = Some((genesis_time, slot_s));
        Ok((genesis_time, slot_s))
    }

    /// The blobs `wanted` ((index, versioned hash)) of L1 block `block`, in that order.
    pub fn blobs(
        &mut self,
        block: &L1BlockRef,
        wanted: &[(u64, alloy_primitives::B256)],
    ) -> Result<Vec<alloy_primitives::Bytes>, RpcError> {
        let (genesis, slot_s) = self.clock()?;
        let slot = block
            .timestamp
            .checked_sub(genesis)
            .ok_or_else(|| bad("slot", format!("L1 block {} is older than the beacon genesis", block.number)))?
            / slot_s;
        if !self.sidecars_only {
            match self.fetch_blobs(slot, block, wanted) {
                Ok(out) => return Ok(out),
                // Not served (a beacon node from before Fulu's API): blob sidecars, remembered if they work.
                Err((Some(400 | 404 | 405 | 501), e)) => match self.fetch_sidecars(slot, block, wanted) {
                    Ok(out) => {
                        log::info!("beacon node does not serve /eth/v1/beacon/blobs ({e}); using blob_sidecars");
                        self.sidecars_only = true;
                        return Ok(out);
                    }
                    Err(e2) => return Err(bad("blobs", format!("{e}; and blob_sidecars: {e2}"))),
                },
                Err((_, e)) => return Err(e),
            }
        }
        self.fetch_sidecars(slot, block, wanted)
    }

    /// Blobs from `/eth/v1/beacon/blobs/{slot}?versioned_hashes=…` (the Fulu API; no proofs): each returned blob's
    /// KZG commitment is computed and its versioned hash matched against what is wanted, as op-node does. A node that
    /// ignores the filter or repeats a blob still gives exactly the blobs wanted, in the order wanted.
    fn fetch_blobs(
        &self,
        slot: u64,
        block: &L1BlockRef,
        wanted: &[(u64, alloy_primitives::B256)],
    ) -> Result<Vec<alloy_primitives::Bytes>, (Option<u16>, RpcError)> {
        let query: Vec<String> = wanted.iter().map(|(_, h)| format!("versioned_hashes={h:#x}")).collect();
        let v = self.get_status(&format!("/eth/v1/beacon/blobs/{slot}?{}", query.join("&")))?;
        let fail = |msg: String| (None, bad("blobs", msg));
        let data = v["data"].as_array().ok_or_else(|| fail("no data array".into()))?;
        if data.len() > MAX_BLOBS_PER_RESPONSE {
            return Err(fail(format!("{} blobs for slot {slot}, more than {MAX_BLOBS_PER_RESPONSE}", data.len())));
        }
        let mut by_hash = std::collections::HashMap::new();
        for item in data {
            let blob = hex("blob", item).map_err(|e| (None, e))?;
            if blob.len() != BLOB_BYTES {
                return Err(fail(format!("a blob of slot {slot} is {} bytes", blob.len())));
            }
            let commitment = blob_commitment(&blob).map_err(|e| fail(format!("slot {slot}: {e}")))?;
            by_hash.entry(versioned_hash(&commitment)).or_insert(blob);
        }
        wanted
            .iter()
            .map(|(index, hash)| {
                by_hash.get(hash).cloned().map(Into::into).ok_or_else(|| {
                    fail(format!(
                        "slot {slot} (L1 block {}) returned no blob with versioned hash {hash:#x} (index {index})",
                        block.number
                    ))
                })
            })
            .collect()
    }

    /// Blobs from `/eth/v1/beacon/blob_sidecars/{slot}`, each checked against its commitment and KZG proof.
    fn fetch_sidecars(
        &self,
        slot: u64,
        block: &L1BlockRef,
        wanted: &[(u64, alloy_primitives::B256)],
    ) -> Result<Vec<alloy_primitives::Bytes>, RpcError> {
        let v = self.get(&format!("/eth/v1/beacon/blob_sidecars/{slot}"))?;
        let sidecars = v["data"].as_array().ok_or_else(|| bad("blob_sidecars", "no data array"))?;
        let mut out = Vec::with_capacity(wanted.len());
        for (index, hash) in wanted {
            let sc = sidecars.iter().find(|s| number("index", &s["index"]).ok() == Some(*index)).ok_or_else(|| {
                bad("blob_sidecars", format!("slot {slot} has no blob {index} (L1 block {})", block.number))
            })?;
            let commitment = hex("kzg_commitment", &sc["kzg_commitment"])?;
            if versioned_hash(&commitment) != *hash {
                return Err(bad(
                    "blob_sidecars",
                    format!("blob {index} of slot {slot}: commitment does not hash to {hash:#x}"),
                ));
            }
            let blob = hex("blob", &sc["blob"])?;
            if blob.len() != BLOB_BYTES {
                return Err(bad("blob_sidecars", format!("blob {index} is {} bytes", blob.len())));
            }
            let proof = hex("kzg_proof", &sc["kzg_proof"])?;
            verify_blob_proof(&blob, &commitment, &proof).map_err(|e| {
                bad("blob_sidecars", format!("blob {index} of slot {slot} (L1 block {}): {e}", block.number))
            })?;
            out.push(blob.into());
        }
        Ok(out)
    }
}

/// The beacon worker: answers `FetchBlobs`.
pub fn spawn(
    mut client: BeaconClient,
    rx: crossbeam_channel::Receiver<Command>,
    events: crossbeam_channel::Sender<Event>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("keel-beacon".into())
        .spawn(move || {
            // The trusted setup is loaded at start (about a second of CPU), not on the first blob of derivation.
            let t0 = std::time::Instant::now();
            kzg_settings();
            log::debug!("KZG trusted setup loaded in {} ms", t0.elapsed().as_millis());
            for cmd in rx {
                let Command::FetchBlobs { id, block, blobs } = cmd else {
                    log::error!("beacon worker got a command it does not handle: {cmd:?}");
                    continue;
                };
                let ev = match client.blobs(&block, &blobs) {
                    Ok(blobs) => Event::BlobsFetched { id, blobs },
                    Err(error) => Event::RequestFailed { id, error },
                };
                if events.send(ev).is_err() {
                    break;
                }
            }
        })
        .expect("spawning the beacon worker")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_hash_is_sha256_with_the_version_byte() {
        // EIP-4844: kzg_to_versioned_hash(commitment) = VERSIONED_HASH_VERSION_KZG ++ sha256(commitment)[1:].
        let commitment = [0xc0u8; 48]; // the point at infinity's compressed form starts with 0xc0
        let h = versioned_hash(&commitment);
        let full: [u8; 32] = Sha256::digest(commitment).into();
        assert_eq!(h[0], 0x01);
        assert_eq!(&h[1..], &full[1..]);
    }
}

#[cfg(test)]
mod server_tests {
    use super::*;
    use alloy_primitives::B256;
    use serde_json::json;

    /// Blob `i` of the test beacon node: field element `k` is `(i + 1) * (k + 1)` (a non-constant polynomial, so
    /// each blob has its own proof; every element is far below the BLS modulus).
    fn blob(i: u8) -> Vec<u8> {
        let mut b = vec![0u8; BLOB_BYTES];
        for (k, fe) in b.chunks_mut(32).enumerate() {
            fe[24..].copy_from_slice(&((u64::from(i) + 1) * (k as u64 + 1)).to_be_bytes());
        }
        b
    }

    /// The KZG commitment (the client's own [`blob_commitment`]) and proof of a blob.
    fn kzg(blob: &[u8]) -> ([u8; 48], [u8; 48]) {
        use alloy_eips::eip4844::c_kzg::{Blob, Bytes48};
        use alloy_eips::eip4844::env_settings::EnvKzgSettings;
        let commitment = blob_commitment(blob).unwrap();
        let proof = EnvKzgSettings::Default
            .get()
            .compute_blob_kzg_proof(&Blob::from_bytes(blob).unwrap(), &Bytes48::from(commitment))
            .unwrap()
            .to_bytes();
        (commitment, proof.into_inner())
    }

    fn hex48(b: &[u8; 48]) -> String {
        format!("0x{}", b.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// A beacon node on localhost serving genesis 1000, 12 s slots, and two sidecars at slot 5 with these
    /// commitments and proofs; `/eth/v1/beacon/blobs/5` only with `blobs_endpoint` (then it answers every blob of the
    /// slot in block order, blob 0 twice, whatever the filter), else HTTP 404. Answers `requests` requests, recording
    /// their paths.
    fn serve_with(
        kzg: [([u8; 48], [u8; 48]); 2],
        blobs_endpoint: bool,
        requests: usize,
    ) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..requests {
                let Ok(req) = server.recv() else { break };
                let path = req.url().to_string();
                seen.push(path.clone());
                let (status, body) = match path.split('?').next().unwrap() {
                    "/eth/v1/beacon/genesis" => (200, json!({"data": {"genesis_time": "1000"}})),
                    "/eth/v1/config/spec" => (200, json!({"data": {"SECONDS_PER_SLOT": "12"}})),
                    "/eth/v1/beacon/blobs/5" if blobs_endpoint => {
                        let blobs =
                            [blob(0), blob(1), blob(0)].map(|b| format!("0x{}", alloy_primitives::hex::encode(b)));
                        (200, json!({ "execution_optimistic": false, "finalized": false, "data": blobs }))
                    }
                    "/eth/v1/beacon/blob_sidecars/5" => {
                        let sidecars: Vec<Value> = (0u8..2)
                            .map(|i| {
                                let (commitment, proof) = &kzg[i as usize];
                                json!({
                                    "index": i.to_string(),
                                    "blob": format!("0x{}", alloy_primitives::hex::encode(blob(i))),
                                    "kzg_commitment": hex48(commitment),
                                    "kzg_proof": hex48(proof),
                                })
                            })
                            .collect();
                        (200, json!({ "data": sidecars }))
                    }
                    other => (404, json!({"code": 404, "message": format!("no route {other}")})),
                };
                let _ = req.respond(tiny_http::Response::from_string(body.to_string()).with_status_code(status));
            }
            seen
        });
        (url, handle)
    }

    /// A beacon node without the `/blobs` endpoint: genesis, spec, the refused `/blobs` request, the sidecars.
    fn serve(kzg: [([u8; 48], [u8; 48]); 2]) -> (String, std::thread::JoinHandle<Vec<String>>) {
        serve_with(kzg, false, 4)
    }

    #[test]
    fn blobs_come_from_the_blobs_endpoint_matched_by_versioned_hash_in_the_order_asked() {
        let kzg = [kzg(&blob(0)), kzg(&blob(1))];
        let hashes = [versioned_hash(&kzg[0].0), versioned_hash(&kzg[1].0)];
        let block = L1BlockRef { number: 77, timestamp: 1_060, ..Default::default() };
        let (url, h) = serve_with(kzg, true, 3);
        let mut c = BeaconClient::new(&url, Duration::from_secs(5));
        let blobs = c.blobs(&block, &[(1, hashes[1]), (0, hashes[0])]).unwrap();
        assert!(blobs[0][..] == blob(1)[..] && blobs[1][..] == blob(0)[..], "in the order asked");
        let seen = h.join().unwrap();
        assert_eq!(
            seen[2],
            format!("/eth/v1/beacon/blobs/5?versioned_hashes={:#x}&versioned_hashes={:#x}", hashes[1], hashes[0]),
            "op-node's query: one versioned_hashes parameter per hash"
        );
        // A hash the node has no blob for is an error naming it.
        let (url, h) = serve_with(kzg, true, 3);
        let mut c = BeaconClient::new(&url, Duration::from_secs(5));
        let missing = B256::repeat_byte(0x01);
        let err = c.blobs(&block, &[(0, missing)]).unwrap_err().to_string();
        assert!(err.contains("no blob with versioned hash") && err.contains("L1 block 77"), "{err}");
        h.join().unwrap();
    }

    #[test]
    fn a_node_without_the_blobs_endpoint_is_asked_for_sidecars_from_then_on() {
        let kzg = [kzg(&blob(0)), kzg(&blob(1))];
        let hashes = [versioned_hash(&kzg[0].0), versioned_hash(&kzg[1].0)];
        let block = L1BlockRef { number: 77, timestamp: 1_060, ..Default::default() };
        let (url, h) = serve_with(kzg, false, 5);
        let mut c = BeaconClient::new(&url, Duration::from_secs(5));
        assert_eq!(c.blobs(&block, &[(0, hashes[0])]).unwrap()[0][..], blob(0)[..]);
        assert_eq!(c.blobs(&block, &[(1, hashes[1])]).unwrap()[0][..], blob(1)[..]);
        let seen: Vec<String> =
            h.join().unwrap().into_iter().map(|p| p.split('?').next().unwrap().to_string()).collect();
        assert_eq!(
            seen,
            [
                "/eth/v1/beacon/genesis",
                "/eth/v1/config/spec",
                "/eth/v1/beacon/blobs/5",
                "/eth/v1/beacon/blob_sidecars/5",
                "/eth/v1/beacon/blob_sidecars/5"
            ],
            "the refusal is remembered"
        );
    }

    #[test]
    fn blobs_are_found_by_slot_and_index_and_checked_against_their_hash_and_proof() {
        let kzg = [kzg(&blob(0)), kzg(&blob(1))];
        let hashes = [versioned_hash(&kzg[0].0), versioned_hash(&kzg[1].0)];
        // L1 block at time 1060 is slot (1060 - 1000) / 12 = 5.
        let block = L1BlockRef { number: 77, timestamp: 1_060, ..Default::default() };

        let (url, h) = serve(kzg);
        let mut c = BeaconClient::new(&url, Duration::from_secs(5));
        let blobs = c.blobs(&block, &[(1, hashes[1]), (0, hashes[0])]).unwrap();
        assert_eq!(blobs.len(), 2);
        assert!(blobs[0][..] == blob(1)[..] && blobs[1][..] == blob(0)[..], "in the order asked");
        h.join().unwrap();

        // A commitment that is not the one the transaction names.
        let (url, h) = serve(kzg);
        let mut c = BeaconClient::new(&url, Duration::from_secs(5));
        let err = c.blobs(&block, &[(0, hashes[1])]).unwrap_err();
        assert!(err.to_string().contains("commitment does not hash to"), "{err}");
        h.join().unwrap();

        // The right commitment, but the blob is another one: blob 0 is served with blob 1's commitment and proof,
        // and the transaction names blob 1's commitment.
        let (url, h) = serve([kzg[1], kzg[1]]);
        let mut c = BeaconClient::new(&url, Duration::from_secs(5));
        let err = c.blobs(&block, &[(0, hashes[1])]).unwrap_err();
        assert!(err.to_string().contains("KZG proof does not open"), "{err}");
        assert!(err.to_string().contains("blob 0 of slot 5 (L1 block 77)"), "{err}");
        h.join().unwrap();

        // A proof of another blob under the right commitment.
        let (url, h) = serve([(kzg[0].0, kzg[1].1), kzg[1]]);
        let mut c = BeaconClient::new(&url, Duration::from_secs(5));
        assert!(c.blobs(&block, &[(0, hashes[0])]).unwrap_err().to_string().contains("KZG proof does not open"));
        h.join().unwrap();
    }
}
