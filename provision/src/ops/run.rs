//! One execution of one operation by a worker: steps run forward as their dependencies
//! finish, retried with backoff, and undone in reverse when the operation unwinds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::Value;

use super::{Engine, OpState, OperationRow, StepContext, StepDef, StepError, StepRow, StepState};
use crate::store::StepChange;
use crate::{Error, Result, Store};

/// A step error as the operation's row records it: its message and whether it is
/// retryable.
fn message(error: Option<&StepError>) -> Option<(&str, bool)> {
    error.map(|e| (e.message.as_str(), e.retryable))
}

/// One execution of one operation by this worker.
pub(super) struct Run<'a> {
    pub(super) engine: &'a Engine,
    pub(super) op: &'a OperationRow,
    pub(super) defs: &'a [StepDef],
    pub(super) seq: AtomicI64,
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

    pub(super) async fn event(&self, step: Option<&str>, event: &str, detail: &str) -> Result<()> {
        let seq = self.next_seq();
        self.store()
            .op_event(&self.op.id, seq, step, event, detail)
            .await
    }

    pub(super) async fn set_state(&self, state: OpState, error: Option<&StepError>) -> Result<()> {
        self.store()
            .op_set_state(&self.op.id, self.owner(), state, message(error), false)
            .await
    }

    pub(super) async fn finish(&self, state: OpState, error: Option<&StepError>) -> Result<()> {
        self.event(
            None,
            state.as_str(),
            &format!("{} {}", self.op.kind, state.as_str()),
        )
        .await?;
        self.store()
            .op_set_state(&self.op.id, self.owner(), state, message(error), true)
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
    pub(super) async fn forward(&self) -> Result<Option<StepError>> {
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
    pub(super) async fn backward(&self) -> Result<Option<StepError>> {
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
