//! Every env var of the seed document, kona's misspelled recover alias, and precedence over the config file. One test
//! in its own process: env vars are process-global.

use keel_shell::builder::NodeMode;
use keel_shell::cli::{parse_args, recover_given, Command, NodeArgs};

fn parse(args: &[&str]) -> (NodeArgs, u64) {
    let mut argv = vec!["keel", "node"];
    argv.extend_from_slice(args);
    let cli = parse_args(argv).unwrap();
    match cli.command {
        Command::Node(n) => (n, cli.chain),
        other => panic!("expected node, got {other:?}"),
    }
}

fn with_env<R>(vars: &[(&str, &str)], f: impl FnOnce() -> R) -> R {
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let r = f();
    for (k, _) in vars {
        std::env::remove_var(k);
    }
    r
}

#[test]
fn env_vars() {
    let (n, chain) = with_env(
        &[
            ("KONA_NODE_MODE", "sequencer"),
            ("KONA_NODE_L1_ETH_RPC", "http://l1-env:8545"),
            ("KONA_NODE_L1_BEACON", "http://beacon-env:5052"),
            ("KONA_NODE_L2_ENGINE_RPC", "http://engine-env:8551"),
            ("KONA_NODE_L2_ENGINE_AUTH", "/secrets/jwt.hex"),
            ("KONA_NODE_L2_CHAIN_ID", "8453"),
            ("KONA_NODE_SEQUENCER_STOPPED", "true"),
            ("KONA_NODE_SEQUENCER_MAX_SAFE_LAG", "77"),
            ("KONA_NODE_SEQUENCER_L1_CONFS", "8"),
            ("KONA_NODE_SEQUENCER_RECOVER", "true"),
            ("KONA_NODE_CONDUCTOR_RPC", "http://conductor-env:8080"),
            ("KONA_NODE_CONDUCTOR_RPC_TIMEOUT", "3"),
            ("KONA_NODE_ROLLUP_CONFIG", "/etc/rollup.json"),
            ("KONA_METRICS_ENABLED", "true"),
            ("KONA_METRICS_PORT", "9999"),
        ],
        || parse(&[]),
    );
    assert_eq!(chain, 8453);
    assert_eq!(n.mode, NodeMode::Sequencer);
    assert_eq!(n.l1_eth_rpc.as_deref(), Some("http://l1-env:8545"));
    assert_eq!(n.l1_beacon.as_deref(), Some("http://beacon-env:5052"));
    assert_eq!(n.l2_engine_rpc.as_deref(), Some("http://engine-env:8551"));
    assert_eq!(n.l2_jwt_secret.as_deref(), Some(std::path::Path::new("/secrets/jwt.hex")));
    assert!(n.sequencer_stopped && n.sequencer_recover && n.metrics_enabled);
    assert_eq!((n.max_safe_lag, n.l1_confs, n.conductor_timeout_s, n.metrics_port), (77, 8, 3, 9999));
    assert_eq!(n.conductor_rpc.as_deref(), Some("http://conductor-env:8080"));
    assert_eq!(n.rollup_config.as_deref(), Some(std::path::Path::new("/etc/rollup.json")));

    // A flag beats its env var.
    let (n, _) = with_env(&[("KONA_NODE_SEQUENCER_L1_CONFS", "8")], || parse(&["--sequencer.l1-confs=1"]));
    assert_eq!(n.l1_confs, 1);

    // kona's misspelled env var for --sequencer.recover is honoured when the correct one is absent.
    let argv: Vec<std::ffi::OsString> = ["keel", "node"].iter().map(Into::into).collect();
    let given = with_env(&[("KONA_NODE_SEQUENCER_RECOVER", "true")], || recover_given(&argv));
    assert!(given);
    assert!(!recover_given(&argv));
    let dir = std::env::temp_dir().join(format!("keel-cli-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (n, _) = parse(&["--mode=sequencer", "--l1-eth-rpc=http://l1", "--l2-engine-rpc=http://l2"]);
    let recover_on = with_env(&[("KONA_NODE_SSEQUENCER_RECOVER", "true")], || {
        keel_shell::cli::node_builder(&n, 10, false, &dir).map(|b| format!("{b:?}"))
    })
    .unwrap();
    assert!(recover_on.contains("sequencer_recovery_mode: true"), "{recover_on}");
    let recover_off = keel_shell::cli::node_builder(&n, 10, false, &dir).map(|b| format!("{b:?}")).unwrap();
    assert!(recover_off.contains("sequencer_recovery_mode: false"));

    // An env var beats the config file.
    let path = dir.join("keel.toml");
    std::fs::write(&path, "\"sequencer.l1-confs\" = 9\n\"sequencer.max-safe-lag\" = 5\n").unwrap();
    let (n, _) =
        with_env(&[("KONA_NODE_SEQUENCER_L1_CONFS", "3")], || parse(&[&format!("--config={}", path.display())]));
    assert_eq!((n.l1_confs, n.max_safe_lag), (3, 5));
    std::fs::remove_dir_all(dir).unwrap();
}
