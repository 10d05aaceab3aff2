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

mod control;
mod engine;
mod run;
pub(crate) mod states;
mod step;

pub use crate::store::{EventRow, NewOperation, OperationRow, StepRow};
pub use engine::{Backoff, Engine, EngineBuilder, EngineConfig};
pub use states::{OpState, StepState};
pub use step::{record, recorded, SagaKind, Step, StepContext, StepDef, StepError};
