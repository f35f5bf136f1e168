//! The README's main command: `keel devnet` sequences blocks live and exits cleanly.

use std::process::Command;

#[test]
fn keel_devnet_runs_from_the_binary() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["devnet", "--blocks", "4", "--port", "0", "--block-time-ms", "500"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().filter(|l| l.starts_with("block ")).count() >= 4, "{stdout}");
    assert!(stdout.contains("keel devnet: stopped after"), "{stdout}");
}
