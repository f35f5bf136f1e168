//! The loop that owns the core: `select!(events, rpc calls, shutdown, after(poll_timeout))` → feed the core →
//! dispatch its commands to the workers. Nothing here blocks on the network.

use crate::metrics::Metrics;
use crate::workers::Publisher;
use crossbeam_channel::{after, never, select, Receiver, Sender};
use keel_core::{Command, Event, Node, ReplyTo, RpcError, RpcFailure, RpcReply, RpcRequest, Target, UnixMs};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a graceful shutdown waits for the block in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// RPC calls waiting for the core at once.
pub const MAX_WAITING_CALLS: usize = 256;

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> UnixMs {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Where a reply to an RPC call goes.
pub type Responder = Sender<Result<RpcReply, RpcFailure>>;

/// An RPC call for the core, with the channel its reply goes to.
pub struct RpcCall {
    /// The call.
    pub request: RpcRequest,
    /// Where to send the answer.
    pub reply: Responder,
}

/// Senders to the worker threads.
pub struct Outputs {
    /// L1 execution endpoint worker.
    pub l1: Sender<Command>,
    /// Derivation's L1 reader (the same endpoint, its own thread).
    pub derivation: Sender<Command>,
    /// Engine worker.
    pub engine: Sender<Command>,
    /// Conductor worker, when configured.
    pub conductor: Option<Sender<Command>>,
    /// L1 beacon worker (blobs), when configured.
    pub beacon: Option<Sender<Command>>,
    /// Follower publisher.
    pub publisher: Publisher,
    /// The gossip node, when p2p runs.
    pub p2p: Option<crate::p2p::P2p>,
}

/// Why the driver returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Stopped on request after the block in flight settled.
    Stopped,
    /// Stopped on request, but the block in flight did not settle within the grace period.
    StoppedUnclean,
    /// Every event source went away.
    Disconnected,
}

/// The driver.
pub struct Driver {
    node: Node,
    events_rx: Receiver<Event>,
    calls_rx: Receiver<RpcCall>,
    shutdown_rx: Receiver<()>,
    out: Outputs,
    waiting: HashMap<u64, (Responder, Option<bool>)>,
    admin_state: Option<crate::admin_state::AdminState>,
    next_reply: u64,
    local: VecDeque<Event>,
    metrics: Metrics,
    /// Time the driver spent on engine answers (handling them and sending what they led to) since the last block
    /// was reported: Keel's own overhead per block, without the waits between calls.
    engine_work: Duration,
    /// When the last blocks were reported (catch-up rate).
    completions: VecDeque<std::time::Instant>,
}

/// Blocks the catch-up rate is measured over.
const CATCHUP_WINDOW: usize = 32;

impl Driver {
    /// A driver around `node`.
    pub fn new(
        node: Node,
        events_rx: Receiver<Event>,
        calls_rx: Receiver<RpcCall>,
        shutdown_rx: Receiver<()>,
        out: Outputs,
        metrics: Metrics,
    ) -> Self {
        Self {
            node,
            events_rx,
            calls_rx,
            shutdown_rx,
            out,
            waiting: HashMap::new(),
            engine_work: Duration::ZERO,
            completions: VecDeque::with_capacity(CATCHUP_WINDOW + 1),
            admin_state: None,
            next_reply: 1,
            local: VecDeque::new(),
            metrics,
        }
    }

    /// Persist admin start/stop to this state file (`--rpc.admin-state`).
    pub fn with_admin_state(mut self, state: Option<crate::admin_state::AdminState>) -> Self {
        self.admin_state = state;
        self
    }

    fn submit(&mut self, request: RpcRequest, reply: Responder) {
        if self.waiting.len() >= MAX_WAITING_CALLS {
            let _ = reply.send(Err(RpcFailure::server("too many RPC calls in progress")));
            return;
        }
        let id = self.next_reply;
        self.next_reply += 1;
        // Admin start/stop change the persisted state once they succeed (a shutdown's internal stop does not).
        let persists = match request {
            RpcRequest::StartSequencer(_) => Some(true),
            RpcRequest::StopSequencer => Some(false),
            _ => None,
        };
        self.waiting.insert(id, (reply, persists));
        self.node.handle_event(now_ms(), Event::RpcRequested { reply_to: ReplyTo(id), request });
    }

    /// Runs until shutdown. On shutdown an active sequencer is stopped first, so a sealed block is inserted and no
    /// unsealed build is left half-done.
    pub fn run(mut self) -> Exit {
        let mut shutting_down: Option<std::time::Instant> = None;
        loop {
            self.dispatch();
            self.update_metrics();
            if let Some(since) = &shutting_down {
                if let Some(h) = self.node.shutdown_settled() {
                    log::info!("sequencer stopped for shutdown at unsafe head {h:#x}");
                    return Exit::Stopped;
                }
                if since.elapsed() > SHUTDOWN_GRACE {
                    log::warn!("block in flight did not settle within {SHUTDOWN_GRACE:?}; exiting anyway");
                    return Exit::StoppedUnclean;
                }
            }
            if let Some(ev) = self.local.pop_front() {
                self.node.handle_event(now_ms(), ev);
                continue;
            }
            let timer = match self.node.poll_timeout() {
                Some(t) => after(Duration::from_millis(t.saturating_sub(now_ms()))),
                None if shutting_down.is_some() => after(Duration::from_millis(100)),
                None => never(),
            };
            let shutdown_rx = if shutting_down.is_some() { never() } else { self.shutdown_rx.clone() };
            select! {
                recv(self.events_rx) -> ev => match ev {
                    Ok(ev @ Event::EngineResponded { .. }) => {
                        let t0 = std::time::Instant::now();
                        self.node.handle_event(now_ms(), ev);
                        self.dispatch();
                        self.engine_work += t0.elapsed();
                    }
                    Ok(ev) => self.node.handle_event(now_ms(), ev),
                    Err(_) => return Exit::Disconnected,
                },
                recv(self.calls_rx) -> call => {
                    if let Ok(call) = call {
                        self.submit(call.request, call.reply);
                    }
                }
                recv(shutdown_rx) -> _ => {
                    log::info!("shutdown requested");
                    self.node.handle_event(now_ms(), Event::ShutdownRequested);
                    shutting_down = Some(std::time::Instant::now());
                }
                recv(timer) -> _ => self.node.handle_timeout(now_ms()),
            }
        }
    }

    fn send_to_worker(&mut self, cmd: Command) {
        let target = cmd.target();
        let id = cmd.request_id();
        let tx = match target {
            Target::L1 => Some(&self.out.l1),
            Target::Derivation => Some(&self.out.derivation),
            Target::Engine => Some(&self.out.engine),
            Target::Conductor => self.out.conductor.as_ref(),
            Target::Beacon => self.out.beacon.as_ref(),
            Target::Followers | Target::Rpc => unreachable!("{target:?} commands are handled by the driver"),
        };
        let failed = match tx {
            Some(tx) => tx.try_send(cmd).err().map(|e| format!("{} worker unavailable: {e}", target.name())),
            None if target == Target::Beacon => {
                Some("no L1 beacon endpoint configured (--l1-beacon): blob batcher data cannot be read".to_string())
            }
            None => Some(format!("no {} endpoint configured", target.name())),
        };
        if let (Some(reason), Some(id)) = (failed, id) {
            self.local.push_back(Event::RequestFailed { id, error: RpcError::Transport(reason) });
        }
    }

    fn dispatch(&mut self) {
        while let Some(cmd) = self.node.poll_command() {
            match cmd {
                Command::Publish { envelope } => {
                    if let Some(p2p) = &self.out.p2p {
                        p2p.publish(envelope.clone());
                    }
                    self.out.publisher.publish(envelope)
                }
                Command::Reply { reply_to, result } => {
                    if let Some((tx, persists)) = self.waiting.remove(&reply_to.0) {
                        if let (Some(started), Ok(_), Some(state)) = (persists, &result, &self.admin_state) {
                            if let Err(e) = state.set_sequencer_started(started) {
                                log::error!("cannot persist the admin state (sequencer started={started}): {e}");
                            }
                        }
                        let _ = tx.send(result);
                    }
                }
                cmd => self.send_to_worker(cmd),
            }
        }
    }

    fn update_metrics(&mut self) {
        let m = &self.metrics;
        while let Some(r) = self.node.poll_report() {
            let secs = |ms: u64| ms as f64 / 1000.0;
            m.observe(
                "keel_block_build_seconds",
                "Build start to sealed payload",
                &[],
                secs(r.sealed_at.saturating_sub(r.build_started_at)),
            );
            m.observe(
                "keel_block_seal_delay_seconds",
                "Sealed payload received minus seal target",
                &[],
                secs(r.sealed_at.saturating_sub(r.seal_target)),
            );
            m.observe(
                "keel_block_insert_seconds",
                "Sealed payload to new unsafe head (commit, insert, forkchoice)",
                &[],
                secs(r.completed_at.saturating_sub(r.sealed_at)),
            );
            m.observe(
                "keel_block_lag_seconds",
                "New unsafe head time minus block timestamp",
                &[],
                secs(r.completed_at.saturating_sub(r.block.time_ms)),
            );
            // The share of the slot the engine had to fill the block: build start to seal over the block time.
            let block_time_ms = self.node.config().block_time_ms.max(1);
            m.set(
                "keel_block_build_window_ratio",
                "Build start to sealed payload of the last block, over the block time",
                &[],
                r.sealed_at.saturating_sub(r.build_started_at) as f64 / block_time_ms as f64,
            );
            if r.sealed_at > r.block.time_ms {
                m.inc("keel_blocks_sealed_late_total", "Blocks sealed after their own timestamp", &[], 1.0);
            }
            m.observe(
                "keel_block_own_seconds",
                "Time the node itself spent on the block's engine answers (handling each and sending the next call)",
                &[],
                std::mem::take(&mut self.engine_work).as_secs_f64(),
            );
            let now = std::time::Instant::now();
            if self.completions.len() >= CATCHUP_WINDOW {
                self.completions.pop_front();
            }
            self.completions.push_back(now);
            // Catching up: the new head is more than two block times behind wall time.
            let behind = r.completed_at.saturating_sub(r.block.time_ms) > 2 * block_time_ms;
            let rate = match (self.completions.front(), self.completions.len()) {
                (Some(first), n) if behind && n > 1 && now > *first => (n - 1) as f64 / (now - *first).as_secs_f64(),
                _ => 0.0,
            };
            m.set(
                "keel_catchup_blocks_per_second",
                "Blocks per second over the last 32 while the head is more than two block times behind; 0 when caught up",
                &[],
                rate,
            );
        }
        m.set(
            "keel_seal_margin_seconds",
            "Seal margin the next block is scheduled with (adaptive unless --sequencer.seal-margin)",
            &[],
            self.node.seal_margin_ms() as f64 / 1000.0,
        );
        let st = self.node.stats().clone();
        let counters: [(&'static str, &'static str, u64); 11] = [
            ("keel_blocks_sequenced_total", "Blocks sequenced", st.blocks_sequenced),
            ("keel_transactions_sequenced_total", "Transactions in sequenced blocks", st.txs_sequenced),
            ("keel_builds_dropped_total", "Builds discarded", st.builds_dropped),
            ("keel_engine_resets_total", "Engine resets", st.resets),
            ("keel_retries_total", "Retries after temporary failures", st.retries),
            ("keel_critical_errors_total", "Critical errors that stopped sequencing", st.critical_errors),
            ("keel_conductor_commits_total", "Conductor commits", st.commits),
            ("keel_conductor_commit_failures_total", "Failed conductor commits", st.commit_failures),
            ("keel_blocks_published_total", "Blocks handed to followers", st.published),
            ("keel_engine_errors_total", "Engine calls that failed or were not VALID", st.engine_errors),
            ("keel_l1_errors_total", "L1 fetches that failed", st.l1_errors),
        ];
        for (name, help, v) in counters {
            m.set_counter(name, help, &[], v as f64);
        }
        let heads = self.node.heads().clone();
        let num = |b: Option<u64>| b.map(|n| n as f64).unwrap_or(0.0);
        m.set("keel_unsafe_head_number", "Unsafe L2 head", &[], num(heads.unsafe_head.map(|b| b.number)));
        m.set("keel_safe_head_number", "Safe L2 head", &[], num(heads.safe.map(|b| b.number)));
        m.set("keel_finalized_head_number", "Finalized L2 head", &[], num(heads.finalized.map(|b| b.number)));
        m.set("keel_l1_head_number", "Latest L1 block seen", &[], num(heads.l1_head.map(|b| b.number)));
        m.set(
            "keel_l1_finalized_number",
            "Latest finalized L1 block seen",
            &[],
            num(heads.l1_finalized.map(|b| b.number)),
        );
        let lag = heads.unsafe_head.map(|u| now_ms().saturating_sub(u.time_ms) as f64 / 1000.0).unwrap_or(0.0);
        m.set("keel_unsafe_head_lag_seconds", "Wall time minus unsafe head timestamp", &[], lag);
        m.set(
            "keel_sequencer_active",
            "1 if the sequencer is building blocks",
            &[],
            self.node.is_active() as u8 as f64,
        );
        m.set(
            "keel_sequencer_halted",
            "1 after a critical error until admin_startSequencer",
            &[],
            self.node.halted().is_some() as u8 as f64,
        );
        m.set("keel_sequencer_recover_mode", "1 in recovery mode", &[], self.node.recover_mode() as u8 as f64);
        m.set(
            "keel_sequencer_safe_lag_stalled",
            "1 while max-safe-lag pauses building",
            &[],
            self.node.is_safe_lag_stalled() as u8 as f64,
        );
        m.set(
            "keel_publish_queue_length",
            "Blocks waiting to be posted to followers",
            &[],
            self.out.publisher.queued() as f64,
        );
    }
}
