//! Peer discovery over discv5, as op-node and kona-node run it: the node's ENR carries its TCP and UDP ports and an
//! `opstack` entry (the L2 chain id and version 0, two unsigned varints in an RLP byte string, op-node
//! `OpStackENRData`); discovered records without a matching `opstack` entry are ignored, the others are dialled over
//! libp2p. Runs inside the p2p thread's runtime ([`crate::p2p`]); nothing here blocks.

use alloy_primitives::Bytes;
use discv5::enr::{CombinedKey, CombinedPublicKey, NodeId};
use discv5::{ConfigBuilder, Discv5, Enr, ListenConfig};
use libp2p::{identity, Multiaddr, PeerId};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

/// The ENR key of the OP Stack entry.
pub const OPSTACK_KEY: &str = "opstack";

/// The `opstack` entry's content for `chain_id`: uvarint(chain id) ‖ uvarint(version 0).
pub fn opstack_entry(chain_id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(11);
    put_uvarint(&mut out, chain_id);
    put_uvarint(&mut out, 0);
    out
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_uvarint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// The chain id and version of a record's `opstack` entry, if it has a readable one.
pub fn opstack_of(enr: &Enr) -> Option<(u64, u64)> {
    let raw: Bytes = enr.get_decodable(OPSTACK_KEY)?.ok()?;
    let (chain_id, rest) = read_uvarint(&raw)?;
    let (version, _) = read_uvarint(rest)?;
    Some((chain_id, version))
}

/// Where to dial the node of `enr` over libp2p (its IPv4 address and TCP port, and the peer id of its key), if the
/// record has them.
pub fn dial_addr(enr: &Enr) -> Option<(PeerId, Multiaddr)> {
    let CombinedPublicKey::Secp256k1(key) = enr.public_key() else { return None };
    let compressed = key.to_encoded_point(true);
    let public = identity::secp256k1::PublicKey::try_from_bytes(compressed.as_bytes()).ok()?;
    let peer = identity::PublicKey::from(public).to_peer_id();
    let socket = enr.tcp4_socket()?;
    let addr = Multiaddr::empty()
        .with(libp2p::multiaddr::Protocol::Ip4(*socket.ip()))
        .with(libp2p::multiaddr::Protocol::Tcp(socket.port()))
        .with(libp2p::multiaddr::Protocol::P2p(peer));
    Some((peer, addr))
}

/// A bootnode as given: its record, or (op-node's enode URLs) its key and UDP address, whose record is asked for.
#[derive(Clone, Debug)]
pub enum Bootnode {
    /// `enr:-…`.
    Enr(Box<Enr>),
    /// `enode://<public key>@<ip>:<tcp port>[?discport=<udp port>]`.
    Enode {
        /// The node's peer id (from its public key).
        peer: PeerId,
        /// Its discovery address.
        udp: SocketAddr,
    },
}

impl Bootnode {
    /// The multiaddr discv5 contacts an enode bootnode at.
    fn contact(&self) -> Option<Multiaddr> {
        match self {
            Self::Enr(_) => None,
            Self::Enode { peer, udp } => {
                let ip = match udp.ip() {
                    IpAddr::V4(v4) => libp2p::multiaddr::Protocol::Ip4(v4),
                    IpAddr::V6(v6) => libp2p::multiaddr::Protocol::Ip6(v6),
                };
                Some(
                    Multiaddr::empty()
                        .with(ip)
                        .with(libp2p::multiaddr::Protocol::Udp(udp.port()))
                        .with(libp2p::multiaddr::Protocol::P2p(*peer)),
                )
            }
        }
    }
}

/// Reads a bootnode: an ENR (`enr:-…`) or an enode URL whose host is an IP address (host names are looked up).
pub fn parse_bootnode(s: &str) -> Result<Bootnode, String> {
    let s = s.trim();
    let Some(rest) = s.strip_prefix("enode://") else {
        return s.parse::<Enr>().map(|e| Bootnode::Enr(Box::new(e))).map_err(|e| format!("{s}: not an ENR: {e}"));
    };
    let bad = |why: &str| format!("{s}: {why}");
    let (key_hex, addr) = rest.split_once('@').ok_or_else(|| bad("no @ between key and address"))?;
    let key = alloy_primitives::hex::decode(key_hex).map_err(|_| bad("the public key is not hex"))?;
    if key.len() != 64 {
        return Err(bad("the public key is not 64 bytes"));
    }
    let point = [&[0x04][..], &key[..]].concat();
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| bad("not a secp256k1 public key"))?;
    let public = identity::secp256k1::PublicKey::try_from_bytes(vk.to_encoded_point(true).as_bytes())
        .map_err(|_| bad("not a secp256k1 public key"))?;
    let peer = identity::PublicKey::from(public).to_peer_id();
    let (host_port, query) = match addr.split_once('?') {
        Some((hp, q)) => (hp, Some(q)),
        None => (addr, None),
    };
    let (host, port) = host_port.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let mut port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
    if let Some(disc) = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("discport="))) {
        port = disc.parse().map_err(|_| bad("discport is not a number"))?;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .map_err(|e| bad(&format!("cannot resolve {host}: {e}")))?
            .map(|a| a.ip())
            .next()
            .ok_or_else(|| bad(&format!("{host} has no address")))?,
    };
    Ok(Bootnode::Enode { peer, udp: SocketAddr::new(ip, port) })
}

/// An ENR request to an enode bootnode in flight.
pub type EnrRequest = Pin<Box<dyn Future<Output = Result<Enr, discv5::RequestError>> + Send>>;

/// op-node's default bootnodes (optimism v1.19.6, `op-node/p2p/config.go` `DefaultBootnodes`: OP Labs, Base, Conduit,
/// Uniswap Labs), used for chains from the superchain registry when no `--p2p.bootnodes` are given. Protocol data
/// carried as is; [`default_bootnodes`] skips the entries whose host is a DNS name (no lookup at start).
pub const OP_NODE_DEFAULT_BOOTNODES: [&str; 13] = [
    "enode://869d07b5932f17e8490990f75a3f94195e9504ddb6b85f7189e5a9c0a8fff8b00aecf6f3ac450ecba6cdabdb5858788a94bde2b613e0f2d82e9b395355f76d1a@34.65.67.101:30305",
    "enode://2d4e7e9d48f4dd4efe9342706dd1b0024681bd4c3300d021f86fc75eab7865d4e0cbec6fbc883f011cfd6a57423e7e2f6e104baad2b744c3cafaec6bc7dc92c1@34.65.43.171:30305",
    "enr:-J24QNz9lbrKbN4iSmmjtnr7SjUMk4zB7f1krHZcTZx-JRKZd0kA2gjufUROD6T3sOWDVDnFJRvqBBo62zuF-hYCohOGAYiOoEyEgmlkgnY0gmlwhAPniryHb3BzdGFja4OFQgCJc2VjcDI1NmsxoQKNVFlCxh_B-716tTs-h1vMzZkSs1FTu_OYTNjgufplG4N0Y3CCJAaDdWRwgiQG",
    "enr:-J24QH-f1wt99sfpHy4c0QJM-NfmsIfmlLAMMcgZCUEgKG_BBYFc6FwYgaMJMQN5dsRBJApIok0jFn-9CS842lGpLmqGAYiOoDRAgmlkgnY0gmlwhLhIgb2Hb3BzdGFja4OFQgCJc2VjcDI1NmsxoQJ9FTIv8B9myn1MWaC_2lJ-sMoeCDkusCsk4BYHjjCq04N0Y3CCJAaDdWRwgiQG",
    "enr:-J24QDXyyxvQYsd0yfsN0cRr1lZ1N11zGTplMNlW4xNEc7LkPXh0NAJ9iSOVdRO95GPYAIc6xmyoCCG6_0JxdL3a0zaGAYiOoAjFgmlkgnY0gmlwhAPckbGHb3BzdGFja4OFQgCJc2VjcDI1NmsxoQJwoS7tzwxqXSyFL7g0JM-KWVbgvjfB8JA__T7yY_cYboN0Y3CCJAaDdWRwgiQG",
    "enr:-J24QHmGyBwUZXIcsGYMaUqGGSl4CFdx9Tozu-vQCn5bHIQbR7On7dZbU61vYvfrJr30t0iahSqhc64J46MnUO2JvQaGAYiOoCKKgmlkgnY0gmlwhAPnCzSHb3BzdGFja4OFQgCJc2VjcDI1NmsxoQINc4fSijfbNIiGhcgvwjsjxVFJHUstK9L1T8OTKUjgloN0Y3CCJAaDdWRwgiQG",
    "enr:-J24QG3ypT4xSu0gjb5PABCmVxZqBjVw9ca7pvsI8jl4KATYAnxBmfkaIuEqy9sKvDHKuNCsy57WwK9wTt2aQgcaDDyGAYiOoGAXgmlkgnY0gmlwhDbGmZaHb3BzdGFja4OFQgCJc2VjcDI1NmsxoQIeAK_--tcLEiu7HvoUlbV52MspE0uCocsx1f_rYvRenIN0Y3CCJAaDdWRwgiQG",
    "enode://d25ce99435982b04d60c4b41ba256b84b888626db7bee45a9419382300fbe907359ae5ef250346785bff8d3b9d07cd3e017a27e2ee3cfda3bcbb0ba762ac9674@bootnode.conduit.xyz:0?discport=30301",
    "enode://2d4e7e9d48f4dd4efe9342706dd1b0024681bd4c3300d021f86fc75eab7865d4e0cbec6fbc883f011cfd6a57423e7e2f6e104baad2b744c3cafaec6bc7dc92c1@34.65.43.171:0?discport=30305",
    "enode://9d7a3efefe442351217e73b3a593bcb8efffb55b4807699972145324eab5e6b382152f8d24f6301baebbfb5ecd4127bd3faab2842c04cd432bdf50ba092f6645@34.65.109.126:0?discport=30305",
    "enode://010800c668896c100e8d64abc388ac5a22a8134a96fb0107c5d0c56d79ba7225c12d9e9e012d3cc0ee2701d7f63dd45f8abf0bbcf6f3c541f91742b1d7a99355@3.134.214.169:9222",
    "enode://b97abcc7011d06299c4bc44742be4a0e631a1a2925a2992adcfe80ed86bec5ff0ddf1b90d015f2dbb5e305560e12c9873b2dad72d84d131ac4be9f2a4c74b763@52.14.30.39:9222",
    "enode://760230a662610620d6d2e4ad846a6dccbceaa4556872dfacf9cdca7c2f5b49e4c66e822ed2e8813debb5fb7391f0519b8d075e565a2a89c79a9e4092e81b3e5b@3.148.100.173:9222",
];

/// [`OP_NODE_DEFAULT_BOOTNODES`] without the ones named by a DNS host.
pub fn default_bootnodes() -> Vec<Bootnode> {
    OP_NODE_DEFAULT_BOOTNODES
        .iter()
        .filter(|b| {
            let host = b.split_once('@').map(|(_, rest)| rest.rsplit_once(':').map_or(rest, |(h, _)| h));
            host.is_none_or(|h| h.parse::<IpAddr>().is_ok())
        })
        .filter_map(|b| parse_bootnode(b).ok())
        .collect()
}

/// A FIND_NODE query in flight.
pub type Query = Pin<Box<dyn Future<Output = Result<Vec<Enr>, discv5::QueryError>>>>;

/// The running discv5 service.
pub struct Discovery {
    service: Discv5,
    chain_id: u64,
}

impl Discovery {
    /// Starts discv5 on `ip:udp` with the node key, advertising `tcp` (and `ip` unless unspecified) and the
    /// `opstack` entry of `chain_id`; adds the ENR bootnodes. Must run inside a tokio runtime. The requests for the
    /// records of enode bootnodes come back for [`Self::add`].
    pub async fn start(
        node_key: &[u8; 32],
        ip: IpAddr,
        udp: u16,
        tcp: u16,
        chain_id: u64,
        bootnodes: &[Bootnode],
    ) -> Result<(Self, Vec<EnrRequest>), String> {
        let mut key_bytes = *node_key;
        let key = CombinedKey::secp256k1_from_bytes(&mut key_bytes).map_err(|e| format!("node key: {e}"))?;
        let mut builder = Enr::builder();
        if let IpAddr::V4(v4) = ip {
            if !v4.is_unspecified() {
                builder.ip4(v4);
            }
        }
        builder.tcp4(tcp).udp4(udp).add_value(OPSTACK_KEY, &Bytes::from(opstack_entry(chain_id)));
        let enr = builder.build(&key).map_err(|e| format!("building the ENR: {e}"))?;
        let config = ConfigBuilder::new(ListenConfig::from_ip(ip, udp)).build();
        let mut service = Discv5::new(enr, key, config).map_err(|e| format!("discv5: {e}"))?;
        service.start().await.map_err(|e| format!("discv5 on UDP {ip}:{udp}: {e}"))?;
        let mut requests: Vec<EnrRequest> = Vec::new();
        for b in bootnodes {
            match b {
                Bootnode::Enr(enr) => {
                    if let Err(e) = service.add_enr((**enr).clone()) {
                        log::warn!("bootnode {} not added: {e}", enr.to_base64());
                    }
                }
                Bootnode::Enode { .. } => {
                    if let Some(addr) = b.contact() {
                        requests.push(Box::pin(service.request_enr(addr)));
                    }
                }
            }
        }
        Ok((Self { service, chain_id }, requests))
    }

    /// Adds a record (an enode bootnode's, once it answered).
    pub fn add(&self, enr: Enr) {
        if let Err(e) = self.service.add_enr(enr.clone()) {
            log::warn!("bootnode {} not added: {e}", enr.to_base64());
        }
    }

    /// The node's record, as `opp2p_self` reports it.
    pub fn local_enr(&self) -> String {
        self.service.local_enr().to_base64()
    }

    /// Records in the routing table.
    pub fn table_len(&self) -> usize {
        self.service.table_entries_enr().len()
    }

    /// A query for nodes near a random id.
    pub fn random_query(&self) -> Query {
        Box::pin(self.service.find_node(NodeId::random()))
    }

    /// The dialable peers of this chain among `found` and the routing table.
    pub fn candidates(&self, found: Vec<Enr>) -> Vec<(PeerId, Multiaddr)> {
        found
            .into_iter()
            .chain(self.service.table_entries_enr())
            .filter(|e| opstack_of(e) == Some((self.chain_id, 0)))
            .filter_map(|e| dial_addr(&e))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_mainnet_bootnode_record_reads_as_op_node_wrote_it() {
        // op-node p2p/config.go (optimism v1.19.6), the first of its default bootnodes: a Base node (chain 8453).
        let Bootnode::Enr(enr) = parse_bootnode(
            "enr:-J24QNz9lbrKbN4iSmmjtnr7SjUMk4zB7f1krHZcTZx-JRKZd0kA2gjufUROD6T3sOWDVDnFJRvqBBo62zuF-hYCohOGAYiOoEyEgm\
             lkgnY0gmlwhAPniryHb3BzdGFja4OFQgCJc2VjcDI1NmsxoQKNVFlCxh_B-716tTs-h1vMzZkSs1FTu_OYTNjgufplG4N0Y3CCJAaD\
             dWRwgiQG",
        )
        .unwrap() else {
            panic!("an ENR")
        };
        assert_eq!(opstack_of(&enr), Some((8453, 0)));
        assert_eq!((enr.tcp4(), enr.udp4()), (Some(9222), Some(9222)));
        let (peer, addr) = dial_addr(&enr).unwrap();
        assert!(addr.to_string().starts_with("/ip4/3.231.138.188/tcp/9222/p2p/"), "{addr}");
        assert_eq!(addr.to_string().rsplit('/').next().unwrap(), peer.to_string());
        // The entry's bytes are the ones op-node encodes: 0x85 0x42 (8453) then 0x00.
        assert_eq!(opstack_entry(8453), [0x85, 0x42, 0x00]);
    }

    #[test]
    fn op_nodes_default_bootnodes_all_read_except_the_dns_named_one() {
        let all = default_bootnodes();
        assert_eq!(all.len(), OP_NODE_DEFAULT_BOOTNODES.len() - 1, "bootnode.conduit.xyz is left out");
        let base: Vec<_> = all
            .iter()
            .filter_map(|b| match b {
                Bootnode::Enr(e) => opstack_of(e),
                Bootnode::Enode { .. } => None,
            })
            .collect();
        assert_eq!(base, [(8453, 0); 5], "the five ENRs are Base nodes");
    }

    #[test]
    fn varints_round_trip_and_garbage_is_refused() {
        for v in [0, 1, 127, 128, 8453, 901, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(read_uvarint(&b), Some((v, &[][..])));
        }
        assert_eq!(read_uvarint(&[0x80; 11]), None);
        assert_eq!(read_uvarint(&[]), None);
        assert!(parse_bootnode("enode://abcd@127.0.0.1:30303").unwrap_err().contains("64 bytes"));
        assert!(parse_bootnode("enr:-garbage").is_err());
    }

    #[test]
    fn op_nodes_enode_bootnodes_read_with_their_discovery_port() {
        // op-node p2p/config.go (optimism v1.19.6), OP Labs and Conduit entries.
        let labs = "enode://869d07b5932f17e8490990f75a3f94195e9504ddb6b85f7189e5a9c0a8fff8b00aecf6f3ac450ecba6cdabdb5858788a94bde2b613e0f2d82e9b395355f76d1a@34.65.67.101:30305";
        let Bootnode::Enode { peer, udp } = parse_bootnode(labs).unwrap() else { panic!("an enode") };
        assert_eq!(udp.to_string(), "34.65.67.101:30305");
        assert!(peer.to_string().starts_with("16Uiu2"), "a secp256k1 peer id: {peer}");
        let conduit = "enode://2d4e7e9d48f4dd4efe9342706dd1b0024681bd4c3300d021f86fc75eab7865d4e0cbec6fbc883f011cfd6a57423e7e2f6e104baad2b744c3cafaec6bc7dc92c1@34.65.43.171:0?discport=30305";
        let Bootnode::Enode { udp, .. } = parse_bootnode(conduit).unwrap() else { panic!("an enode") };
        assert_eq!(udp.port(), 30305);
        assert!(parse_bootnode("enode://869d07b5932f17e8490990f75a3f94195e9504ddb6b85f7189e5a9c0a8fff8b00aecf6f3ac450ecba6cdabdb5858788a94bde2b613e0f2d82e9b395355f76d1a@34.65.67.101").is_err());
    }
}
