//! The engine: its settings, how it is built with its saga kinds, and the worker loop
//! that claims operations, keeps their leases and drives each to its end.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use super::run::Run;
use super::{OpState, OperationRow, SagaKind};
use crate::{Error, Result, Store};

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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) kinds: HashMap<String, Arc<dyn SagaKind>>,
    pub(super) config: EngineConfig,
    /// This process's name in leases.
    pub(super) owner: String,
    pub(super) wake: Notify,
    pub(super) permits: Arc<Semaphore>,
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

    pub(super) fn kind(&self, name: &str) -> Result<Arc<dyn SagaKind>> {
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
                let started = match kind.summary(&op.spec) {
                    Some(why) => format!("{} started: {why}", op.kind),
                    None => format!("{} started", op.kind),
                };
                run.event(None, "started", &started).await?;
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
