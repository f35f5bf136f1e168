//! P2P gossip between Keel processes' worth of nodes on loopback: a sequencer publishes signed blocks over libp2p
//! gossipsub; a stopped sequencer with its own engine validates and imports every one of them, so its unsafe head
//! follows the leader's block for block; blocks signed with another key are rejected and never imported.

use alloy_primitives::Address;
use keel_shell::builder::{NodeHandle, NodeMode, RollupNode, RpcConfig, SequencerConfig};
use keel_shell::discovery::Bootnode;
use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use keel_shell::jwt::JwtSecret;
use keel_shell::p2p::{random_key, P2pConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn world(seed: u64, genesis_time_s: u64) -> FakeWorld {
    let mut cfg = FakeWorldConfig::new(JwtSecret::new([7; 32]));
    cfg.seed = seed;
    cfg.block_time_ms = 1_000;
    cfg.genesis_time_s = genesis_time_s;
    FakeWorld::start(cfg).unwrap()
}

fn signing_key(hex: &str) -> k256::ecdsa::SigningKey {
    let key = keel_shell::p2p::parse_key(hex).unwrap();
    k256::ecdsa::SigningKey::from_bytes(&key.into()).unwrap()
}

fn address_of(key: &k256::ecdsa::SigningKey) -> Address {
    Address::from_public_key(key.verifying_key())
}

/// A node on `rollup_world`'s chain using `l1` for L1 and `engine` for its engine.
fn start(rollup_world: &FakeWorld, engine: &FakeWorld, stopped: bool, p2p: P2pConfig, signer: Address) -> NodeHandle {
    RollupNode::builder(rollup_world.rollup_config())
        .with_mode(NodeMode::Sequencer)
        .with_sequencer_config(SequencerConfig { sequencer_stopped: stopped, ..Default::default() })
        .with_l1_provider_rpc_url(rollup_world.l1_url())
        .with_l2_engine_rpc_url(engine.engine_url())
        .with_jwt_secret(JwtSecret::new([7; 32]))
        .with_rpc(RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), enable_admin: true })
        .with_derivation(false)
        .with_p2p(p2p)
        .with_unsafe_block_signer(signer)
        .with_l1_poll_interval(Duration::from_millis(200))
        .build()
        .unwrap()
        .start()
        .unwrap()
}

fn p2p_cfg(static_peers: Vec<libp2p::Multiaddr>, key: Option<k256::ecdsa::SigningKey>) -> P2pConfig {
    let mut cfg = P2pConfig::new([127, 0, 0, 1].into(), 0, random_key().unwrap());
    cfg.static_peers = static_peers;
    cfg.sequencer_key = key;
    cfg
}

fn rpc(node: &NodeHandle, method: &str, params: Value) -> Value {
    let url = format!("http://{}", node.rpc_addr().unwrap());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let text = ureq::post(&url).send_string(&body.to_string()).unwrap().into_string().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["result"].clone()
}

/// `admin_startSequencer(hash)` at `url`, repeated while the node is still reading its engine's heads at startup.
fn start_sequencer(url: &str, hash: alloy_primitives::B256) {
    wait_for("admin_startSequencer to succeed", Duration::from_secs(20), || {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "admin_startSequencer", "params": [hash]});
        let Ok(r) = ureq::post(url).send_string(&body.to_string()) else { return false };
        let v: Value = serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null);
        v.get("error").is_none() && v.get("result").is_some()
    });
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stopped_sequencer_follows_the_leader_through_gossip_and_rejects_other_signers() {
    let genesis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 2;
    let (leader_world, follower_world) = (world(11, genesis), world(11, genesis));
    // A chain of its own (another seed: another genesis) whose sequencer signs with a key nobody trusts.
    let rogue_world = world(12, genesis);
    let key = signing_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
    let rogue_key = signing_key("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    let signer = address_of(&key);

    // The leader starts once the follower is on its topic (see the process test).
    let leader = start(&leader_world, &leader_world, true, p2p_cfg(vec![], Some(key)), signer);
    let leader_addr = leader.p2p_addrs().unwrap().1[0].clone();
    let rogue = start(&rogue_world, &rogue_world, false, p2p_cfg(vec![], Some(rogue_key)), signer);
    let rogue_addr = rogue.p2p_addrs().unwrap().1[0].clone();
    let follower = start(&leader_world, &follower_world, true, p2p_cfg(vec![leader_addr, rogue_addr], None), signer);

    wait_for("the follower to peer with both", Duration::from_secs(20), || {
        rpc(&follower, "opp2p_peerStats", json!([]))["connected"] == json!(2)
    });
    wait_for("the follower on the leader's topic", Duration::from_secs(20), || {
        rpc(&leader, "opp2p_peerStats", json!([]))["blocksTopicV3"].as_u64() >= Some(1)
    });
    start_sequencer(&format!("http://{}", leader.rpc_addr().unwrap()), leader_world.engine_head().hash);
    let start_head = leader_world.engine_head().number;
    wait_for("the follower's engine to reach the leader's head + 8", Duration::from_secs(40), || {
        follower_world.engine_head().number >= start_head + 8
    });
    // Block for block: every block the follower has is the leader's.
    let head = follower_world.engine_head();
    for n in 1..=head.number {
        let (f, l) = (follower_world.engine_block_at(n).unwrap(), leader_world.engine_block_at(n).unwrap());
        assert_eq!(f.hash, l.hash, "block {n}");
    }
    // The follower's node reports the same unsafe head as its engine, and has not built anything itself.
    let status = rpc(&follower, "optimism_syncStatus", json!([]));
    assert!(status["unsafe_l2"]["number"].as_u64().unwrap() >= start_head + 7, "{status}");
    assert_eq!(rpc(&follower, "admin_sequencerActive", json!([])), json!(false));
    // The rogue's blocks were rejected (wrong signer) and none reached the follower's engine.
    let rejected = follower.metrics().value("keel_p2p_messages_received_total", &[("result", "reject")]);
    assert!(rejected.unwrap_or(0.0) >= 1.0, "no rejected messages counted");
    for n in 1..=rogue_world.engine_head().number.min(head.number) {
        let r = rogue_world.engine_block_at(n).unwrap();
        assert_ne!(follower_world.engine_block_at(n).unwrap().hash, r.hash, "rogue block {n} imported");
    }
    // opp2p_* answer in op-node's shapes.
    let me = rpc(&follower, "opp2p_self", json!([]));
    assert_eq!(me["peerID"], json!(follower.p2p_addrs().unwrap().0.to_string()));
    let peers = rpc(&follower, "opp2p_peers", json!([true]));
    assert_eq!(peers["totalConnected"], json!(2));
    let leader_id = leader.p2p_addrs().unwrap().0.to_string();
    assert_eq!(peers["peers"][&leader_id]["connectedness"], json!(1));
    assert_eq!(peers["peers"][&leader_id]["gossipBlocks"], json!(true));
    assert_eq!(peers["peers"][&leader_id]["direction"], json!(2), "the follower dialled the leader");
    let stats = rpc(&leader, "opp2p_peerStats", json!([]));
    assert_eq!(stats["blocksTopicV3"], json!(1), "{stats}");
    let published = leader.metrics().value("keel_p2p_published_total", &[]).unwrap_or(0.0);
    assert!(published >= 5.0, "leader published {published} blocks");

    for n in [follower, leader, rogue] {
        n.stop();
        n.join();
    }
}

/// A peer that dials `target`, waits for it to subscribe to `topic`, publishes `messages` in order (raw gossipsub
/// data, no validation of its own) and keeps the connection up a little while so they are delivered. Its peer id.
fn hostile_peer(target: libp2p::Multiaddr, topic: String, messages: Vec<Vec<u8>>) -> libp2p::PeerId {
    use libp2p::futures::StreamExt;
    use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, ValidationMode};
    use libp2p::swarm::SwarmEvent;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let key = libp2p::identity::Keypair::generate_secp256k1();
        let id = key.public().to_peer_id();
        let cfg = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::None)
            .max_transmit_size(16 << 20)
            .message_id_fn(|m: &gossipsub::Message| {
                MessageId::from(keel_shell::gossip::message_id(m.topic.as_str(), &m.data))
            })
            .build()
            .unwrap();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(Default::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| {
                gossipsub::Behaviour::<gossipsub::IdentityTransform>::new(MessageAuthenticity::Anonymous, cfg).unwrap()
            })
            .unwrap()
            .build();
        let topic = IdentTopic::new(topic);
        swarm.behaviour_mut().subscribe(&topic).unwrap();
        swarm.dial(target).unwrap();
        let subscribed = async {
            loop {
                if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: t, .. }) =
                    swarm.select_next_some().await
                {
                    if t == topic.hash() {
                        break;
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), subscribed).await.expect("the node subscribes to the topic");
        for m in messages {
            // A message the node already saw is a duplicate gossipsub drops; publishing it again is refused here.
            let _ = swarm.behaviour_mut().publish(topic.clone(), m);
            let _ = tokio::time::timeout(Duration::from_millis(50), swarm.select_next_some()).await;
        }
        let drive = async {
            loop {
                swarm.select_next_some().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drive).await;
        id
    })
}

#[test]
fn malformed_oversized_and_wrongly_signed_messages_are_rejected_counted_and_the_peer_banned() {
    let genesis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 2;
    let w = world(13, genesis);
    let trusted = address_of(&signing_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"));
    let node = start(&w, &w, true, p2p_cfg(vec![], None), trusted);
    let target = node.p2p_addrs().unwrap().1[0].clone();
    let topic = keel_shell::gossip::BlockVersion::at(&w.rollup_config(), genesis + 3).topic(901);

    let mut messages: Vec<Vec<u8>> = vec![
        // Undecodable.
        b"not snappy at all".to_vec(),
        // A snappy header claiming 100 MiB: refused before anything is allocated.
        [&[0x80, 0x80, 0x80, 0x32][..], &[0u8; 64][..]].concat(),
        // Valid snappy of a payload too short to hold a signature, and of 1 MiB of zeros (no valid signature).
        snap::raw::Encoder::new().compress_vec(&[1u8; 40]).unwrap(),
        snap::raw::Encoder::new().compress_vec(&vec![0u8; 1 << 20]).unwrap(),
    ];
    // Well-formed signed messages from an untrusted key, each different.
    let rogue = signing_key("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    for i in 0..8u8 {
        let mut raw = vec![0u8; 65];
        raw.extend_from_slice(&[i; 300]);
        let hash = keel_shell::gossip::signing_hash(901, &raw[65..]);
        let (sig, rec) = rogue.sign_prehash_recoverable(hash.as_slice()).unwrap();
        raw[..64].copy_from_slice(&sig.to_bytes());
        raw[64] = rec.to_byte();
        messages.push(snap::raw::Encoder::new().compress_vec(&raw).unwrap());
    }
    // A replay of the first message: a duplicate, dropped by message id.
    messages.push(messages[0].clone());
    let head_before = w.engine_head();
    let hostile = hostile_peer(target, topic, messages);

    let rejected = || node.metrics().value("keel_p2p_messages_received_total", &[("result", "reject")]).unwrap_or(0.0);
    wait_for("ten rejections", Duration::from_secs(10), || rejected() >= 10.0);
    let peers = rpc(&node, "opp2p_peers", json!([false]));
    assert!(
        peers["bannedPeers"].as_array().unwrap().contains(&json!(hostile.to_string())),
        "the peer is banned after {} rejections: {peers}",
        rejected()
    );
    assert_eq!(rpc(&node, "opp2p_peerStats", json!([]))["banned"], json!(1));
    assert_eq!(node.metrics().value("keel_p2p_messages_received_total", &[("result", "accept")]), None);
    assert_eq!(w.engine_head(), head_before, "nothing was imported");
    assert_eq!(rpc(&node, "admin_sequencerActive", json!([])), json!(false), "the node still answers");
    node.stop();
    node.join();
}

/// `keel node` as a process on `w`'s L1 and `engine`'s engine, with the given extra flags; stderr to `log`.
fn spawn_keel(
    w: &FakeWorld,
    engine: &FakeWorld,
    dir: &std::path::Path,
    name: &str,
    extra: &[String],
) -> std::process::Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let rollup = dir.join(format!("{name}.rollup.json"));
    std::fs::write(&rollup, keel_shell::rollup_json::to_op_node_json(&w.rollup_config()).to_string()).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "node".to_string(),
            "--mode=sequencer".into(),
            format!("--l1-eth-rpc={}", w.l1_url()),
            format!("--l2-engine-rpc={}", engine.engine_url()),
            format!("--l2.jwt-secret={}", dir.join("jwt.hex").display()),
            format!("--rollup-config={}", rollup.display()),
            "--port=0".into(),
            "--p2p.listen.ip=127.0.0.1".into(),
            "--p2p.no-discovery".into(),
        ])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[test]
fn two_keel_processes_a_standby_tracks_the_leader_through_gossip_alone() {
    let genesis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 2;
    let (leader_world, follower_world) = (world(21, genesis), world(21, genesis));
    let dir = std::env::temp_dir().join(format!("keel-p2p-procs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jwt.hex"), JwtSecret::new([7; 32]).to_hex()).unwrap();
    let seq_key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let signer = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    let leader_key = random_key().unwrap();
    let leader_id = P2pConfig::new([127, 0, 0, 1].into(), 0, leader_key).peer_id().unwrap();
    let port = keel_shell::interop::free_port().unwrap();
    let leader_rpc = keel_shell::interop::free_port().unwrap();
    // The leader waits, stopped, until its follower is on the topic: a block gossiped before that is never
    // delivered to the follower (Keel has no req-resp sync to fetch it later).
    let mut leader = spawn_keel(
        &leader_world,
        &leader_world,
        &dir,
        "leader",
        &[
            "--sequencer.stopped".into(),
            format!("--port={leader_rpc}"),
            "--rpc.enable-admin".into(),
            format!("--p2p.listen.tcp={port}"),
            format!("--p2p.priv.raw={}", alloy_primitives::hex::encode(leader_key)),
            format!("--p2p.sequencer.key={seq_key}"),
            format!("--p2p.unsafe.block.signer={signer}"),
        ],
    );
    // A third process sequences a chain of its own and signs with a key the follower does not trust.
    let rogue_world = world(22, genesis);
    let (rogue_key, rogue_port) = (random_key().unwrap(), keel_shell::interop::free_port().unwrap());
    let rogue_id = P2pConfig::new([127, 0, 0, 1].into(), 0, rogue_key).peer_id().unwrap();
    let mut rogue = spawn_keel(
        &rogue_world,
        &rogue_world,
        &dir,
        "rogue",
        &[
            format!("--p2p.listen.tcp={rogue_port}"),
            format!("--p2p.priv.raw={}", alloy_primitives::hex::encode(rogue_key)),
            "--p2p.sequencer.key=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".into(),
        ],
    );
    let metrics_port = keel_shell::interop::free_port().unwrap();
    let mut follower = spawn_keel(
        &leader_world,
        &follower_world,
        &dir,
        "follower",
        &[
            "--sequencer.stopped".into(),
            "--p2p.listen.tcp=0".into(),
            format!(
                "--p2p.static=/ip4/127.0.0.1/tcp/{port}/p2p/{leader_id},/ip4/127.0.0.1/tcp/{rogue_port}/p2p/{rogue_id}"
            ),
            format!("--p2p.unsafe.block.signer={signer}"),
            "--metrics.enabled".into(),
            format!("--metrics.port={metrics_port}"),
        ],
    );
    let call = |method: &str, params: Value| -> Option<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let text = ureq::post(&format!("http://127.0.0.1:{leader_rpc}")).send_string(&body.to_string()).ok()?;
        serde_json::from_str::<Value>(&text.into_string().ok()?).ok().map(|v| v["result"].clone())
    };
    wait_for("the follower to join the leader's topic", Duration::from_secs(30), || {
        call("opp2p_peerStats", json!([])).is_some_and(|s| s["blocksTopicV3"].as_u64() >= Some(1))
    });
    start_sequencer(&format!("http://127.0.0.1:{leader_rpc}"), leader_world.engine_head().hash);
    let t0 = Instant::now();
    while follower_world.engine_head().number < 8 {
        let logs = || std::fs::read_to_string(dir.join("follower.log")).unwrap_or_default();
        assert!(follower.try_wait().unwrap().is_none(), "follower exited:\n{}", logs());
        assert!(leader.try_wait().unwrap().is_none(), "leader exited");
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "the follower's engine is at {} (leader's at {}):\n{}",
            follower_world.engine_head().number,
            leader_world.engine_head().number,
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let head = follower_world.engine_head();
    for n in 1..=head.number {
        assert_eq!(follower_world.engine_block_at(n).unwrap().hash, leader_world.engine_block_at(n).unwrap().hash);
        let rogue_block = rogue_world.engine_block_at(n).map(|b| b.hash);
        assert_ne!(Some(follower_world.engine_block_at(n).unwrap().hash), rogue_block, "rogue block {n} imported");
    }
    // The rogue's blocks reached the follower and were rejected.
    let rejected = || -> f64 {
        let text = ureq::get(&format!("http://127.0.0.1:{metrics_port}/metrics"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok());
        text.unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("keel_p2p_messages_received_total{result=\"reject\"}"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    wait_for("the follower to reject the rogue's blocks", Duration::from_secs(20), || rejected() >= 1.0);
    for child in [&mut leader, &mut follower, &mut rogue] {
        std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(t0.elapsed() < Duration::from_secs(30), "keel did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_follower_finds_the_leader_through_discv5_from_its_enr_alone() {
    let genesis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 2;
    let (leader_world, follower_world) = (world(31, genesis), world(31, genesis));
    let key = signing_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
    let signer = address_of(&key);
    let with_discovery = |mut cfg: P2pConfig, bootnodes: Vec<Bootnode>| {
        cfg.discovery = Some(keel_shell::p2p::DiscoveryConfig { udp: 0, bootnodes });
        cfg
    };
    let mut leader_cfg = p2p_cfg(vec![], Some(key));
    let leader_p2p_key = leader_cfg.node_key;
    leader_cfg = with_discovery(leader_cfg, vec![]);
    // The leader waits for its followers: a node that joins later misses the blocks before it (Keel has no
    // req-resp sync to fetch them).
    let leader = start(&leader_world, &leader_world, true, leader_cfg, signer);
    let enr = rpc(&leader, "opp2p_self", json!([]))["ENR"].as_str().unwrap().to_string();
    assert!(enr.starts_with("enr:-"), "{enr}");
    let record: discv5::Enr = enr.parse().unwrap();
    assert_eq!(keel_shell::discovery::opstack_of(&record), Some((901, 0)), "the ENR carries the chain");
    let (leader_id, _) = keel_shell::discovery::dial_addr(&record).unwrap();
    assert_eq!(leader_id, leader.p2p_addrs().unwrap().0, "the ENR's key is the node key");

    let follower = start(
        &leader_world,
        &follower_world,
        true,
        with_discovery(p2p_cfg(vec![], None), vec![Bootnode::Enr(Box::new(record))]),
        signer,
    );
    // A second follower knows the leader only by an enode URL (key and address, as op-node's bootnode lists have
    // them): it asks the leader for its record first.
    let follower2_world = world(31, genesis);
    let leader_key = leader_p2p_key;
    let public =
        k256::ecdsa::SigningKey::from_bytes(&leader_key.into()).unwrap().verifying_key().to_encoded_point(false);
    let leader_port = leader.p2p_addrs().unwrap().1[0]
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let enode = format!("enode://{}@127.0.0.1:{leader_port}", alloy_primitives::hex::encode(&public.as_bytes()[1..]));
    let bootnode = keel_shell::discovery::parse_bootnode(&enode).unwrap();
    let follower2 =
        start(&leader_world, &follower2_world, true, with_discovery(p2p_cfg(vec![], None), vec![bootnode]), signer);
    for f in [&follower, &follower2] {
        wait_for("each follower to discover and connect to the leader", Duration::from_secs(30), || {
            rpc(f, "opp2p_peers", json!([true]))["peers"][leader_id.to_string()]["connectedness"] == json!(1)
        });
        let stats = rpc(f, "opp2p_peerStats", json!([]));
        assert!(stats["table"].as_u64().unwrap() >= 1, "{stats}");
    }
    start_sequencer(&format!("http://{}", leader.rpc_addr().unwrap()), leader_world.engine_head().hash);
    let start_head = leader_world.engine_head().number;
    wait_for("the followers to import gossiped blocks", Duration::from_secs(30), || {
        follower_world.engine_head().number >= start_head + 3 && follower2_world.engine_head().number >= start_head + 3
    });
    for w in [&follower_world, &follower2_world] {
        let n = w.engine_head().number;
        assert_eq!(w.engine_block_at(n).unwrap().hash, leader_world.engine_block_at(n).unwrap().hash);
    }
    for node in [follower2, follower, leader] {
        node.stop();
        node.join();
    }
}
