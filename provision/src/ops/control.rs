//! What callers ask of the engine besides running: submit an operation, abort one, or
//! retry one that is stuck or failed (each refused while another runs on its target).

use std::collections::HashSet;
use std::time::Duration;

use super::{Engine, NewOperation, OpState, OperationRow, StepDef};
use crate::{Error, Result};

/// How Shipyard's own background work is requested (`system:cloud-controller`): a
/// person's operation on the same target waits for it instead of being refused.
pub const SYSTEM: &str = "system:";
/// How long a person's operation waits for background work on its target.
const GIVE_WAY: Duration = Duration::from_secs(20);
/// How often it looks again meanwhile.
const GIVE_WAY_POLL: Duration = Duration::from_millis(100);

impl Engine {
    /// Records a new operation (pending) with its steps, and wakes a worker. Refuses a
    /// second unfinished operation on the same target, except that a person's waits
    /// (up to [`GIVE_WAY`]) for background work ([`SYSTEM`]) to end first
    /// ([`Engine::give_way`]): the controllers' changes are short, and nobody should
    /// see "busy" because of them.
    pub async fn submit(&self, new: NewOperation) -> Result<OperationRow> {
        let kind = self.kind(&new.kind)?;
        let steps = kind.steps(&new.spec)?;
        check_graph(&steps)?;
        self.give_way(&new.target_id, &new.requested_by).await?;
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

    /// For a person's operation (`requested_by` not [`SYSTEM`]): waits while background
    /// work runs on `target`, up to [`GIVE_WAY`]. A caller that marks its target before
    /// submitting (a cluster UPDATING) gives way first, so background work ending
    /// meanwhile does not unmark it.
    pub async fn give_way(&self, target: &str, requested_by: &str) -> Result<()> {
        if requested_by.starts_with(SYSTEM) {
            return Ok(());
        }
        let until = tokio::time::Instant::now() + GIVE_WAY;
        while let Some(active) = self.inner.store.op_active_for(target).await? {
            if !active.requested_by.starts_with(SYSTEM) || tokio::time::Instant::now() >= until {
                break;
            }
            tokio::time::sleep(GIVE_WAY_POLL).await;
        }
        Ok(())
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
