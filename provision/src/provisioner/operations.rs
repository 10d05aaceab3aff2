//! Operations through the door: read one, retry or abort it.

use super::Provisioner;
use crate::authz::Action;
use crate::domain::Actor;
use crate::operations;
use crate::ops::OperationRow;
use crate::Result;
use model::OperationId;

impl Provisioner {
    /// An operation the actor may see.
    pub async fn operation(&self, actor: &Actor, id: &OperationId) -> Result<OperationRow> {
        operations::visible(&self.store, actor, id, Action::View).await
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
