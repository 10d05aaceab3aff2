//! The one door into the core. The console's server functions and the REST handlers
//! each make one call here with the caller's [`Actor`]; the call authorizes, checks the
//! plan the caller read ([`Intent`]), audits and starts the operation. No web layer
//! repeats those rules.

mod accounts;
pub mod admin;
mod clusters;
mod node_groups;
mod operations;
pub use operations::OperationRecord;
mod workloads;

use std::future::Future;
use std::sync::Arc;

use crate::cloud::{Cloud, Flavor};
use crate::clusters::plan::{check_unchanged, Plan};
use crate::ops::Engine;
use crate::pki::SecretKey;
use crate::{Error, Result, Store};
use model::PlanId;

/// Everything an action of the core needs: the store, the operation engine, the cloud
/// and the key that seals the cluster CAs. Cheap to clone.
#[derive(Clone)]
pub struct Provisioner {
    pub store: Store,
    pub engine: Engine,
    pub cloud: Arc<dyn Cloud>,
    pub secret_key: Arc<SecretKey>,
}

/// How a change is asked for: to read its plan, or to apply it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Intent {
    /// Answer the plan; change nothing.
    Plan,
    /// Apply the change as the world is now.
    #[default]
    Apply,
    /// Apply only if the plan is still the one with this id (the one the user read);
    /// else refuse with what the plan is now, changing nothing.
    ApplyPlan(PlanId),
}

impl Intent {
    /// From the REST API's `dry_run` and `plan_id` query parameters, or a form's hidden
    /// `plan_id` field (empty: none).
    pub fn from_query(dry_run: bool, plan_id: Option<&str>) -> Intent {
        match (dry_run, plan_id.filter(|p| !p.is_empty())) {
            (true, _) => Intent::Plan,
            (false, Some(id)) => Intent::ApplyPlan(PlanId::from(id)),
            (false, None) => Intent::Apply,
        }
    }
}

/// What a change answers: its plan (asked with [`Intent::Plan`]) or what it started.
#[derive(Debug)]
pub enum Outcome<T> {
    Planned(Box<Plan>),
    Started(T),
}

impl<T> Outcome<T> {
    /// The plan of an [`Intent::Plan`] call.
    pub fn into_plan(self) -> Result<Plan> {
        match self {
            Outcome::Planned(p) => Ok(*p),
            Outcome::Started(_) => Err(Error::internal("a plan was asked and a change made")),
        }
    }

    /// What an applying call started.
    pub fn into_started(self) -> Result<T> {
        match self {
            Outcome::Started(t) => Ok(t),
            Outcome::Planned(_) => Err(Error::internal("a change was asked and only planned")),
        }
    }
}

/// Plan, check, apply: the one place the rule lives. `plan` and `apply` are futures not
/// yet started; only what `intent` asks for runs.
async fn planned<T>(
    intent: Intent,
    plan: impl Future<Output = Result<Plan>>,
    apply: impl Future<Output = Result<T>>,
) -> Result<Outcome<T>> {
    match intent {
        Intent::Plan => Ok(Outcome::Planned(Box::new(plan.await?))),
        Intent::ApplyPlan(expected) => {
            check_unchanged(&plan.await?, Some(&expected))?;
            Ok(Outcome::Started(apply.await?))
        }
        Intent::Apply => Ok(Outcome::Started(apply.await?)),
    }
}

impl Provisioner {
    /// The cloud's flavors (what the offer and the plans are made of).
    pub async fn flavors(&self) -> Result<Vec<Flavor>> {
        crate::clusters::flavors::of_cloud(self.cloud.as_ref()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_from_the_query() {
        assert_eq!(Intent::from_query(true, Some("x")), Intent::Plan);
        assert_eq!(Intent::from_query(false, Some("")), Intent::Apply);
        assert_eq!(Intent::from_query(false, None), Intent::Apply);
        assert_eq!(
            Intent::from_query(false, Some("abc")),
            Intent::ApplyPlan("abc".into())
        );
    }
}
