//! `keel node` flags: the seed document's flags, kona-node's aliases and defaults, Keel's additions, the TOML config
//! file, and clear errors for bad values. (Env vars are tested in `cli_env.rs`, a separate process.)

use keel_shell::builder::NodeMode;
use keel_shell::cli::{node_builder, parse_args, CliError, Command, NodeArgs};
use std::path::PathBuf;

fn node(args: &[&str]) -> (NodeArgs, u64) {
    let mut argv = vec!["keel", "node"];
    argv.extend_from_slice(args);
    let cli = parse_args(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Command::Node(n) => (n, cli.chain),
        other => panic!("expected node, got {other:?}"),
    }
}

fn node_err(args: &[&str]) -> String {
    let mut argv = vec!["keel", "node"];
    argv.extend_from_slice(args);
    parse_args(argv).unwrap_err().to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("keel-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn seed_basic_sequencer_command_parses() {
    let (n, chain) = node(&[
        "--mode=Sequencer",
        "--l1-eth-rpc=http://l1-node:8545",
        "--l1-beacon=http://l1-beacon:5052",
        "--l2-engine-rpc=http://l2-execution:8551",
        "--l2.jwt-secret=./jwt.hex",
        "--chain=123456",
    ]);
    assert_eq!(chain, 123456);
    assert_eq!(n.mode, NodeMode::Sequencer);
    assert_eq!(n.l1_eth_rpc.as_deref(), Some("http://l1-node:8545"));
    assert_eq!(n.l1_beacon.as_deref(), Some("http://l1-beacon:5052"));
    assert_eq!(n.l2_engine_rpc.as_deref(), Some("http://l2-execution:8551"));
    assert_eq!(n.l2_jwt_secret, Some(PathBuf::from("./jwt.hex")));
}

#[test]
fn seed_conductor_and_recovery_examples_parse() {
    let (n, _) = node(&[
        "--mode=Sequencer",
        "--conductor.rpc=http://conductor:8080",
        "--conductor.rpc.timeout=5",
        "--sequencer.l1-confs=6",
        "--l1-eth-rpc=http://l1-node:8545",
        "--l2-engine-rpc=http://l2-execution:8551",
    ]);
    assert_eq!(n.conductor_rpc.as_deref(), Some("http://conductor:8080"));
    assert_eq!(n.conductor_timeout_s, 5);
    assert_eq!(n.l1_confs, 6);
    let (n, _) = node(&["--mode=Sequencer", "--sequencer.recover=true", "--sequencer.max-safe-lag=100"]);
    assert!(n.sequencer_recover);
    assert_eq!(n.max_safe_lag, 100);
    let (n, _) = node(&["--sequencer.stopped", "--sequencer.recover"]);
    assert!(n.sequencer_stopped && n.sequencer_recover, "bare boolean flags mean true");
    let (n, _) = node(&["--sequencer.stopped=false"]);
    assert!(!n.sequencer_stopped);
}

#[test]
fn defaults_match_kona_node_and_keel_binds_loopback() {
    let (n, chain) = node(&[]);
    assert_eq!(chain, 10);
    assert_eq!(n.mode, NodeMode::Validator);
    assert_eq!((n.l1_confs, n.max_safe_lag, n.conductor_timeout_s, n.seal_margin_ms), (4, 0, 1, None));
    assert!(!n.sequencer_stopped && !n.sequencer_recover && !n.rpc_enable_admin && !n.metrics_enabled);
    assert_eq!(n.rpc_port, 9545);
    assert_eq!(n.rpc_addr.to_string(), "127.0.0.1");
    assert_eq!((n.metrics_addr.to_string(), n.metrics_port), ("127.0.0.1".to_string(), 9090));
    assert_eq!(n.conductor_rpc, None);
}

#[test]
fn mode_is_case_insensitive() {
    for m in ["Sequencer", "sequencer", "SEQUENCER"] {
        assert_eq!(node(&[&format!("--mode={m}")]).0.mode, NodeMode::Sequencer);
    }
    assert_eq!(node(&["--mode", "validator"]).0.mode, NodeMode::Validator);
    let e = node_err(&["--mode=leader"]);
    assert!(e.contains("unknown mode") && e.contains("Sequencer"), "{e}");
}

#[test]
fn kona_aliases() {
    let (n, _) = node(&[
        "--l1",
        "http://a:1",
        "--l1.beacon",
        "http://b:2",
        "--l2",
        "http://c:3",
        "--rollup-cfg",
        "r.json",
        "--rpc.port",
        "7000",
        "--l2-engine-jwt-secret",
        "s.hex",
    ]);
    assert_eq!(n.l1_eth_rpc.as_deref(), Some("http://a:1"));
    assert_eq!(n.l1_beacon.as_deref(), Some("http://b:2"));
    assert_eq!(n.l2_engine_rpc.as_deref(), Some("http://c:3"));
    assert_eq!(n.rollup_config, Some(PathBuf::from("r.json")));
    assert_eq!(n.rpc_port, 7000);
    assert_eq!(n.l2_jwt_secret, Some(PathBuf::from("s.hex")));
    let (n, _) = node(&["--l2-config-file", "x.json", "--port", "7001", "--rollup-config", "y.json"]);
    assert_eq!(n.rollup_config, Some(PathBuf::from("y.json")), "last occurrence wins");
    assert_eq!(n.rpc_port, 7001);
}

#[test]
fn keel_additions_parse() {
    let (n, _) = node(&[
        "--rpc.addr=0.0.0.0",
        "--rpc.enable-admin",
        "--metrics.enabled",
        "--metrics.addr=0.0.0.0",
        "--metrics.port=9191",
        "--sequencer.seal-margin=120",
        "--p2p.static-followers=http://f1:9545,http://f2:9545",
        "--l2.block-time-ms=250",
        "--p2p.no-discovery",
        "--p2p.sequencer.key=0xabc",
        "--rpc.admin-state=/tmp/state",
    ]);
    assert!(n.rpc_enable_admin && n.metrics_enabled && n.p2p_no_discovery);
    assert_eq!(n.rpc_addr.to_string(), "0.0.0.0");
    assert_eq!(n.metrics_port, 9191);
    assert_eq!(n.seal_margin_ms, Some(120));
    assert_eq!(n.static_followers, ["http://f1:9545", "http://f2:9545"]);
    assert_eq!(n.block_time_ms, Some(250));
}

#[test]
fn bad_values_are_clear_errors() {
    let e = node_err(&["--sequencer.l1-confs=abc"]);
    assert!(e.contains("--sequencer.l1-confs") && e.contains("abc"), "{e}");
    let e = node_err(&["--rpc.addr=not-an-ip"]);
    assert!(e.contains("--rpc.addr"), "{e}");
    let e = node_err(&["--sequencer.stopped=maybe"]);
    assert!(e.contains("not a boolean"), "{e}");
    let e = node_err(&["--port=70000"]);
    assert!(e.contains("--port"), "{e}");
    let e = node_err(&["--no-such-flag"]);
    assert!(e.contains("--no-such-flag"), "{e}");
}

#[test]
fn chains_resolve_through_the_registry_or_fail_clearly() {
    let dir = temp_dir("chain");
    let (n, _) = node(&["--mode=Sequencer", "--l1-eth-rpc=http://l1:8545", "--l2-engine-rpc=http://l2:8551"]);
    // OP Mainnet is in the registry.
    assert!(node_builder(&n, 10, false, &dir).unwrap().build().is_ok());
    // The seed's own example uses 42161, which is not an OP Stack chain.
    let e = node_builder(&n, 42161, false, &dir).unwrap_err();
    assert!(matches!(e, CliError::UnknownChain(42161)));
    assert!(e.to_string().contains("--rollup-config"), "{e}");
    // Base Mainnet left the superchain registry on 2026-04-27.
    assert!(matches!(node_builder(&n, 8453, false, &dir).unwrap_err(), CliError::UnknownChain(8453)));
    // Today's forks come with the chain.
    let op = keel_shell::cli::rollup_config(&n, 10).unwrap();
    assert_eq!(op.hardforks.jovian_time, Some(1_764_691_201));
    assert_eq!(op.karst_time, Some(1_783_526_401));
    assert!(op.keep_karst_upgrade_gas);
    let sepolia = keel_shell::cli::rollup_config(&n, 11_155_420).unwrap();
    assert_eq!((sepolia.hardforks.jovian_time, sepolia.karst_time), (Some(1_763_568_001), Some(1_781_712_001)));
    assert!(sepolia.keep_karst_upgrade_gas);
    assert_eq!(sepolia.l1_chain_id, 11_155_111);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn l1_chain_config_sets_the_blob_schedule() {
    let dir = temp_dir("l1cfg");
    let path = dir.join("l1.json");
    std::fs::write(&path, r#"{"chainId":900,"cancunTime":0,"pragueTime":50,"blobSchedule":{"cancun":{"baseFeeUpdateFraction":3338477},"prague":{"baseFeeUpdateFraction":5007716}}}"#).unwrap();
    let (n, _) = node(&["--mode=sequencer", &format!("--rollup.l1-chain-config={}", path.display())]);
    let r = keel_shell::cli::rollup_config(&n, 10).unwrap();
    assert_eq!(r.l1_blob_schedule.update_fraction(49, false), 3_338_477);
    assert_eq!(r.l1_blob_schedule.update_fraction(50, false), 5_007_716);
    std::fs::write(&path, r#"{"cancunTime":0}"#).unwrap();
    let e = keel_shell::cli::rollup_config(&n, 10).unwrap_err().to_string();
    assert!(e.contains("l1.json") && e.contains("blobSchedule.cancun"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn validator_mode_is_refused_and_missing_endpoints_are_named() {
    let dir = temp_dir("validator");
    let (n, _) = node(&["--l1-eth-rpc=http://l1:8545", "--l2-engine-rpc=http://l2:8551"]);
    let e = node_builder(&n, 10, false, &dir).unwrap_err().to_string();
    assert!(e.contains("validator mode is not supported") && e.contains("--mode=Sequencer"), "{e}");
    let (n, _) = node(&["--mode=sequencer", "--l2-engine-rpc=http://l2:8551"]);
    let e = node_builder(&n, 10, false, &dir).unwrap().build().unwrap_err().to_string();
    assert!(e.contains("--l1-eth-rpc"), "{e}");
    let (n, _) = node(&["--mode=sequencer", "--l1-eth-rpc=l1:8545", "--l2-engine-rpc=http://l2:8551"]);
    let e = node_builder(&n, 10, false, &dir).unwrap().build().unwrap_err().to_string();
    assert!(e.contains("not an http(s) URL"), "{e}");
    let (n, _) = node(&[
        "--mode=sequencer",
        "--l1-eth-rpc=http://l1",
        "--l2-engine-rpc=http://l2",
        "--sequencer.seal-margin=5000",
    ]);
    let e = node_builder(&n, 10, false, &dir).unwrap().build().unwrap_err().to_string();
    assert!(e.contains("seal margin"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn jwt_secret_default_is_created_and_bad_secrets_rejected() {
    let dir = temp_dir("jwt");
    let (n, _) = node(&["--mode=sequencer", "--l1-eth-rpc=http://l1", "--l2-engine-rpc=http://l2"]);
    node_builder(&n, 10, false, &dir).unwrap();
    assert!(dir.join("jwt.hex").exists(), "jwt.hex created in the working directory");
    let bad = dir.join("bad.hex");
    std::fs::write(&bad, "not hex").unwrap();
    let (n, _) = node(&["--mode=sequencer", &format!("--l2.jwt-secret={}", bad.display())]);
    let e = node_builder(&n, 10, false, &dir).unwrap_err().to_string();
    assert!(e.contains("JWT secret"), "{e}");
    let (n, _) = node(&["--mode=sequencer", "--l2.jwt-secret=/nonexistent/keel.hex"]);
    let e = node_builder(&n, 10, false, &dir).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/keel.hex"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rollup_config_file_is_used_and_errors_name_the_file() {
    let dir = temp_dir("rollup");
    let path = dir.join("rollup.json");
    let mut json = keel_shell::registry::lookup(10).unwrap().rollup;
    json["karst_time"] = serde_json::json!(1_783_526_401u64);
    std::fs::write(&path, json.to_string()).unwrap();
    let (n, _) = node(&[
        "--mode=sequencer",
        "--l1-eth-rpc=http://l1",
        "--l2-engine-rpc=http://l2",
        &format!("--rollup-cfg={}", path.display()),
    ]);
    let from_file = keel_shell::cli::rollup_config(&n, 999).unwrap();
    assert_eq!(from_file, keel_shell::rollup_json::parse_value(json.clone()).unwrap().0, "the file wins over --chain");
    assert_eq!(from_file.karst_time, Some(1_783_526_401));
    // An unimplemented fork is refused at startup, naming it and its time.
    json["lagoon_time"] = serde_json::json!(1_900_000_000u64);
    std::fs::write(&path, json.to_string()).unwrap();
    let dir2 = temp_dir("rollup-lagoon");
    let e = node_builder(&n, 999, false, &dir2).unwrap_err().to_string();
    assert!(e.contains("Lagoon") && e.contains("1900000000"), "{e}");
    std::fs::remove_dir_all(dir2).unwrap();
    std::fs::write(&path, "{\"oops\": ").unwrap();
    let e = keel_shell::cli::rollup_config(&n, 10).unwrap_err().to_string();
    assert!(e.contains("rollup.json") && e.contains("rollup config"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn toml_config_file_mirrors_flags_and_flags_override_it() {
    let dir = temp_dir("toml");
    let path = dir.join("keel.toml");
    std::fs::write(
        &path,
        r#"
mode = "Sequencer"
l1-eth-rpc = "http://from-file:8545"
"rpc.enable-admin" = true
"p2p.static-followers" = ["http://f1", "http://f2"]

[sequencer]
l1-confs = 9
max-safe-lag = 33

[conductor]
rpc = "http://conductor-from-file:8080"
"#,
    )
    .unwrap();
    let cfg = format!("--config={}", path.display());
    let (n, _) = node(&[&cfg, "--sequencer.l1-confs=2"]);
    assert_eq!(n.mode, NodeMode::Sequencer);
    assert_eq!(n.l1_eth_rpc.as_deref(), Some("http://from-file:8545"));
    assert!(n.rpc_enable_admin);
    assert_eq!(n.static_followers, ["http://f1", "http://f2"]);
    assert_eq!(n.l1_confs, 2, "the flag overrides the file");
    assert_eq!(n.max_safe_lag, 33);
    assert_eq!(n.conductor_rpc.as_deref(), Some("http://conductor-from-file:8080"));
    std::fs::write(&path, "no-such-key = 1\n").unwrap();
    let e = node_err(&[&cfg]);
    assert!(e.contains("unknown key \"no-such-key\""), "{e}");
    std::fs::write(&path, "[[[").unwrap();
    assert!(node_err(&[&cfg]).contains("keel.toml"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn help_lists_every_seed_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keel")).args(["node", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--mode",
        "--l1-eth-rpc",
        "--l1-beacon",
        "--l2-engine-rpc",
        "--l2.jwt-secret",
        "--chain",
        "--sequencer.stopped",
        "--sequencer.max-safe-lag",
        "--sequencer.l1-confs",
        "--sequencer.recover",
        "--conductor.rpc",
        "--conductor.rpc.timeout",
        "--rpc.addr",
        "--rpc.port",
        "--rpc.enable-admin",
        "--metrics.enabled",
        "--metrics.addr",
        "--metrics.port",
        "--sequencer.seal-margin",
        "--rollup-config",
        "--p2p.static-followers",
    ] {
        assert!(help.contains(flag), "`keel node --help` lacks {flag}\n{help}");
    }
    for env in [
        "KONA_NODE_MODE",
        "KONA_NODE_L1_ETH_RPC",
        "KONA_NODE_L1_BEACON",
        "KONA_NODE_L2_ENGINE_RPC",
        "KONA_NODE_L2_ENGINE_AUTH",
        "KONA_NODE_L2_CHAIN_ID",
        "KONA_NODE_SEQUENCER_STOPPED",
        "KONA_NODE_SEQUENCER_MAX_SAFE_LAG",
        "KONA_NODE_SEQUENCER_L1_CONFS",
        "KONA_NODE_SEQUENCER_RECOVER",
        "KONA_NODE_CONDUCTOR_RPC",
        "KONA_NODE_CONDUCTOR_RPC_TIMEOUT",
    ] {
        assert!(help.contains(env), "`keel node --help` does not mention {env}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["node", "--sequencer.l1-confs=x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "bad flags exit with 2");
    let validator = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["node", "--l1-eth-rpc=http://l1", "--l2-engine-rpc=http://l2", "--l2.jwt-secret=/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(validator.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&validator.stderr).contains("not supported"));
}

#[test]
fn p2p_flags_are_kona_nodes_and_bad_keys_or_peers_are_clear_errors() {
    let dir = temp_dir("p2p");
    let base = ["--mode=sequencer", "--l1-eth-rpc=http://l1", "--l2-engine-rpc=http://l2"];
    let (n, _) = node(&base);
    assert!(!n.p2p_disabled && !n.p2p_no_discovery);
    assert_eq!((n.p2p_listen_ip.to_string(), n.p2p_listen_tcp, n.p2p_listen_udp), ("0.0.0.0".into(), None, 9223));
    assert_eq!((n.p2p_peers_lo, n.p2p_peers_hi), (20, 30));

    let key_file = dir.join("opnode_p2p_priv.txt");
    let peer = "/ip4/127.0.0.1/tcp/9222/p2p/16Uiu2HAmQdpHPXMYZ2b4j2FcFRQC2nJ5xJrS3dVb3XJrKfU5wFHd";
    let args: Vec<String> = base
        .iter()
        .map(|s| s.to_string())
        .chain([
            "--p2p.listen.ip=127.0.0.1".into(),
            "--p2p.listen.tcp=0".into(),
            format!("--p2p.priv.path={}", key_file.display()),
            format!("--p2p.static={peer}"),
            "--p2p.sequencer.key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".into(),
            "--p2p.unsafe.block.signer=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".into(),
            "--p2p.peers.hi=5".into(),
            "--p2p.no-discovery".into(),
        ])
        .collect();
    let (n, _) = node(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(n.p2p_static, [peer]);
    assert_eq!(n.p2p_listen_tcp, Some(0));
    node_builder(&n, 10, false, &dir).unwrap();
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64, "the node key is persisted as hex: {key}");
    node_builder(&n, 10, false, &dir).unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "and reused on the next start");

    for (flag, expect) in [
        ("--p2p.sequencer.key=0xabc", "invalid p2p key"),
        ("--p2p.priv.raw=nothex", "invalid p2p key"),
        ("--p2p.static=/ip4/127.0.0.1/tcp/9222", "no /p2p/<peer id>"),
        ("--p2p.static=127.0.0.1:9222", "invalid static peer"),
        ("--p2p.bootnodes=enr:-nonsense", "invalid bootnode"),
        ("--p2p.bootnodes=enode://1234@127.0.0.1:30303", "invalid bootnode"),
    ] {
        let mut a = base.to_vec();
        a.push(flag);
        let (n, _) = node(&a);
        let e = node_builder(&n, 10, false, &dir).unwrap_err().to_string();
        assert!(e.contains(expect), "{flag}: {e}");
    }
    // Bootnodes in both of op-node's forms parse (the enode's record is asked for once discovery runs).
    let enode = "enode://869d07b5932f17e8490990f75a3f94195e9504ddb6b85f7189e5a9c0a8fff8b00aecf6f3ac450ecba6cdabdb5858788a94bde2b613e0f2d82e9b395355f76d1a@127.0.0.1:30305";
    let enr = "enr:-J24QNz9lbrKbN4iSmmjtnr7SjUMk4zB7f1krHZcTZx-JRKZd0kA2gjufUROD6T3sOWDVDnFJRvqBBo62zuF-hYCohOGAYiOoEyEgmlkgnY0gmlwhAPniryHb3BzdGFja4OFQgCJc2VjcDI1NmsxoQKNVFlCxh_B-716tTs-h1vMzZkSs1FTu_OYTNjgufplG4N0Y3CCJAaDdWRwgiQG";
    let (n, _) = node(&[&base[..], &[&format!("--p2p.bootnodes={enode},{enr}")[..]]].concat());
    assert_eq!(n.p2p_bootnodes.len(), 2);
    node_builder(&n, 10, false, &dir).unwrap();
    let e = node_err(&["--p2p.unsafe.block.signer=0x1234"]);
    assert!(e.contains("p2p.unsafe.block.signer"), "{e}");
    let (n, _) = node(&[&base[..], &["--p2p.disabled", "--p2p.sequencer.key=garbage"]].concat());
    node_builder(&n, 10, false, &dir).expect("with p2p disabled its keys are not read");
    std::fs::remove_dir_all(dir).unwrap();
}
