//! Auto-repair as one cluster's task runs it: at most every
//! [`repair::RepairSettings::every`], the cluster's servers and its API pool's members
//! (the load balancer's health check of each master) are read from the cloud and judged
//! with the Nodes the watch keeps ([`super::repair::decide`]); a worker to replace
//! becomes a `node.repair` operation, a master a `master.repair`, requested by
//! [`CONTROLLER`], and what is held back is said once per hold in the audit log and as
//! the cluster's status reason.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;

use super::repair::{self, Decision, Observed, Role, Unhealthy};
use super::{Controllers, CONTROLLER};
use crate::cloud::Server;
use crate::clusters::repair::{repair_params, NODE_REPAIR};
use crate::clusters::repair_master::{master_repair_params, MASTER_REPAIR};
use crate::clusters::saga::{cluster_metadata, cluster_tag, prefix};
use crate::domain::{NewAudit, Outcome};
use crate::ops::NewOperation;
use crate::{Error, Result};
use model::ClusterStatus;

/// The audit action of a hold.
pub const HOLD: &str = "node.repair.hold";
/// How a hold begins as the cluster's status reason.
const NOTE: &str = "Auto-repair is holding back: ";

/// What one cluster's auto-repair remembers between passes.
#[derive(Default)]
pub(super) struct Repairs {
    /// When the last pass ran.
    last: Option<tokio::time::Instant>,
    /// When each server was first seen ACTIVE (Unix ms).
    active_since: HashMap<String, i64>,
    /// Since when each master's API has failed the health check (Unix ms), by name.
    api_down_since: HashMap<String, i64>,
    /// The holds already said.
    said: BTreeSet<String>,
}

impl Controllers {
    /// Judges the cluster's masters and workers when it is time; how long until the
    /// next time. Without `nodes` (the API has not been listed yet) only masters are
    /// judged: a worker is never replaced for want of a Node nobody could read.
    pub(super) async fn repair_pass(
        &self,
        cluster_id: &str,
        nodes: Option<Vec<Node>>,
        st: &mut Repairs,
    ) -> Duration {
        let every = self.repair.every;
        if let Some(last) = st.last {
            let since = last.elapsed();
            if since < every {
                return every - since;
            }
        }
        st.last = Some(tokio::time::Instant::now());
        if let Err(e) = self.repair_once(cluster_id, nodes.as_deref(), st).await {
            tracing::warn!(cluster = %cluster_id, error = %e, "auto-repair pass failed");
        }
        every
    }

    async fn repair_once(
        &self,
        cluster_id: &str,
        nodes: Option<&[Node]>,
        st: &mut Repairs,
    ) -> Result<()> {
        let cluster = self.store.cluster_by_id(cluster_id).await?;
        // Another operation runs (perhaps a repair): the servers are changing; wait.
        if cluster.status != ClusterStatus::Active || self.active(cluster_id).await? {
            return Ok(());
        }
        let mut servers: Vec<Server> = self
            .cloud
            .server_list(&cluster_metadata(cluster_id))
            .await
            .map_err(|e| Error::internal(format!("listing the cluster's servers: {e}")))?;
        if nodes.is_none() {
            servers
                .retain(|s| s.metadata.get("shipyard-role").map(String::as_str) == Some("master"));
        }
        let now = crate::now_ms();
        st.active_since
            .retain(|id, _| servers.iter().any(|s| &s.id == id && s.status == "ACTIVE"));
        for s in servers.iter().filter(|s| s.status == "ACTIVE") {
            st.active_since.entry(s.id.clone()).or_insert(now);
        }
        self.api_health(cluster_id, now, st).await;
        let since = repair::window_start(&self.repair, now);
        let recent: Vec<String> = self
            .store
            .op_list_for(cluster_id)
            .await?
            .into_iter()
            .filter(|o| o.created_at >= since)
            .filter_map(|o| match o.kind.as_str() {
                NODE_REPAIR => o.spec["node_group"].as_str().map(str::to_string),
                MASTER_REPAIR => Some(repair::MASTERS.to_string()),
                _ => None,
            })
            .collect();
        let Decision { repair, holds } = repair::decide(
            &self.repair,
            &Observed {
                now_ms: now,
                nodes: nodes.unwrap_or_default(),
                servers: &servers,
                active_since: &st.active_since,
                recent: &recent,
                api_down_since: &st.api_down_since,
            },
        );
        // A hold gone is said again if it comes back.
        let had = !st.said.is_empty();
        st.said.retain(|k| holds.iter().any(|h| &h.key == k));
        for h in &holds {
            if st.said.insert(h.key.clone()) {
                self.audit(
                    &cluster.project_id,
                    HOLD,
                    &cluster.name,
                    Outcome::Denied,
                    &h.reason,
                )
                .await?;
                let note = format!("{NOTE}{}", h.reason);
                self.store
                    .cluster_note(cluster_id, NOTE, Some(&note))
                    .await?;
            }
        }
        if had && holds.is_empty() {
            self.store.cluster_note(cluster_id, NOTE, None).await?;
        }
        let Some(u) = repair else { return Ok(()) };
        let (kind, spec, replacement) = self.repair_spec(cluster_id, &servers, &u).await?;
        let op = match self
            .engine
            .submit(NewOperation {
                project_id: cluster.project_id.clone(),
                kind: kind.into(),
                target_id: cluster_id.to_string(),
                requested_by: CONTROLLER.into(),
                spec,
            })
            .await
        {
            Ok(op) => op,
            // Someone else's operation came first: judged again next time.
            Err(Error::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.audit(
            &cluster.project_id,
            kind,
            &u.name,
            Outcome::Success,
            &format!(
                "{}; replacing it with {replacement} (operation {})",
                u.reason, op.id
            ),
        )
        .await
    }

    /// The operation that replaces `u`: its kind, spec and the replacement's name.
    async fn repair_spec(
        &self,
        cluster_id: &str,
        servers: &[Server],
        u: &Unhealthy,
    ) -> Result<(&'static str, serde_json::Value, String)> {
        let target = (u.name.as_str(), u.server_id.as_str());
        let (kind, spec, replacement) = match u.role {
            Role::Worker => {
                let p = repair_params(
                    &self.store,
                    servers,
                    cluster_id,
                    &u.group,
                    target,
                    &u.reason,
                )
                .await?;
                (NODE_REPAIR, serde_json::to_value(&p), p.replacement())
            }
            Role::Master => {
                let p = master_repair_params(
                    &self.store,
                    self.cloud.as_ref(),
                    servers,
                    cluster_id,
                    target,
                    &u.reason,
                )
                .await?;
                (MASTER_REPAIR, serde_json::to_value(&p), p.replacement())
            }
        };
        Ok((kind, spec.map_err(Error::internal)?, replacement))
    }

    /// Follows the API load balancer's health check of each master (best effort: a
    /// pool that cannot be read leaves what was known).
    async fn api_health(&self, cluster_id: &str, now: i64, st: &mut Repairs) {
        let name = format!("{}-api-masters", prefix(cluster_id));
        let members = async {
            let pool = self
                .cloud
                .pool_list(&[cluster_tag(cluster_id)])
                .await?
                .into_iter()
                .find(|p| p.name == name);
            match pool {
                Some(p) => self.cloud.member_list(&p.id).await,
                None => Ok(Vec::new()),
            }
        }
        .await;
        let members = match members {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(cluster = %cluster_id, error = %e, "cannot read the API pool's health");
                return;
            }
        };
        let down: Vec<&str> = members
            .iter()
            .filter(|m| m.operating_status == "ERROR")
            .map(|m| m.name.as_str())
            .collect();
        st.api_down_since
            .retain(|name, _| down.contains(&name.as_str()));
        for name in down {
            st.api_down_since.entry(name.to_string()).or_insert(now);
        }
    }

    async fn audit(
        &self,
        project_id: &str,
        action: &str,
        object: &str,
        outcome: Outcome,
        detail: &str,
    ) -> Result<()> {
        self.store
            .audit_insert(&NewAudit {
                actor_id: None,
                actor_email: CONTROLLER,
                project_id: Some(project_id),
                action,
                object,
                outcome,
                client_addr: "local",
                detail,
            })
            .await
    }
}
