//! Operations through the door: read one, retry or abort it.

use super::Provisioner;
use crate::authz::{authorize, Action};
use crate::domain::Actor;
use crate::operations;
use crate::ops::{EventRow, OperationRow, StepRow};
use crate::Result;
use model::OperationId;

/// An operation as its page shows it.
pub struct OperationRecord {
    pub operation: OperationRow,
    pub steps: Vec<StepRow>,
    pub events: Vec<EventRow>,
    /// Whether the actor may retry or abort it (a member of its project; admins may
    /// abort stuck ones too, which the core checks when asked).
    pub can_act: bool,
}

impl Provisioner {
    /// An operation the actor may see.
    pub async fn operation(&self, actor: &Actor, id: &OperationId) -> Result<OperationRow> {
        operations::visible(&self.store, actor, id, Action::View).await
    }

    /// An operation the actor may see, with its steps and events.
    pub async fn operation_record(
        &self,
        actor: &Actor,
        id: &OperationId,
    ) -> Result<OperationRecord> {
        let operation = self.operation(actor, id).await?;
        let can_act = authorize(&self.store, actor, &operation.project_id, Action::Mutate)
            .await
            .is_ok();
        Ok(OperationRecord {
            steps: self.store.op_steps(id).await?,
            events: self.store.op_events(id).await?,
            operation,
            can_act,
        })
    }

    /// Runs a failed operation again from where it stopped.
    pub async fn operation_retry(&self, actor: &Actor, id: &OperationId) -> Result<OperationRow> {
        operations::retry(&self.store, &self.engine, actor, id).await
    }

    /// Stops an operation and unwinds what it made.
    pub async fn operation_abort(&self, actor: &Actor, id: &OperationId) -> Result<OperationRow> {
        operations::abort(&self.store, &self.engine, actor, id).await
    }
}
