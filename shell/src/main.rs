//! `keel`: the Keel sequencer node.
//!
//! Exit codes: 0 stopped cleanly on SIGINT/SIGTERM; 1 runtime failure (a socket could not be bound, the node lost
//! its event sources); 2 bad flags, config file, rollup config or JWT secret; 3 stopped on a signal but the block in
//! flight did not settle within the grace period.

use keel_shell::cli::{self, Command};
use keel_shell::driver::Exit;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = match cli::parse_args(argv.clone()) {
        Ok(c) => c,
        Err(cli::CliError::Clap(e)) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The devnet's status lines are its main output; its node logs only warnings unless RUST_LOG says otherwise.
    let default_level = if matches!(parsed.command, Command::Devnet(_)) { "warn" } else { "info" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .format_timestamp_millis()
        .init();
    match parsed.command {
        Command::Node(args) => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
            let builder = match cli::node_builder(&args, parsed.chain, cli::recover_given(&argv), &cwd) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            run(builder)
        }
        #[cfg(not(feature = "devnet"))]
        Command::Devnet(_) => {
            eprintln!(
                "error: this keel was built without the devnet feature; run `cargo run -p keel-shell --features devnet -- devnet`"
            );
            ExitCode::from(2)
        }
        #[cfg(feature = "devnet")]
        Command::Devnet(args) => {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                let _ = signal_hook::flag::register(sig, stop.clone());
            }
            match keel_shell::devnet::run(&args, &stop, &mut std::io::stdout()) {
                Ok(s) if s.clean => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(3),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn run(builder: keel_shell::builder::RollupNodeBuilder) -> ExitCode {
    let node = match builder.build() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let handle = match node.start() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // Signals arrive on a channel (a thread blocked in signal-hook's iterator), so the main thread wakes on a signal
    // at once and otherwise only once a second to see whether the node ended by itself.
    let (sig_tx, sig_rx) = crossbeam_channel::bounded::<i32>(1);
    match signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]) {
        Ok(mut signals) => {
            let spawned = std::thread::Builder::new().name("keel-signals".into()).spawn(move || {
                for sig in signals.forever() {
                    let _ = sig_tx.try_send(sig);
                }
            });
            if let Err(e) = spawned {
                log::error!("cannot start the signal thread: {e}");
            }
        }
        Err(e) => log::error!("cannot install handlers for SIGINT and SIGTERM: {e}"),
    }
    let mut signalled = false;
    while !handle.is_finished() {
        match sig_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(_) => {
                signalled = true;
                break;
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
    if signalled {
        log::info!("signal received: stopping after the block in flight");
    }
    handle.stop();
    match handle.join() {
        Exit::Stopped if signalled => ExitCode::SUCCESS,
        Exit::Stopped => ExitCode::SUCCESS,
        Exit::StoppedUnclean => ExitCode::from(3),
        Exit::Disconnected => {
            log::error!("the node lost its event sources and stopped");
            ExitCode::from(1)
        }
    }
}
