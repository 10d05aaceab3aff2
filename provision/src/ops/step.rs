//! What a saga is made of: its steps (one side effect and its undo each), how they
//! fail, what they see, and the kind of operation that builds them from a spec.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::OperationRow;
use crate::Result;

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

    /// The output of step `key` read as the type that step records.
    pub fn output_as<T: DeserializeOwned>(&self, key: &str) -> std::result::Result<T, StepError> {
        serde_json::from_value(self.output(key)?.clone())
            .map_err(|e| StepError::permanent(format!("step output '{key}' does not read: {e}")))
    }

    /// The output of step `key` if it ran and reads as `T`.
    pub fn output_if<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        recorded(self.outputs.get(key))
    }
}

/// A step's typed output as the engine records it (JSON).
pub fn record<T: Serialize>(output: &T) -> std::result::Result<Value, StepError> {
    serde_json::to_value(output)
        .map_err(|e| StepError::permanent(format!("a step output does not serialize: {e}")))
}

/// A recorded output read back as its type (`None`: none was recorded, or it is of
/// another shape, as an interrupted step's is).
pub fn recorded<T: DeserializeOwned>(output: Option<&Value>) -> Option<T> {
    output.and_then(|o| serde_json::from_value(o.clone()).ok())
}

/// One side effect and its undo. Both must be idempotent: `run` finds what an earlier
/// attempt made before making it, `undo` treats "already gone" as done.
#[async_trait]
pub trait Step: Send + Sync {
    async fn run(&self, cx: &StepContext) -> std::result::Result<Value, StepError>;
    /// `output` is the step's recorded output when it succeeded, `None` when it failed
    /// or was interrupted (its side effect may still have happened).
    /// Nothing by default, for steps that are never undone (or whose effect needs no
    /// undoing).
    async fn undo(
        &self,
        _cx: &StepContext,
        _output: Option<&Value>,
    ) -> std::result::Result<(), StepError> {
        Ok(())
    }
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
    /// Why the operation runs, in words, for its `started` event (a controller's
    /// operation says what it saw); `None` for most kinds.
    fn summary(&self, _spec: &Value) -> Option<String> {
        None
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
