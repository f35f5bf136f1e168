//! The request table: every outstanding request, what it is for and who owns it, its bound, and the routing of
//! answers and failures to that owner.
//!
//! The table is the only place a [`RequestId`] is stored. Owners (the L1 view, the reset, the build lifecycle, the
//! conductor gate) keep no ids: whether an owner is waiting is a question to the table, and an owner that gives up
//! on work marks its requests [`Pending::Abandoned`], so their answers are dropped when they arrive. Abandoned
//! requests stay in the table until answered: they still count against the bound, and an abandoned engine call still
//! occupies the engine (engine API calls are strictly one at a time).

use super::*;

/// The steps of a reset that ask something (see [`ResetStep`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ResetCall {
    /// The engine's three heads.
    Heads,
    /// L1 block `n`, to check a candidate's origin.
    Origin(u64),
    /// L2 block `n`, walking back.
    Block(u64),
    /// L2 header `n`, to reconstruct the target's SystemConfig.
    Header(u64),
    /// The forkchoice update to the target (an engine call).
    Forkchoice,
}

/// The engine calls of the build lifecycle, one per stage that waits on the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BuildCall {
    /// forkchoiceUpdated with attributes ([`Build::Starting`]).
    Start,
    /// getPayload ([`Build::Sealing`]).
    Seal,
    /// newPayload of our block ([`Build::Inserting`]).
    Insert,
    /// forkchoiceUpdated to our block ([`Build::Updating`]).
    Update,
    /// newPayload or forkchoiceUpdated of a block built elsewhere ([`Build::Importing`]).
    Import,
}

/// Which endpoint an abandoned request went to (for the error counters its failure still feeds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// An L1 block lookup.
    L1,
    /// An L1 receipts lookup.
    Receipts,
    /// An engine API call.
    Engine,
    /// A conductor call.
    Conductor,
    /// An L2 read (heads, block, header).
    L2Read,
}

/// What an outstanding request is for. The variant names its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pending {
    /// L1 view: the full block of the unsafe head's origin, by hash.
    L1Current(B256),
    /// L1 view: block `origin + 1`, by number.
    L1Next(u64),
    /// L1 view: the current origin's height again, after a sign of a reorg.
    L1Verify(u64),
    /// L1 view: the receipts of the next origin.
    L1Receipts(B256),
    /// The reset walk-back.
    Reset(ResetCall),
    /// The build lifecycle's engine calls.
    Build(BuildCall),
    /// The build lifecycle's conductor commit ([`Build::Committing`]).
    Commit,
    /// The conductor gate: a leader check.
    Leader(LeaderPurpose),
    /// Derivation's reads and its forkchoice update.
    Derive(derivation::DeriveCall),
    /// Its owner moved on; the answer is dropped on arrival.
    Abandoned(Kind),
}

impl Pending {
    fn kind(&self) -> Kind {
        match self {
            Self::L1Current(_) | Self::L1Next(_) | Self::L1Verify(_) | Self::Reset(ResetCall::Origin(_)) => Kind::L1,
            Self::L1Receipts(_) => Kind::Receipts,
            Self::Derive(derivation::DeriveCall::L1Data(_) | derivation::DeriveCall::Blobs(_)) => Kind::L1,
            Self::Derive(derivation::DeriveCall::L2Header(_) | derivation::DeriveCall::L2Block(_)) => Kind::L2Read,
            Self::Derive(derivation::DeriveCall::Forkchoice) => Kind::Engine,
            Self::Reset(ResetCall::Forkchoice) | Self::Build(_) => Kind::Engine,
            Self::Reset(_) => Kind::L2Read,
            Self::Commit | Self::Leader(_) => Kind::Conductor,
            Self::Abandoned(kind) => *kind,
        }
    }

    /// An engine API call (at most one is outstanding).
    pub(super) fn is_engine(&self) -> bool {
        self.kind() == Kind::Engine
    }

    /// Owned by the build lifecycle.
    pub(super) fn is_build(&self) -> bool {
        matches!(self, Self::Build(_) | Self::Commit)
    }

    /// Owned by the reset.
    pub(super) fn is_reset(&self) -> bool {
        matches!(self, Self::Reset(_))
    }

    /// Owned by derivation.
    pub(super) fn is_derive(&self) -> bool {
        matches!(self, Self::Derive(_))
    }

    /// One of derivation's reads (at most one is outstanding; its forkchoice update is an engine call).
    pub(super) fn is_derive_read(&self) -> bool {
        matches!(
            self,
            Self::Derive(
                derivation::DeriveCall::L1Data(_)
                    | derivation::DeriveCall::L2Header(_)
                    | derivation::DeriveCall::L2Block(_)
                    | derivation::DeriveCall::Blobs(_)
            )
        )
    }
}

/// An answer as it arrives, before it is checked against what was asked. Moved once, never stored (as [`Event`]).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Answer {
    L1Block(Option<L1Block>),
    L1Data(Option<Box<crate::io::L1Data>>),
    Blobs(Vec<alloy_primitives::Bytes>),
    Receipts(Arc<Vec<Receipt>>),
    L2Heads(EngineHeads),
    L2Header(Option<crate::io::L2Header>),
    L2Block(Option<L2BlockRef>),
    Engine(EngineReply),
    Conductor(ConductorReply),
}

impl Answer {
    fn name(&self) -> &'static str {
        match self {
            Self::L1Block(_) => "an L1 block",
            Self::L1Data(_) => "L1 data",
            Self::Blobs(_) => "blobs",
            Self::Receipts(_) => "L1 receipts",
            Self::L2Heads(_) => "engine heads",
            Self::L2Header(_) => "an L2 header",
            Self::L2Block(_) => "an L2 block",
            Self::Engine(_) => "an engine reply",
            Self::Conductor(_) => "a conductor reply",
        }
    }
}

/// The answer as the type the owner asked for; an answer of another kind (a driver bug) is a transport error that
/// names both, so the owner's ordinary failure handling applies.
pub(super) fn expect<T>(
    answer: Result<Answer, RpcError>,
    wanted: &str,
    pick: impl FnOnce(Answer) -> Option<T>,
) -> Result<T, RpcError> {
    let answer = answer?;
    let got = answer.name();
    pick(answer).ok_or_else(|| RpcError::Transport(format!("expected {wanted}, the driver delivered {got}")))
}

/// Whether a request belongs to an owner that may have at most one outstanding.
type OwnerTest<'a> = (&'a str, &'a dyn Fn(&Pending) -> bool);

/// Outstanding requests by id, bounded by [`MAX_PENDING_REQUESTS`].
#[derive(Debug)]
pub(super) struct Requests {
    next: u64,
    table: BTreeMap<RequestId, Pending>,
}

impl Requests {
    pub(super) fn new() -> Self {
        Self { next: 1, table: BTreeMap::new() }
    }

    /// Records a new request and returns its id.
    pub(super) fn issue(&mut self, what: Pending) -> RequestId {
        debug_assert!(self.table.len() < MAX_PENDING_REQUESTS, "too many outstanding requests");
        debug_assert!(!(what.is_engine() && self.engine_busy()), "second engine call while one is outstanding");
        let id = RequestId(self.next);
        self.next += 1;
        self.table.insert(id, what);
        id
    }

    /// Removes and returns what `id` was for (`None`: not ours, or already answered).
    pub(super) fn take(&mut self, id: RequestId) -> Option<Pending> {
        self.table.remove(&id)
    }

    /// Whether an outstanding request matches `f` (an abandoned one matches only what tests its [`Kind`], such as
    /// [`Pending::is_engine`]).
    pub(super) fn any(&self, f: impl Fn(&Pending) -> bool) -> bool {
        self.table.values().any(f)
    }

    /// Whether an engine API call is outstanding (abandoned ones included: the engine is still busy with it).
    pub(super) fn engine_busy(&self) -> bool {
        self.any(Pending::is_engine)
    }

    /// Marks every request matching `f` abandoned.
    pub(super) fn abandon(&mut self, f: impl Fn(&Pending) -> bool) {
        for p in self.table.values_mut() {
            if !matches!(p, Pending::Abandoned(_)) && f(p) {
                *p = Pending::Abandoned(p.kind());
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The table's own invariants: the bound, one engine call, and at most one live request per exclusive owner.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.table.len() > MAX_PENDING_REQUESTS {
            return Err(format!("{} requests outstanding (max {MAX_PENDING_REQUESTS})", self.table.len()));
        }
        let count = |f: &dyn Fn(&Pending) -> bool| self.table.values().filter(|p| f(p)).count();
        let exclusive: [OwnerTest; 9] = [
            ("engine", &Pending::is_engine),
            ("current-origin", &|p| matches!(p, Pending::L1Current(_))),
            ("next-origin", &|p| matches!(p, Pending::L1Next(_))),
            ("origin-verify", &|p| matches!(p, Pending::L1Verify(_))),
            ("receipts", &|p| matches!(p, Pending::L1Receipts(_))),
            ("reset", &Pending::is_reset),
            ("build", &Pending::is_build),
            ("derivation-read", &Pending::is_derive_read),
            ("leader-after-commit", &|p| matches!(p, Pending::Leader(LeaderPurpose::AfterCommitFailure))),
        ];
        for (owner, f) in exclusive {
            let n = count(f);
            if n > 1 {
                return Err(format!("{n} {owner} requests outstanding: {:?}", self.table));
            }
        }
        Ok(())
    }
}

impl Node {
    /// Issues a request for `what` and queues its command.
    pub(super) fn request(&mut self, what: Pending, make: impl FnOnce(RequestId) -> Command) -> RequestId {
        let id = self.requests.issue(what);
        let cmd = make(id);
        self.push(cmd);
        id
    }

    /// Routes an answer or a failure to the owner of request `id`: once, by what the request was for.
    pub(super) fn on_answer(&mut self, id: RequestId, answer: Result<Answer, RpcError>) {
        let Some(what) = self.requests.take(id) else {
            debug!("answer to unknown request {id} ignored: {answer:?}");
            return;
        };
        if answer.is_err() {
            match what.kind() {
                Kind::L1 => self.stats.l1_errors += 1,
                Kind::Engine => self.stats.engine_errors += 1,
                // Receipt failures are counted by their owner (only while it still waits); conductor and L2-read
                // failures have their own counters or none.
                Kind::Receipts | Kind::Conductor | Kind::L2Read => {}
            }
        }
        let l1 = |a| expect(a, "an L1 block", |a| if let Answer::L1Block(b) = a { Some(b) } else { None });
        let engine = |a| expect(a, "an engine reply", |a| if let Answer::Engine(r) = a { Some(r) } else { None });
        let conductor =
            |a| expect(a, "a conductor reply", |a| if let Answer::Conductor(r) = a { Some(r) } else { None });
        match what {
            Pending::L1Current(hash) => self.on_l1_current(hash, l1(answer)),
            Pending::L1Next(number) => self.on_l1_next(number, l1(answer)),
            Pending::L1Verify(number) => self.on_l1_verify(number, l1(answer)),
            Pending::L1Receipts(hash) => {
                let receipts =
                    expect(answer, "L1 receipts", |a| if let Answer::Receipts(r) = a { Some(r) } else { None });
                self.on_receipts(hash, receipts)
            }
            Pending::Reset(ResetCall::Heads) => self.on_l2_heads(expect(answer, "engine heads", |a| {
                if let Answer::L2Heads(h) = a {
                    Some(h)
                } else {
                    None
                }
            })),
            Pending::Reset(ResetCall::Origin(_)) => match l1(answer) {
                Ok(block) => self.on_reset_l1(block),
                Err(e) => self.reset_failed(format!("checking L1 origin during reset: {e}")),
            },
            Pending::Reset(ResetCall::Block(number)) => self.on_l2_block(
                number,
                expect(answer, "an L2 block", |a| if let Answer::L2Block(b) = a { Some(b) } else { None }),
            ),
            Pending::Reset(ResetCall::Header(_)) => self.on_l2_header(expect(answer, "an L2 header", |a| {
                if let Answer::L2Header(h) = a {
                    Some(h)
                } else {
                    None
                }
            })),
            Pending::Reset(ResetCall::Forkchoice) => self.on_reset_forkchoice(engine(answer)),
            Pending::Build(call) => self.on_build_answer(call, engine(answer)),
            Pending::Commit => self.on_commit(conductor(answer)),
            Pending::Leader(purpose) => self.on_leader(purpose, conductor(answer)),
            Pending::Derive(call) => self.on_derive_answer(call, answer),
            Pending::Abandoned(kind) => debug!("answer {id} to an abandoned {kind:?} request ignored"),
        }
    }
}
