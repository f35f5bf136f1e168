//! A local OP Stack chain on real peers: anvil as L1, op-geth as the execution engine, both built or installed from
//! source by `interop/build.sh` (op-geth through the Go module proxy, anvil and solc-js from npm).
//!
//! Used by `keel devnet --engine=op-geth` and by the interop tests (`shell/tests/interop.rs`). Every process is a
//! [`Proc`], killed when dropped, so a failing test leaves nothing running; every port is picked at run time.

pub mod genesis;

use crate::jwt::JwtSecret;
use crate::rpc::RpcClient;
use alloy_primitives::{Address, Bytes, B256, U256};
use genesis::ChainPlan;
use keel_core::Rollup;
use kona_protocol::BlockInfo;
use serde_json::{json, Value};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a peer may take to answer its first RPC after it was started.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of one RPC call made by this module.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the local chain could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// A tool is missing: `interop/build.sh` has not run.
    #[error("{what} not found at {path}: run `bash interop/build.sh` (builds op-geth through the Go module proxy and installs anvil from npm)")]
    Missing {
        /// Which tool.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A process, file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A peer did not come up, or answered something unusable.
    #[error("{0}")]
    Peer(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> InteropError {
    let context = context.into();
    move |source| InteropError::Io { context, source }
}

/// The built tools.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The `interop/` folder.
    pub dir: PathBuf,
    /// op-geth's `geth` binary.
    pub geth: PathBuf,
    /// anvil.
    pub anvil: PathBuf,
    /// op-node (`bin/op-node`), the gossip interop test's validator; [`Self::locate`] does not require it.
    pub op_node: PathBuf,
    /// Runtime bytecode of `interop/contracts/DepositEmitter.sol`.
    pub deposit_contract_code: Bytes,
}

impl Tools {
    /// The tools under `dir` (the repository's `interop/`), as `interop/build.sh` leaves them.
    pub fn locate(dir: &Path) -> Result<Self, InteropError> {
        let bin = dir.join("bin");
        let geth = bin.join("geth");
        // The platform package's binary itself: `node_modules/.bin/anvil` is a Node wrapper that would outlive a kill
        // of its child process.
        let anvil = Self::anvil_binary(dir);
        let code_path = bin.join("DepositEmitter.bin-runtime");
        for (what, path) in [("op-geth", &geth), ("anvil", &anvil), ("the compiled deposit contract", &code_path)] {
            if !path.exists() {
                return Err(InteropError::Missing { what, path: path.clone() });
            }
        }
        let text = std::fs::read_to_string(&code_path).map_err(io(format!("reading {}", code_path.display())))?;
        let deposit_contract_code: Bytes = text
            .trim()
            .parse()
            .map_err(|e| InteropError::Peer(format!("{}: not hex bytecode: {e}", code_path.display())))?;
        Ok(Self { dir: dir.to_path_buf(), geth, anvil, op_node: bin.join("op-node"), deposit_contract_code })
    }

    /// anvil's native binary from the npm package for this platform (`@foundry-rs/anvil-<os>-<arch>`).
    fn anvil_binary(dir: &Path) -> PathBuf {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        dir.join(format!("node_modules/@foundry-rs/anvil-{}-{arch}/bin/anvil", std::env::consts::OS))
    }

    /// Runs `interop/build.sh` (which reuses what is already built), then [`Self::locate`].
    pub fn build(dir: &Path) -> Result<Self, InteropError> {
        let status = Command::new("bash")
            .arg(dir.join("build.sh"))
            .status()
            .map_err(io(format!("running {}/build.sh", dir.display())))?;
        if !status.success() {
            return Err(InteropError::Peer(format!("{}/build.sh failed ({status})", dir.display())));
        }
        Self::locate(dir)
    }

    /// The repository's `interop/` folder: `$KEEL_INTEROP_DIR`, else `interop/` under the current directory or the
    /// nearest ancestor that has one.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("KEEL_INTEROP_DIR") {
            return PathBuf::from(d);
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        cwd.ancestors()
            .map(|a| a.join("interop"))
            .find(|p| p.join("go.mod").exists())
            .unwrap_or_else(|| cwd.join("interop"))
    }
}

/// A free loopback TCP port, picked now (the OS may in principle hand it out again before the peer binds it).
pub fn free_port() -> Result<u16, InteropError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("picking a free port"))?;
    Ok(l.local_addr().map_err(io("picking a free port"))?.port())
}

/// A child process that is killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self, InteropError> {
        let out =
            File::options().create(true).append(true).open(log).map_err(io(format!("opening {}", log.display())))?;
        let err = out.try_clone().map_err(io("duplicating a log handle"))?;
        // Its own process group, so that killing it also kills whatever it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("starting {name} ({:?})", cmd.get_program())))?;
        Ok(Self { name: name.to_string(), child: Some(child), log: log.to_path_buf() })
    }

    /// Process id.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Where its output goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of its log, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether it has exited (and with what).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `signal` (a `kill` signal name such as "TERM").
    pub fn signal(&self, signal: &str) -> Result<(), InteropError> {
        let Some(pid) = self.id() else { return Ok(()) };
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .map_err(io(format!("kill -{signal} {}", self.name)))?;
        if status.success() {
            Ok(())
        } else {
            Err(InteropError::Peer(format!("kill -{signal} {} ({pid}) failed", self.name)))
        }
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if t0.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILL to its process group, and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Calls `method` until it answers or `timeout` passes, while `proc` is still running.
fn wait_ready(client: &RpcClient, method: &str, proc: &mut Proc, timeout: Duration) -> Result<Value, InteropError> {
    let t0 = Instant::now();
    loop {
        match client.call(method, json!([])) {
            Ok(v) => return Ok(v),
            Err(e) => {
                if let Some(status) = proc.try_wait() {
                    return Err(InteropError::Peer(format!(
                        "{} exited ({status}) before answering {method}; last log lines:\n{}",
                        proc.name,
                        proc.log_tail(20)
                    )));
                }
                if t0.elapsed() > timeout {
                    return Err(InteropError::Peer(format!(
                        "{} did not answer {method} within {timeout:?}: {e}; last log lines:\n{}",
                        proc.name,
                        proc.log_tail(20)
                    )));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn peer(e: keel_core::RpcError) -> InteropError {
    InteropError::Peer(e.to_string())
}

/// anvil as the L1, with the deposit contract installed.
#[derive(Debug)]
pub struct Anvil {
    /// The process.
    pub proc: Proc,
    /// Its HTTP JSON-RPC URL.
    pub url: String,
    /// A client for it.
    pub rpc: RpcClient,
}

impl Anvil {
    /// Starts anvil on a free port with `--block-time block_time_s` and installs the deposit contract at
    /// [`genesis::DEPOSIT_CONTRACT`].
    pub fn start(tools: &Tools, dir: &Path, block_time_s: u64) -> Result<Self, InteropError> {
        let port = free_port()?;
        let mut cmd = Command::new(&tools.anvil);
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--block-time", &block_time_s.to_string()])
            .args(["--chain-id", &genesis::L1_CHAIN_ID.to_string(), "--silent"]);
        let mut proc = Proc::spawn("anvil", cmd, &dir.join("anvil.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        let rpc = RpcClient::new("anvil", &url, CALL_TIMEOUT, None, crate::rpc::MAX_RESPONSE_BYTES);
        wait_ready(&rpc, "eth_blockNumber", &mut proc, STARTUP_TIMEOUT)?;
        rpc.call("anvil_setCode", json!([genesis::DEPOSIT_CONTRACT, tools.deposit_contract_code]))
            .map_err(|e| InteropError::Peer(format!("installing the deposit contract on anvil: {e}")))?;
        Ok(Self { proc, url, rpc })
    }

    /// The latest block.
    pub fn latest(&self) -> Result<BlockInfo, InteropError> {
        let method = "eth_getBlockByNumber";
        let v = self.rpc.call(method, json!(["latest", false])).map_err(peer)?;
        let block = crate::codec::l1_block(method, v, crate::codec::HashCheck::Trust).map_err(peer)?;
        Ok(block.ok_or_else(|| InteropError::Peer("anvil has no latest block".into()))?.0.info)
    }
}

/// op-geth with its datadir, JWT and ports.
#[derive(Debug)]
pub struct OpGeth {
    /// The process (`None` while stopped).
    pub proc: Option<Proc>,
    /// HTTP JSON-RPC URL (eth, net, web3, txpool, debug).
    pub http_url: String,
    /// Engine API URL (JWT).
    pub auth_url: String,
    /// The JWT secret file.
    pub jwt_path: PathBuf,
    /// A client for the HTTP endpoint.
    pub rpc: RpcClient,
    geth: PathBuf,
    datadir: PathBuf,
    log: PathBuf,
    http_port: u16,
    auth_port: u16,
}

impl OpGeth {
    /// `geth init` of `genesis` into `dir/geth`, then [`Self::start`].
    pub fn init_and_start(tools: &Tools, dir: &Path, genesis: &Value, jwt: &JwtSecret) -> Result<Self, InteropError> {
        let datadir = dir.join("geth");
        let genesis_path = dir.join("genesis.json");
        std::fs::write(&genesis_path, serde_json::to_vec_pretty(genesis).expect("json"))
            .map_err(io("writing genesis.json"))?;
        let jwt_path = dir.join("jwt.hex");
        std::fs::write(&jwt_path, jwt.to_hex()).map_err(io("writing jwt.hex"))?;
        let log = dir.join("op-geth.log");
        let mut init = Command::new(&tools.geth);
        init.args(["init", "--state.scheme=hash", "--datadir"]).arg(&datadir).arg(&genesis_path);
        let mut p = Proc::spawn("geth init", init, &log)?;
        match p.wait_timeout(STARTUP_TIMEOUT) {
            Some(s) if s.success() => {}
            other => {
                return Err(InteropError::Peer(format!(
                    "geth init failed ({other:?}); last log lines:\n{}",
                    p.log_tail(20)
                )));
            }
        }
        let (http_port, auth_port) = (free_port()?, free_port()?);
        let http_url = format!("http://127.0.0.1:{http_port}");
        let rpc = RpcClient::new("op-geth", &http_url, CALL_TIMEOUT, None, crate::rpc::MAX_ENGINE_RESPONSE_BYTES);
        let mut g = Self {
            proc: None,
            http_url,
            auth_url: format!("http://127.0.0.1:{auth_port}"),
            jwt_path,
            rpc,
            geth: tools.geth.clone(),
            datadir,
            log,
            http_port,
            auth_port,
        };
        g.start()?;
        Ok(g)
    }

    /// Starts op-geth on its datadir (again, after [`Self::stop`]) and waits until it answers.
    pub fn start(&mut self) -> Result<(), InteropError> {
        let mut cmd = Command::new(&self.geth);
        cmd.arg("--datadir")
            .arg(&self.datadir)
            .args([
                "--syncmode",
                "full",
                "--gcmode",
                "archive",
                "--state.scheme",
                "hash",
                "--nodiscover",
                "--maxpeers",
                "0",
            ])
            .args(["--networkid", &genesis::L2_CHAIN_ID.to_string(), "--port", "0", "--ipcdisable"])
            .args(["--http", "--http.addr", "127.0.0.1", "--http.port", &self.http_port.to_string()])
            .args(["--http.api", "eth,net,web3,txpool,debug"])
            .args(["--authrpc.addr", "127.0.0.1", "--authrpc.port", &self.auth_port.to_string()])
            .arg("--authrpc.jwtsecret")
            .arg(&self.jwt_path)
            .args(["--rollup.disabletxpoolgossip", "--verbosity", "3"])
            // A small cache keeps pebble's preallocated write-ahead logs small: with geth's default 1 GiB cache a
            // fresh datadir takes about 1.4 GB of disk, which a CI machine running nine chains cannot spare.
            .args(["--cache", "64"]);
        let mut proc = Proc::spawn("op-geth", cmd, &self.log)?;
        wait_ready(&self.rpc, "eth_chainId", &mut proc, STARTUP_TIMEOUT)?;
        self.proc = Some(proc);
        Ok(())
    }

    /// Stops op-geth with SIGTERM (it flushes its state), SIGKILL after 30 s.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.signal("INT");
            if p.wait_timeout(Duration::from_secs(30)).is_none() {
                p.kill();
            }
        }
    }

    /// The block at `tag` ("latest", "0x5", …), or `None`.
    pub fn block(&self, tag: &str, full: bool) -> Result<Option<Value>, InteropError> {
        let v = self.rpc.call("eth_getBlockByNumber", json!([tag, full])).map_err(peer)?;
        Ok((!v.is_null()).then_some(v))
    }

    /// The number of the latest block.
    pub fn head_number(&self) -> Result<u64, InteropError> {
        let b = self.block("latest", false)?.ok_or_else(|| InteropError::Peer("op-geth has no latest block".into()))?;
        crate::codec::quantity("eth_getBlockByNumber", &b, "number").map_err(peer)
    }

    /// Where op-geth's output goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

/// anvil + op-geth + the files Keel needs to sequence them.
#[derive(Debug)]
pub struct Chain {
    /// The L1.
    pub anvil: Anvil,
    /// The engine.
    pub geth: OpGeth,
    /// The chain's plan.
    pub plan: ChainPlan,
    /// The rollup config (L1 origin = an anvil block, L2 genesis = op-geth's block 0).
    pub rollup: Rollup,
    /// `rollup.json` for `keel node --rollup-config`.
    pub rollup_path: PathBuf,
    /// The engine JWT secret.
    pub jwt: JwtSecret,
    /// Working folder (logs, datadir).
    pub dir: PathBuf,
    /// Remove `dir` when dropped, unless the thread is panicking (a failed test keeps its logs).
    pub remove_dir_on_drop: bool,
}

impl Drop for Chain {
    fn drop(&mut self) {
        if self.remove_dir_on_drop && !std::thread::panicking() {
            self.anvil.proc.kill();
            self.geth.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Chain {
    /// Brings up anvil (L1 blocks every `l1_block_time_s`) and op-geth for `plan(genesis_time)`, where the genesis
    /// time is the anvil block chosen as L1 origin; writes `rollup.json` with the genesis hash read back from op-geth.
    pub fn up(
        tools: &Tools,
        dir: &Path,
        l1_block_time_s: u64,
        plan: impl FnOnce(u64) -> ChainPlan,
    ) -> Result<Self, InteropError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let anvil = Anvil::start(tools, dir, l1_block_time_s)?;
        let origin = anvil.latest()?;
        let plan = plan(origin.timestamp);
        let jwt = JwtSecret::random().map_err(|e| InteropError::Peer(format!("JWT secret: {e}")))?;
        let geth = OpGeth::init_and_start(tools, dir, &plan.op_geth_genesis(), &jwt)?;
        let genesis = geth.block("0x0", false)?.ok_or_else(|| InteropError::Peer("op-geth has no block 0".into()))?;
        let genesis_hash = crate::codec::hash("eth_getBlockByNumber", &genesis, "hash").map_err(peer)?;
        let rollup = plan.rollup(&origin, genesis_hash);
        rollup.validate().map_err(|e| InteropError::Peer(format!("generated rollup config is invalid: {e}")))?;
        let rollup_path = dir.join("rollup.json");
        std::fs::write(
            &rollup_path,
            serde_json::to_vec_pretty(&crate::rollup_json::to_op_node_json(&rollup)).expect("json"),
        )
        .map_err(io("writing rollup.json"))?;
        Ok(Self { anvil, geth, plan, rollup, rollup_path, jwt, dir: dir.to_path_buf(), remove_dir_on_drop: false })
    }

    /// op-node arguments that sequence this chain like [`Chain::keel_args`] (engine API at `engine_url`, RPC on
    /// `rpc_port`, p2p off, no beacon: blocks are sequenced, not derived from blobs). Writes op-node's L1 chain config
    /// into the chain's folder.
    pub fn op_node_sequencer_args(&self, engine_url: &str, rpc_port: u16) -> Result<Vec<String>, InteropError> {
        let l1_config = self.dir.join("op-node-l1-chain-config.json");
        std::fs::write(&l1_config, genesis::op_node_l1_chain_config().to_string())
            .map_err(io("writing op-node's L1 chain config"))?;
        Ok(vec![
            format!("--l1={}", self.anvil.url),
            "--l1.beacon.ignore".into(),
            "--l1.trustrpc".into(),
            "--l1.rpckind=basic".into(),
            "--l1.http-poll-interval=1s".into(),
            format!("--l2={engine_url}"),
            format!("--l2.jwt-secret={}", self.geth.jwt_path.display()),
            format!("--rollup.config={}", self.rollup_path.display()),
            format!("--rollup.l1-chain-config={}", l1_config.display()),
            "--sequencer.enabled".into(),
            "--p2p.disable".into(),
            "--rpc.addr=127.0.0.1".into(),
            format!("--rpc.port={rpc_port}"),
        ])
    }

    /// `keel node` arguments that sequence this chain (RPC on a free port written to `rpc_port`).
    pub fn keel_args(&self, rpc_port: u16) -> Vec<String> {
        self.keel_args_via(&self.geth.auth_url, rpc_port)
    }

    /// [`Chain::keel_args`] with the engine API reached at `engine_url` (a proxy in front of op-geth's).
    pub fn keel_args_via(&self, engine_url: &str, rpc_port: u16) -> Vec<String> {
        vec![
            "node".into(),
            "--mode=sequencer".into(),
            format!("--l1-eth-rpc={}", self.anvil.url),
            format!("--l2-engine-rpc={engine_url}"),
            format!("--l2.jwt-secret={}", self.geth.jwt_path.display()),
            format!("--rollup-config={}", self.rollup_path.display()),
            format!("--port={rpc_port}"),
            "--rpc.enable-admin".into(),
        ]
    }
}

/// Makes a deposit on anvil from its unlocked account 0: `depositTransaction(to, value, gas, false, "")` with `value`
/// wei attached. Returns the L1 transaction hash.
pub fn deposit(anvil: &Anvil, from: Address, to: Address, value: U256, gas_limit: u64) -> Result<B256, InteropError> {
    // depositTransaction(address,uint256,uint64,bool,bytes) = 0xe9e05c42
    let mut data = Vec::with_capacity(4 + 32 * 6);
    data.extend_from_slice(&[0xe9, 0xe0, 0x5c, 0x42]);
    data.extend_from_slice(B256::left_padding_from(to.as_slice()).as_slice());
    data.extend_from_slice(&value.to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(gas_limit).to_be_bytes::<32>());
    data.extend_from_slice(&[0u8; 32]); // isCreation = false
    data.extend_from_slice(&U256::from(160).to_be_bytes::<32>()); // offset of `bytes`
    data.extend_from_slice(&[0u8; 32]); // empty bytes
    let tx = json!({
        "from": from,
        "to": genesis::DEPOSIT_CONTRACT,
        "value": format!("{value:#x}"),
        "gas": "0x30d40",
        "data": Bytes::from(data),
    });
    let hash = anvil
        .rpc
        .call("eth_sendTransaction", json!([tx]))
        .map_err(|e| InteropError::Peer(format!("deposit on anvil: {e}")))?;
    serde_json::from_value(hash.clone())
        .map_err(|_| InteropError::Peer(format!("eth_sendTransaction: expected a transaction hash, got {hash}")))
}
