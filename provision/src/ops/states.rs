//! Where an operation and each of its steps are in their lives, as stored.

use serde::{Deserialize, Serialize};

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
