//! The `keel` binary stops on SIGTERM after the block in flight, exits 0, and a restarted node continues the chain.

use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use keel_shell::jwt::JwtSecret;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn_keel(w: &FakeWorld, dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "node",
            "--mode=sequencer",
            &format!("--l1-eth-rpc={}", w.l1_url()),
            &format!("--l2-engine-rpc={}", w.engine_url()),
            &format!("--l2.jwt-secret={}", dir.join("jwt.hex").display()),
            &format!("--rollup-config={}", dir.join("rollup.json").display()),
            "--port=0",
            &format!("--p2p.static-followers={}", w.follower_url()),
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(t0.elapsed() < timeout, "keel did not exit within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_mid_build_loses_no_block_and_restart_resumes() {
    let jwt = JwtSecret::new([0x42; 32]);
    let mut cfg = FakeWorldConfig::new(jwt.clone());
    cfg.block_time_ms = 1_000;
    cfg.seed = 42;
    let w = FakeWorld::start(cfg).unwrap();
    let dir = std::env::temp_dir().join(format!("keel-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jwt.hex"), jwt.to_hex()).unwrap();
    std::fs::write(dir.join("rollup.json"), keel_shell::rollup_json::to_op_node_json(&w.rollup_config()).to_string())
        .unwrap();

    let mut child = spawn_keel(&w, &dir);
    let t0 = Instant::now();
    while w.engine_head().number < 3 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no blocks");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Half a slot in: a build is in flight.
    std::thread::sleep(Duration::from_millis(500));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "clean exit after SIGTERM");
    let head = w.engine_head();
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(w.engine_head(), head, "nothing builds after exit");
    // Every block handed to followers is on the engine's chain: no sealed block was lost.
    let published = w.published_hashes();
    assert!(!published.is_empty());
    assert_eq!(published.last(), Some(&head.hash), "the last published block is the engine head");

    let mut child = spawn_keel(&w, &dir);
    let t0 = Instant::now();
    while w.engine_head().number < head.number + 2 {
        assert!(t0.elapsed() < Duration::from_secs(30), "restarted node made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let published = w.published_hashes();
    assert!(published.contains(&head.hash));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)).code(), Some(0));
    std::fs::remove_dir_all(dir).unwrap();
    w.stop();
}
