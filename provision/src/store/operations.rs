//! The SQL of the operations engine ([`crate::ops`]): its tables `operations`,
//! `operation_steps` and `operation_events`, and the rows read from them. Writes by a
//! worker are fenced by its lease: a step's state changes only while the operation's
//! `lease_owner` is that worker, so a worker that lost its lease (paused, partitioned)
//! cannot overwrite the one that took over.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::Backend;
use crate::ops::states::{OpState, StepState};
use crate::{now_ms, Error, Result, Store};

/// What a caller asks for.
#[derive(Clone, Debug)]
pub struct NewOperation {
    pub project_id: String,
    pub kind: String,
    pub target_id: String,
    pub requested_by: String,
    pub spec: Value,
}

/// An operation as stored.
#[derive(Clone, Debug)]
pub struct OperationRow {
    pub id: String,
    pub project_id: String,
    pub kind: String,
    pub target_id: String,
    pub requested_by: String,
    pub state: OpState,
    pub spec: Value,
    pub steps_done: i64,
    pub steps_total: i64,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    pub abort_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct StepRow {
    pub step: String,
    pub position: i64,
    pub state: StepState,
    pub attempts: i64,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct EventRow {
    pub seq: i64,
    pub at: i64,
    pub step: Option<String>,
    pub event: String,
    pub detail: String,
}

const OP_COLUMNS: &str = "id, project_id, kind, target_id, requested_by, state, spec, steps_done, steps_total, error, retryable, abort_requested, lease_owner, lease_until, created_at, updated_at, finished_at";

fn op_row(r: &AnyRow) -> Result<OperationRow> {
    let state: String = r.try_get("state")?;
    let spec: String = r.try_get("spec")?;
    Ok(OperationRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        kind: r.try_get("kind")?,
        target_id: r.try_get("target_id")?,
        requested_by: r.try_get("requested_by")?,
        state: OpState::parse(&state)
            .ok_or_else(|| Error::internal(format!("bad operation state {state}")))?,
        spec: serde_json::from_str(&spec).map_err(Error::internal)?,
        steps_done: r.try_get("steps_done")?,
        steps_total: r.try_get("steps_total")?,
        error: r.try_get("error")?,
        retryable: r.try_get::<Option<i64>, _>("retryable")?.map(|v| v != 0),
        abort_requested: r.try_get::<i64, _>("abort_requested")? != 0,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn step_row(r: &AnyRow) -> Result<StepRow> {
    let state: String = r.try_get("state")?;
    let output: Option<String> = r.try_get("output")?;
    Ok(StepRow {
        step: r.try_get("step")?,
        position: r.try_get("position")?,
        state: StepState::parse(&state)
            .ok_or_else(|| Error::internal(format!("bad step state {state}")))?,
        attempts: r.try_get("attempts")?,
        output: output.and_then(|o| serde_json::from_str(&o).ok()),
        error: r.try_get("error")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

/// `AND` clause fencing a write by the operation's current lease holder (`$owner_n`).
/// A change to one step, recorded with its event by [`Store::steps_record`].
pub(crate) enum StepChange {
    Started {
        step: String,
        seq: i64,
    },
    Succeeded {
        step: String,
        seq: i64,
        attempts: u32,
        output: Value,
    },
    Failed {
        step: String,
        seq: i64,
        attempts: u32,
        error: String,
        detail: String,
    },
}

fn fenced(op_param: usize, owner_param: usize) -> String {
    format!("EXISTS (SELECT 1 FROM operations o WHERE o.id = ${op_param} AND o.lease_owner = ${owner_param})")
}

impl Store {
    pub(crate) async fn op_insert(
        &self,
        new: &NewOperation,
        steps: &[String],
    ) -> Result<OperationRow> {
        let now = now_ms();
        let id = crate::new_id();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO operations (id, project_id, kind, target_id, requested_by, state, spec, steps_done, steps_total, abort_requested, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, 0, $7, 0, $8, $8)",
        )
        .bind(&id)
        .bind(&new.project_id)
        .bind(&new.kind)
        .bind(&new.target_id)
        .bind(&new.requested_by)
        .bind(new.spec.to_string())
        .bind(steps.len() as i64)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::Conflict(format!("operation not recorded: {e}")))?;
        for (i, step) in steps.iter().enumerate() {
            sqlx::query(
                "INSERT INTO operation_steps (operation_id, step, position, state, attempts) VALUES ($1, $2, $3, 'pending', 0)",
            )
            .bind(&id)
            .bind(step)
            .bind(i as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.op_get(&id).await
    }

    pub async fn op_get(&self, id: &str) -> Result<OperationRow> {
        let row = sqlx::query(&format!(
            "SELECT {OP_COLUMNS} FROM operations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("Operation {id} not found.")))?;
        op_row(&row)
    }

    /// The unfinished operation on `target_id`, if any.
    pub async fn op_active_for(&self, target_id: &str) -> Result<Option<OperationRow>> {
        let row = sqlx::query(&format!(
            "SELECT {OP_COLUMNS} FROM operations WHERE target_id = $1 AND state IN ('pending', 'running', 'unwinding') LIMIT 1"
        ))
        .bind(target_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(op_row).transpose()
    }

    /// Operations on a target, newest first.
    pub async fn op_list_for(&self, target_id: &str) -> Result<Vec<OperationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {OP_COLUMNS} FROM operations WHERE target_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(target_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(op_row).collect()
    }

    /// Operations in the given states, oldest first (admin views, tests).
    pub async fn op_list_in(&self, states: &[OpState]) -> Result<Vec<OperationRow>> {
        let list = states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {OP_COLUMNS} FROM operations WHERE state IN ({list}) ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(op_row).collect()
    }

    pub async fn op_steps(&self, id: &str) -> Result<Vec<StepRow>> {
        let rows = sqlx::query(
            "SELECT step, position, state, attempts, output, error, started_at, finished_at FROM operation_steps WHERE operation_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(step_row).collect()
    }

    pub async fn op_events(&self, id: &str) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, step, event, detail FROM operation_events WHERE operation_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    step: r.try_get("step")?,
                    event: r.try_get("event")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    pub(crate) async fn op_last_event(&self, id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) AS n FROM operation_events WHERE operation_id = $1",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    pub(crate) async fn op_event(
        &self,
        id: &str,
        seq: i64,
        step: Option<&str>,
        event: &str,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO operation_events (operation_id, seq, at, step, event, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(seq)
        .bind(now_ms())
        .bind(step)
        .bind(event)
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes the oldest unfinished operation whose lease is free or expired. On
    /// PostgreSQL the candidate is picked with `FOR UPDATE SKIP LOCKED`, so replicas do
    /// not queue on the same row; on both, the claim itself is a compare-and-set on the
    /// lease, so two workers never both win.
    pub(crate) async fn op_claim(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<OperationRow>> {
        let now = now_ms();
        const PICK: &str = "SELECT id FROM operations WHERE state IN ('pending', 'running', 'unwinding') AND (lease_until IS NULL OR lease_until < $1) ORDER BY created_at, id LIMIT 1";
        const CLAIM: &str = "UPDATE operations SET lease_owner = $1, lease_until = $2, updated_at = $3
             WHERE id = $4 AND state IN ('pending', 'running', 'unwinding') AND (lease_until IS NULL OR lease_until < $3)";
        let (id, claimed) = match self.backend() {
            Backend::Postgres => {
                let mut tx = self.pool().begin().await?;
                let pick = format!("{PICK} FOR UPDATE SKIP LOCKED");
                let Some(row) = sqlx::query(&pick)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let id: String = row.try_get("id")?;
                let n = sqlx::query(CLAIM)
                    .bind(owner)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                (id, n)
            }
            // No transaction: on SQLite a read that turns into a write fails when another
            // writer committed in between (SQLITE_BUSY_SNAPSHOT); the compare-and-set
            // UPDATE alone decides who wins.
            Backend::Sqlite => {
                let Some(row) = sqlx::query(PICK)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await?
                else {
                    return Ok(None);
                };
                let id: String = row.try_get("id")?;
                let n = sqlx::query(CLAIM)
                    .bind(owner)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(&id)
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                (id, n)
            }
        };
        if claimed != 1 {
            return Ok(None);
        }
        Ok(Some(self.op_get(&id).await?))
    }

    /// Extends this worker's lease; false when another worker holds it now.
    pub(crate) async fn op_renew(&self, id: &str, owner: &str, lease_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE operations SET lease_until = $1 WHERE id = $2 AND lease_owner = $3",
        )
        .bind(now_ms() + lease_ms)
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Moves the operation to `state` (fenced by the lease), with the step error's
    /// message and whether it is retryable, if any; a final state also releases the
    /// lease and stamps `finished_at`.
    pub(crate) async fn op_set_state(
        &self,
        id: &str,
        owner: &str,
        state: OpState,
        error: Option<(&str, bool)>,
        finished: bool,
    ) -> Result<()> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE operations SET state = $1, error = COALESCE($2, error), retryable = COALESCE($3, retryable), updated_at = $4,
                 finished_at = $5, lease_owner = CASE WHEN $6 = 1 THEN NULL ELSE lease_owner END,
                 lease_until = CASE WHEN $6 = 1 THEN NULL ELSE lease_until END
             WHERE id = $7 AND lease_owner = $8",
        )
        .bind(state.as_str())
        .bind(error.map(|(message, _)| message.to_string()))
        .bind(error.map(|(_, retryable)| retryable as i64))
        .bind(now)
        .bind(finished.then_some(now))
        .bind(finished as i64)
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await?
        .rows_affected();
        if done != 1 {
            return Err(Error::Conflict(format!("lease on {id} lost")));
        }
        Ok(())
    }

    /// Records step changes of one operation in one transaction: the steps a
    /// scheduling pass starts together, or the results that arrived together (group
    /// commit). Each update is fenced by the lease; each adds its event; results also
    /// update the operation's progress.
    pub(crate) async fn steps_record(
        &self,
        id: &str,
        owner: &str,
        changes: &[StepChange],
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let fence = fenced(2, 4);
        let mut tx = self.pool().begin().await?;
        let mut count = false;
        for change in changes {
            // What the step's row becomes, and the attempts and text bound as $5, $6.
            let (step, seq, event, detail, set, extra) = match change {
                StepChange::Started { step, seq } => (
                    step,
                    *seq,
                    "started",
                    String::new(),
                    "state = 'running', started_at = $1",
                    None,
                ),
                StepChange::Succeeded {
                    step,
                    seq,
                    attempts,
                    output,
                } => {
                    count = true;
                    let text = output.to_string();
                    (
                        step,
                        *seq,
                        "succeeded",
                        text.clone(),
                        "state = 'succeeded', finished_at = $1, attempts = attempts + $5, output = $6, error = NULL",
                        Some((*attempts as i64, text)),
                    )
                }
                StepChange::Failed {
                    step,
                    seq,
                    attempts,
                    error,
                    detail,
                } => (
                    step,
                    *seq,
                    "failed",
                    detail.clone(),
                    "state = 'failed', finished_at = $1, attempts = attempts + $5, error = $6",
                    Some((*attempts as i64, error.clone())),
                ),
            };
            let sql = format!(
                "UPDATE operation_steps SET {set} WHERE operation_id = $2 AND step = $3 AND {fence}"
            );
            let mut q = sqlx::query(&sql).bind(now).bind(id).bind(step).bind(owner);
            if let Some((attempts, text)) = extra {
                q = q.bind(attempts).bind(text);
            }
            if q.execute(&mut *tx).await?.rows_affected() != 1 {
                return Err(Error::Conflict(format!("lease on {id} lost")));
            }
            sqlx::query(
                "INSERT INTO operation_events (operation_id, seq, at, step, event, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(seq)
            .bind(now)
            .bind(step)
            .bind(event)
            .bind(detail)
            .execute(&mut *tx)
            .await?;
        }
        if count {
            sqlx::query(
                "UPDATE operations SET steps_done = (SELECT COUNT(*) FROM operation_steps s WHERE s.operation_id = $1 AND s.state = 'succeeded'), updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn step_undone(
        &self,
        id: &str,
        owner: &str,
        step: &str,
        seq: i64,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE operation_steps SET state = 'undone', finished_at = $1 WHERE operation_id = $2 AND step = $3 AND {}",
            fenced(2, 4)
        );
        self.step_write(
            &sql,
            id,
            owner,
            step,
            |q| q,
            (seq, "undone", String::new()),
            true,
        )
        .await
    }

    /// In one transaction: a fenced step update (`$1` = now, `$2` = operation, `$3` =
    /// step, `$4` = owner, then what `extra` binds), its event, and, when `count`, the
    /// operation's progress. One commit per step change keeps the engine near the
    /// database's commit rate.
    #[allow(clippy::too_many_arguments)]
    async fn step_write<'q>(
        &self,
        sql: &'q str,
        id: &'q str,
        owner: &'q str,
        step: &'q str,
        extra: impl FnOnce(
            sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        (seq, event, detail): (i64, &str, String),
        count: bool,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let q = sqlx::query(sql).bind(now).bind(id).bind(step).bind(owner);
        let done = extra(q).execute(&mut *tx).await?.rows_affected();
        if done != 1 {
            return Err(Error::Conflict(format!("lease on {id} lost")));
        }
        sqlx::query(
            "INSERT INTO operation_events (operation_id, seq, at, step, event, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(seq)
        .bind(now)
        .bind(step)
        .bind(event)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        if count {
            sqlx::query(
                "UPDATE operations SET steps_done = (SELECT COUNT(*) FROM operation_steps s WHERE s.operation_id = $1 AND s.state = 'succeeded'), updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn op_request_abort(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE operations SET abort_requested = 1, updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn op_abort_requested(&self, id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT abort_requested FROM operations WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("abort_requested")? != 0)
    }

    /// A stuck operation goes back to unwinding; a failed one to pending, its failed
    /// steps to pending. The lease is freed so any worker may take it.
    pub(crate) async fn op_reopen(&self, id: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE operations SET state = CASE WHEN state = 'stuck' THEN 'unwinding' ELSE 'pending' END,
                 lease_owner = NULL, lease_until = NULL, finished_at = NULL, updated_at = $1,
                 abort_requested = 0,
                 error = CASE WHEN state = 'stuck' THEN error ELSE NULL END,
                 retryable = CASE WHEN state = 'stuck' THEN retryable ELSE NULL END
             WHERE id = $2 AND state IN ('stuck', 'failed')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::Conflict(format!("operation cannot be reopened: {e}")))?;
        sqlx::query(
            "UPDATE operation_steps SET state = 'pending' WHERE operation_id = $1 AND state = 'failed'
               AND (SELECT state FROM operations WHERE id = $1) = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
