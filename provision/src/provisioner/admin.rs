//! The admin dashboard through the door: the overview, the audit log with its filter's
//! choices, the offer and every project's quota. Admins only; each call checks first.

use super::Provisioner;
use crate::accounts::{audit_search, require_admin, AuditQuery};
use crate::admin::{self, Capacity, Overview, ProjectQuota};
use crate::clusters::flavors::{self, FlavorOffer};
use crate::clusters::versions::{self, KubeVersion};
use crate::domain::{Actor, AuditEntry};
use crate::ops::{OpState, OperationRow};
use crate::{Error, Result};

/// The states of the operations the overview lists: running, failed or stuck.
const OVERVIEW_STATES: [OpState; 5] = [
    OpState::Pending,
    OpState::Running,
    OpState::Unwinding,
    OpState::Failed,
    OpState::Stuck,
];

/// The dashboard's overview: clusters and operations at a glance, the cloud's
/// capacity, and the operations that are running, failed or stuck (oldest first).
#[derive(Clone, Debug)]
pub struct AdminOverview {
    pub overview: Overview,
    pub capacity: Capacity,
    pub operations: Vec<OperationRow>,
}

/// The audit log as filtered, with the filter's choices.
#[derive(Clone, Debug)]
pub struct AdminAudit {
    /// The entries the filter found, or the newest ones when it was refused.
    pub entries: Vec<AuditEntry>,
    /// Why the filter was refused.
    pub filter_error: Option<String>,
    /// `(id, name)` of every project.
    pub projects: Vec<(String, String)>,
    /// Every action the log holds.
    pub actions: Vec<String>,
    /// Every account's email.
    pub emails: Vec<String>,
}

/// The offer: the Kubernetes versions and the cloud's flavors, each with whether it is
/// on offer.
#[derive(Debug)]
pub struct AdminOffer {
    pub versions: Vec<KubeVersion>,
    /// Empty when the cloud would not list its flavors.
    pub flavors: Vec<FlavorOffer>,
    /// Why the cloud would not list its flavors (the versions still show).
    pub cloud_error: Option<Error>,
}

impl Provisioner {
    /// The dashboard's overview (admins).
    pub async fn admin_overview(&self, actor: &Actor) -> Result<AdminOverview> {
        require_admin(actor)?;
        Ok(AdminOverview {
            overview: admin::overview(&self.store, actor).await?,
            capacity: admin::capacity(self.cloud.as_ref(), actor).await?,
            operations: crate::operations::list_all(&self.store, actor, &OVERVIEW_STATES).await?,
        })
    }

    /// The audit log filtered by `query` (admins). A filter that does not parse is
    /// reported, and the newest entries are given instead.
    pub async fn admin_audit(&self, actor: &Actor, query: &AuditQuery) -> Result<AdminAudit> {
        require_admin(actor)?;
        let (entries, filter_error) = match audit_search(&self.store, actor, query).await {
            Ok(a) => (a, None),
            Err(e @ Error::Invalid { .. }) => {
                let newest = AuditQuery::default();
                let entries = audit_search(&self.store, actor, &newest).await?;
                (entries, Some(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        let (projects, actions) = admin::audit_choices(&self.store, actor, 1000).await?;
        let users = self.store.user_list(500, 0).await?;
        Ok(AdminAudit {
            entries,
            filter_error,
            projects,
            actions,
            emails: users.into_iter().map(|u| u.email).collect(),
        })
    }

    /// The versions and the flavors on offer (admins). Without the cloud's flavors the
    /// versions still come, with why the flavors do not.
    pub async fn admin_offer(&self, actor: &Actor) -> Result<AdminOffer> {
        require_admin(actor)?;
        let versions = versions::list(&self.store, true).await?;
        let (cloud_flavors, cloud_error) = match self.cloud.flavor_list().await {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(Error::from(e))),
        };
        let flavors = flavors::list(&self.store, &cloud_flavors).await?;
        Ok(AdminOffer {
            versions,
            flavors,
            cloud_error,
        })
    }

    /// Every project's quota beside what it uses (admins; at most 500 projects). The
    /// cloud's flavors size the usage; without them the usage of vCPUs and RAM reads 0
    /// and the limits can still be set.
    pub async fn admin_quotas(&self, actor: &Actor) -> Result<Vec<ProjectQuota>> {
        require_admin(actor)?;
        let cloud_flavors = self.cloud.flavor_list().await.unwrap_or_default();
        admin::project_quotas(&self.store, actor, &cloud_flavors, 500).await
    }
}
