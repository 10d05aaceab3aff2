//! The operations engine: every mutation is a durable saga stored in the database.
//!
//! An operation has a kind, a target (the cluster), a JSON spec and a graph of steps,
//! rebuilt from the spec by its [`SagaKind`] whenever it is executed (so a restarted
//! process rebuilds exactly the same graph). Each step has one side effect, is
//! idempotent, and records its output before anything that depends on it starts.
//! Independent steps run concurrently.
//!
//! Workers claim operations with a lease they renew while working; an operation whose
//! lease expired (its process died) is claimed again and resumed at its first unfinished
//! step, by this process or by another one sharing the database. Retryable step errors
//! are retried with bounded exponential backoff and jitter; a permanent error, exhausted
//! retries, or an admin's abort unwind the steps that ran, in reverse. An undo that
//! cannot finish leaves the operation `stuck` with the reason until an admin retries it.
//!
//! Two unfinished operations on one target are refused by a unique index (and a friendly
//! check before it): the second is refused with a message naming the first.

mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};

use crate::{Error, Result, Store};

use store::StepChange;
pub use store::{EventRow, OperationRow, StepRow};

/// Where an operation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OpState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unwinding,
    Unwound,
    Stuck,
}

impl OpState {
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Pending => "pending",
            OpState::Running => "running",
            OpState::Succeeded => "succeeded",
            OpState::Failed => "failed",
            OpState::Unwinding => "unwinding",
            OpState::Unwound => "unwound",
            OpState::Stuck => "stuck",
        }
    }

    pub fn parse(s: &str) -> Option<OpState> {
        Some(match s {
            "pending" => OpState::Pending,
            "running" => OpState::Running,
            "succeeded" => OpState::Succeeded,
            "failed" => OpState::Failed,
            "unwinding" => OpState::Unwinding,
            "unwound" => OpState::Unwound,
            "stuck" => OpState::Stuck,
            _ => return None,
        })
    }

    /// Whether a worker still has something to do.
    pub fn unfinished(self) -> bool {
        matches!(
            self,
            OpState::Pending | OpState::Running | OpState::Unwinding
        )
    }
}

/// Where a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Undone,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Undone => "undone",
        }
    }

    pub fn parse(s: &str) -> Option<StepState> {
        Some(match s {
            "pending" => StepState::Pending,
            "running" => StepState::Running,
            "succeeded" => StepState::Succeeded,
            "failed" => StepState::Failed,
            "undone" => StepState::Undone,
            _ => return None,
        })
    }
}

/// Why a step failed, in words, and whether trying again can help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    pub message: String,
    pub retryable: bool,
}

impl StepError {
    pub fn retryable(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: false,
        }
    }
}

impl From<crate::cloud::CloudError> for StepError {
    fn from(e: crate::cloud::CloudError) -> StepError {
        StepError {
            retryable: e.retryable(),
            message: e.to_string(),
        }
    }
}

/// A core error inside a step (a database write, say): internal details go to the log,
/// the step records the words a user may see.
impl From<crate::Error> for StepError {
    fn from(e: crate::Error) -> StepError {
        if let crate::Error::Internal { internal } = &e {
            tracing::warn!(error = %internal, "step failed inside Shipyard");
        }
        StepError {
            retryable: e.retryable(),
            message: match &e {
                crate::Error::Internal { internal } => format!("internal error: {internal}"),
                other => other.external_message(),
            },
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a step sees: its operation, the spec, and the outputs of the steps that ran.
pub struct StepContext {
    pub operation_id: String,
    pub target_id: String,
    pub spec: Value,
    /// Outputs of every succeeded step so far, by step key.
    pub outputs: BTreeMap<String, Value>,
    /// 1 on the first try of this run.
    pub attempt: u32,
}

impl StepContext {
    /// The output of step `key`, which this step must depend on.
    pub fn output(&self, key: &str) -> std::result::Result<&Value, StepError> {
        self.outputs
            .get(key)
            .ok_or_else(|| StepError::permanent(format!("step output '{key}' is missing")))
    }
}

/// One side effect and its undo. Both must be idempotent: `run` finds what an earlier
/// attempt made before making it, `undo` treats "already gone" as done.
#[async_trait]
pub trait Step: Send + Sync {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError>;
    /// `output` is the step's recorded output when it succeeded, `None` when it failed
    /// or was interrupted (its side effect may still have happened).
    async fn undo(
        &self,
        cx: &StepContext,
        output: Option<&Value>,
    ) -> std::result::Result<(), StepError>;
}

/// A step of a saga: its key, the keys it waits for, and what it does.
pub struct StepDef {
    pub key: String,
    pub after: Vec<String>,
    pub step: Arc<dyn Step>,
}

impl StepDef {
    pub fn new(key: impl Into<String>, after: &[&str], step: Arc<dyn Step>) -> StepDef {
        StepDef {
            key: key.into(),
            after: after.iter().map(|s| s.to_string()).collect(),
            step,
        }
    }
}

/// A kind of operation: how to build its steps from a spec, and what to record when
/// it ends.
#[async_trait]
pub trait SagaKind: Send + Sync {
    /// The steps, in a stable order (it is also the display order).
    fn steps(&self, spec: &Value) -> Result<Vec<StepDef>>;
    /// Whether a failure undoes what ran (creates) or stops as `failed` so that a retry
    /// carries on (deletes: putting back what was deleted would be wrong).
    fn unwinds(&self) -> bool {
        true
    }
    /// Called when every step succeeded, before the operation is marked so; must be
    /// idempotent (a crash in between calls it again).
    async fn succeeded(&self, _op: &OperationRow) -> Result<()> {
        Ok(())
    }
    /// Called when every step that ran has been undone (or, for kinds that do not
    /// unwind, when a step failed), before the final state is written; idempotent.
    async fn unwound(&self, _op: &OperationRow) -> Result<()> {
        Ok(())
    }
}

/// What a caller asks for.
#[derive(Clone, Debug)]
pub struct NewOperation {
    pub project_id: String,
    pub kind: String,
    pub target_id: String,
    pub requested_by: String,
    pub spec: Value,
}

/// Bounded exponential backoff with full jitter.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// Tries per step run or undo, including the first.
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The pause before try `attempt + 1` (attempt counts from 1): a random share of
    /// `initial · 2^(attempt-1)`, capped at `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let cap = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let ms = cap.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
    }
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often idle workers look for work (they are also woken on submit).
    pub poll: Duration,
    /// Operations one process runs at once.
    pub concurrency: usize,
    pub backoff: Backoff,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            concurrency: 32,
            backoff: Backoff {
                max_attempts: 8,
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
            },
        }
    }
}

/// Runs operations. Cheap to clone; every clone is the same worker identity.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    kinds: HashMap<String, Arc<dyn SagaKind>>,
    config: EngineConfig,
    /// This process's name in leases.
    owner: String,
    wake: Notify,
    permits: Arc<Semaphore>,
}

impl Engine {
    /// Starts building an engine; register each saga kind, then `build`.
    pub fn builder(store: Store, config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            store,
            config,
            kinds: HashMap::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Records a new operation (pending) with its steps, and wakes a worker. Refuses a
    /// second unfinished operation on the same target.
    pub async fn submit(&self, new: NewOperation) -> Result<OperationRow> {
        let kind = self.kind(&new.kind)?;
        let steps = kind.steps(&new.spec)?;
        check_graph(&steps)?;
        if let Some(active) = self.inner.store.op_active_for(&new.target_id).await? {
            return Err(busy(&active));
        }
        let keys: Vec<String> = steps.iter().map(|s| s.key.clone()).collect();
        let op = match self.inner.store.op_insert(&new, &keys).await {
            Ok(op) => op,
            // Lost a race with another submit: the unique index said no.
            Err(e) => {
                if let Some(active) = self.inner.store.op_active_for(&new.target_id).await? {
                    return Err(busy(&active));
                }
                return Err(e);
            }
        };
        self.inner.wake.notify_waiters();
        Ok(op)
    }

    /// Asks a running operation to stop and unwind what it did.
    pub async fn abort(&self, id: &str) -> Result<()> {
        let op = self.inner.store.op_get(id).await?;
        if !matches!(op.state, OpState::Pending | OpState::Running) {
            return Err(Error::Conflict(format!(
                "Operation {id} is {}; only a pending or running operation can be aborted.",
                op.state.as_str()
            )));
        }
        self.inner.store.op_request_abort(id).await?;
        self.inner.wake.notify_waiters();
        Ok(())
    }

    /// An admin's retry: a stuck operation resumes its unwind; a failed one (a kind that
    /// does not unwind, such as a delete) runs again from its first unfinished step.
    pub async fn retry(&self, id: &str) -> Result<()> {
        let op = self.inner.store.op_get(id).await?;
        if !matches!(op.state, OpState::Stuck | OpState::Failed) {
            return Err(Error::Conflict(format!(
                "Operation {id} is {}; only a stuck or failed operation can be retried.",
                op.state.as_str()
            )));
        }
        if let Some(active) = self.inner.store.op_active_for(&op.target_id).await? {
            return Err(busy(&active));
        }
        self.inner.store.op_reopen(id).await?;
        self.inner.wake.notify_waiters();
        Ok(())
    }

    fn kind(&self, name: &str) -> Result<Arc<dyn SagaKind>> {
        self.inner
            .kinds
            .get(name)
            .cloned()
            .ok_or_else(|| Error::internal(format!("unknown operation kind {name}")))
    }

    /// Claims one claimable operation and runs it to its end (or until its lease is
    /// lost). False when there was nothing to claim.
    pub async fn run_one(&self) -> Result<bool> {
        let lease_ms = self.inner.config.lease.as_millis() as i64;
        let Some(op) = self
            .inner
            .store
            .op_claim(&self.inner.owner, lease_ms)
            .await?
        else {
            return Ok(false);
        };
        self.execute(op).await?;
        Ok(true)
    }

    /// Starts the worker loop: claims operations while it has room, each on its own
    /// task; sleeps until woken or the poll interval passes.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                let permit = match engine.inner.permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                };
                let lease_ms = engine.inner.config.lease.as_millis() as i64;
                match engine
                    .inner
                    .store
                    .op_claim(&engine.inner.owner, lease_ms)
                    .await
                {
                    Ok(Some(op)) => {
                        let e = engine.clone();
                        tokio::spawn(async move {
                            let id = op.id.clone();
                            if let Err(err) = e.execute(op).await {
                                tracing::warn!(operation = %id, error = ?err, "operation run ended early");
                            }
                            drop(permit);
                        });
                    }
                    Ok(None) => {
                        drop(permit);
                        let _ = tokio::time::timeout(
                            engine.inner.config.poll,
                            engine.inner.wake.notified(),
                        )
                        .await;
                    }
                    Err(e) => {
                        drop(permit);
                        tracing::warn!(error = ?e, "claiming operations");
                        tokio::time::sleep(engine.inner.config.poll).await;
                    }
                }
            }
        })
    }

    /// Runs a claimed operation while renewing its lease; stops when the lease is lost.
    async fn execute(&self, op: OperationRow) -> Result<()> {
        let renew = async {
            let every = self.inner.config.lease / 3;
            let lease_ms = self.inner.config.lease.as_millis() as i64;
            loop {
                tokio::time::sleep(every).await;
                match self
                    .inner
                    .store
                    .op_renew(&op.id, &self.inner.owner, lease_ms)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return Error::Conflict(format!("lease on {} lost", op.id)),
                    Err(e) => return e,
                }
            }
        };
        tokio::select! {
            r = self.drive(op.clone()) => r,
            e = renew => Err(e),
        }
    }

    async fn drive(&self, op: OperationRow) -> Result<()> {
        let kind = self.kind(&op.kind)?;
        let defs = kind.steps(&op.spec)?;
        let store = &self.inner.store;
        let run = Run {
            engine: self,
            op: &op,
            defs: &defs,
            seq: AtomicI64::new(store.op_last_event(&op.id).await?),
        };
        let mut state = op.state;
        if state == OpState::Pending || state == OpState::Running {
            if state == OpState::Pending {
                run.set_state(OpState::Running, None).await?;
                run.event(None, "started", &format!("{} started", op.kind))
                    .await?;
            }
            match run.forward().await? {
                // The hook runs before the final state is written: a crash in between
                // resumes the operation, which runs the (idempotent) hook again.
                None => {
                    let done = store.op_get(&op.id).await?;
                    kind.succeeded(&done).await?;
                    run.finish(OpState::Succeeded, None).await?;
                    return Ok(());
                }
                Some(failure) if !kind.unwinds() => {
                    let mut done = store.op_get(&op.id).await?;
                    done.error = Some(failure.message.clone());
                    done.retryable = Some(failure.retryable);
                    kind.unwound(&done).await?;
                    run.finish(OpState::Failed, Some(&failure)).await?;
                    return Ok(());
                }
                Some(failure) => {
                    run.event(None, "unwinding", &failure.message).await?;
                    run.set_state(OpState::Unwinding, Some(&failure)).await?;
                    state = OpState::Unwinding;
                }
            }
        }
        if state == OpState::Unwinding {
            match run.backward().await? {
                None => {
                    let done = store.op_get(&op.id).await?;
                    kind.unwound(&done).await?;
                    run.finish(OpState::Unwound, None).await?;
                }
                Some(stuck) => {
                    run.event(None, "stuck", &stuck.message).await?;
                    run.finish(OpState::Stuck, Some(&stuck)).await?;
                }
            }
        }
        Ok(())
    }
}

fn busy(active: &OperationRow) -> Error {
    Error::Conflict(format!(
        "Operation {} ({}) is still {} on this cluster; wait for it to finish.",
        active.id,
        active.kind,
        active.state.as_str()
    ))
}

/// Every `after` names an earlier step (so the graph has no cycles) and keys are unique.
fn check_graph(steps: &[StepDef]) -> Result<()> {
    let mut seen = HashSet::new();
    for s in steps {
        for a in &s.after {
            if !seen.contains(a.as_str()) {
                return Err(Error::internal(format!(
                    "step {} waits for {a}, which is not an earlier step",
                    s.key
                )));
            }
        }
        if !seen.insert(s.key.as_str()) {
            return Err(Error::internal(format!("step {} appears twice", s.key)));
        }
    }
    Ok(())
}

pub struct EngineBuilder {
    store: Store,
    config: EngineConfig,
    kinds: HashMap<String, Arc<dyn SagaKind>>,
}

impl EngineBuilder {
    pub fn kind(mut self, name: &str, kind: Arc<dyn SagaKind>) -> EngineBuilder {
        self.kinds.insert(name.to_string(), kind);
        self
    }

    pub fn build(self) -> Engine {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        Engine {
            inner: Arc::new(Inner {
                store: self.store,
                kinds: self.kinds,
                owner: format!("{}-{}", std::process::id(), &crate::new_id()[..8]),
                config: self.config,
                wake: Notify::new(),
                permits,
            }),
        }
    }
}

/// One execution of one operation by this worker.
struct Run<'a> {
    engine: &'a Engine,
    op: &'a OperationRow,
    defs: &'a [StepDef],
    seq: AtomicI64,
}

impl Run<'_> {
    fn store(&self) -> &Store {
        &self.engine.inner.store
    }

    fn owner(&self) -> &str {
        &self.engine.inner.owner
    }

    fn next_seq(&self) -> i64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    async fn event(&self, step: Option<&str>, event: &str, detail: &str) -> Result<()> {
        let seq = self.next_seq();
        self.store()
            .op_event(&self.op.id, seq, step, event, detail)
            .await
    }

    async fn set_state(&self, state: OpState, error: Option<&StepError>) -> Result<()> {
        self.store()
            .op_set_state(&self.op.id, self.owner(), state, error, false)
            .await
    }

    async fn finish(&self, state: OpState, error: Option<&StepError>) -> Result<()> {
        self.event(
            None,
            state.as_str(),
            &format!("{} {}", self.op.kind, state.as_str()),
        )
        .await?;
        self.store()
            .op_set_state(&self.op.id, self.owner(), state, error, true)
            .await
    }

    fn context(&self, outputs: &BTreeMap<String, Value>, attempt: u32) -> StepContext {
        StepContext {
            operation_id: self.op.id.clone(),
            target_id: self.op.target_id.clone(),
            spec: self.op.spec.clone(),
            outputs: outputs.clone(),
            attempt,
        }
    }

    /// Runs steps as their dependencies finish, several at once. `None` when all
    /// succeeded, else the first failure (after letting running steps finish).
    async fn forward(&self) -> Result<Option<StepError>> {
        let rows = self.store().op_steps(&self.op.id).await?;
        let mut states: HashMap<String, StepState> =
            rows.iter().map(|r| (r.step.clone(), r.state)).collect();
        let mut outputs: BTreeMap<String, Value> = rows
            .iter()
            .filter(|r| r.state == StepState::Succeeded)
            .filter_map(|r| Some((r.step.clone(), r.output.clone()?)))
            .collect();
        let mut failure: Option<StepError> = None;
        let mut running = tokio::task::JoinSet::new();
        let mut in_flight: HashSet<String> = HashSet::new();
        let aborted = || StepError::permanent("Aborted on request.");
        let poll = self.engine.inner.config.poll;
        // An abort is looked for at most once per poll interval (not after every step:
        // that read would cost as much as a step's commit).
        let mut abort_checked = std::time::Instant::now()
            .checked_sub(poll)
            .unwrap_or_else(std::time::Instant::now);
        loop {
            if failure.is_none()
                && abort_checked.elapsed() >= poll
                && self.store().op_abort_requested(&self.op.id).await?
            {
                failure = Some(aborted());
                running.abort_all();
            }
            if abort_checked.elapsed() >= poll {
                abort_checked = std::time::Instant::now();
            }
            if failure.is_none() {
                // Every ready step starts now; their starts share one commit.
                let mut starting = Vec::new();
                for def in self.defs {
                    let st = states.get(&def.key).copied().unwrap_or(StepState::Pending);
                    // A step interrupted by a crash (`running`) or not yet started runs now.
                    let ready = matches!(st, StepState::Pending | StepState::Running)
                        && !in_flight.contains(&def.key)
                        && def
                            .after
                            .iter()
                            .all(|a| states.get(a) == Some(&StepState::Succeeded));
                    if !ready {
                        continue;
                    }
                    in_flight.insert(def.key.clone());
                    starting.push(def);
                }
                let changes: Vec<StepChange> = starting
                    .iter()
                    .map(|def| StepChange::Started {
                        step: def.key.clone(),
                        seq: self.next_seq(),
                    })
                    .collect();
                self.store()
                    .steps_record(&self.op.id, self.owner(), &changes)
                    .await?;
                for def in starting {
                    let step = def.step.clone();
                    let key = def.key.clone();
                    let backoff = self.engine.inner.config.backoff.clone();
                    let outputs = outputs.clone();
                    let cx_base = self.context(&outputs, 1);
                    running.spawn(async move {
                        let mut cx = cx_base;
                        let result = loop {
                            match step.run(&cx).await {
                                Ok(v) => break Ok(v),
                                Err(e) if e.retryable && cx.attempt < backoff.max_attempts => {
                                    tokio::time::sleep(backoff.delay(cx.attempt)).await;
                                    cx.attempt += 1;
                                }
                                Err(e) => break Err(e),
                            }
                        };
                        (key, cx.attempt, result)
                    });
                }
            }
            if running.is_empty() {
                break;
            }
            // Wait for a step to end, looking for an abort now and then: an abort
            // cancels the steps in flight (their side effects are undone below).
            let joined = tokio::select! {
                j = running.join_next() => j,
                _ = tokio::time::sleep(poll) => {
                    if failure.is_none() && self.store().op_abort_requested(&self.op.id).await? {
                        failure = Some(aborted());
                        running.abort_all();
                    }
                    abort_checked = std::time::Instant::now();
                    continue;
                }
            };
            let Some(first) = joined else {
                break;
            };
            // This result and any others already in: recorded in one commit.
            let mut finished = vec![first];
            while let Some(more) = running.try_join_next() {
                finished.push(more);
            }
            let mut changes = Vec::new();
            let mut ended = Vec::new();
            for joined in finished {
                let (key, attempts, result) = match joined {
                    Ok(done) => done,
                    Err(e) if e.is_cancelled() => continue,
                    Err(e) => return Err(Error::internal(format!("step task: {e}"))),
                };
                in_flight.remove(&key);
                let seq = self.next_seq();
                match result {
                    Ok(output) => changes.push(StepChange::Succeeded {
                        step: key.clone(),
                        seq,
                        attempts,
                        output: output.clone(),
                    }),
                    Err(e) => {
                        let detail = format!(
                            "{} (after {attempts} attempt{}; {})",
                            e.message,
                            if attempts == 1 { "" } else { "s" },
                            if e.retryable {
                                "retryable"
                            } else {
                                "permanent"
                            }
                        );
                        changes.push(StepChange::Failed {
                            step: key.clone(),
                            seq,
                            attempts,
                            error: e.message.clone(),
                            detail,
                        });
                        ended.push((key, Err(e)));
                        continue;
                    }
                }
                if let Some(StepChange::Succeeded { output, .. }) = changes.last() {
                    ended.push((key, Ok(output.clone())));
                }
            }
            self.store()
                .steps_record(&self.op.id, self.owner(), &changes)
                .await?;
            for (key, result) in ended {
                match result {
                    Ok(output) => {
                        states.insert(key.clone(), StepState::Succeeded);
                        outputs.insert(key, output);
                    }
                    Err(e) => {
                        states.insert(key.clone(), StepState::Failed);
                        if failure.is_none() {
                            failure = Some(StepError {
                                message: format!("{key}: {}", e.message),
                                retryable: e.retryable,
                            });
                        }
                    }
                }
            }
        }
        if failure.is_none()
            && self
                .defs
                .iter()
                .any(|d| states.get(&d.key) != Some(&StepState::Succeeded))
        {
            failure = Some(StepError::permanent("some steps never became ready"));
        }
        Ok(failure)
    }

    /// Undoes every step that started, dependents before what they depend on. `None`
    /// when all are undone, else why it is stuck.
    async fn backward(&self) -> Result<Option<StepError>> {
        let rows = self.store().op_steps(&self.op.id).await?;
        let by_key: HashMap<&str, &StepRow> = rows.iter().map(|r| (r.step.as_str(), r)).collect();
        let outputs: BTreeMap<String, Value> = rows
            .iter()
            .filter(|r| r.state == StepState::Succeeded)
            .filter_map(|r| Some((r.step.clone(), r.output.clone()?)))
            .collect();
        let backoff = self.engine.inner.config.backoff.clone();
        // The definition order is a topological order; reversed, dependents come first.
        for def in self.defs.iter().rev() {
            let Some(row) = by_key.get(def.key.as_str()) else {
                continue;
            };
            if !matches!(
                row.state,
                StepState::Succeeded | StepState::Failed | StepState::Running
            ) {
                continue;
            }
            let output = (row.state == StepState::Succeeded)
                .then_some(row.output.as_ref())
                .flatten();
            let mut cx = self.context(&outputs, 1);
            let result = loop {
                match def.step.undo(&cx, output).await {
                    Ok(()) => break Ok(()),
                    Err(e) if e.retryable && cx.attempt < backoff.max_attempts => {
                        tokio::time::sleep(backoff.delay(cx.attempt)).await;
                        cx.attempt += 1;
                    }
                    Err(e) => break Err(e),
                }
            };
            match result {
                Ok(()) => {
                    let seq = self.next_seq();
                    self.store()
                        .step_undone(&self.op.id, self.owner(), &def.key, seq)
                        .await?;
                }
                Err(e) => {
                    return Ok(Some(StepError {
                        message: format!("Undoing {} failed: {}", def.key, e.message),
                        retryable: true,
                    }))
                }
            }
        }
        Ok(None)
    }
}
