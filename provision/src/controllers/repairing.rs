//! Auto-repair as one cluster's task runs it: at most every
//! [`repair::RepairSettings::every`], the cluster's servers are read from the cloud and judged
//! with the Nodes the watch keeps ([`super::repair::decide`]); a worker to replace
//! becomes a `node.repair` operation requested by [`CONTROLLER`], and what is held back
//! is said once per hold in the audit log and as the cluster's status reason.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;

use super::repair::{self, Decision, Observed};
use super::{Controllers, CONTROLLER};
use crate::cloud::Server;
use crate::clusters::repair::{repair_params, NODE_REPAIR};
use crate::clusters::saga::cluster_metadata;
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
    /// The holds already said.
    said: BTreeSet<String>,
}

impl Controllers {
    /// Judges the cluster's workers when it is time; how long until the next time.
    pub(super) async fn repair_pass(
        &self,
        cluster_id: &str,
        nodes: &[Node],
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
        if let Err(e) = self.repair_once(cluster_id, nodes, st).await {
            tracing::warn!(cluster = %cluster_id, error = %e, "auto-repair pass failed");
        }
        every
    }

    async fn repair_once(&self, cluster_id: &str, nodes: &[Node], st: &mut Repairs) -> Result<()> {
        let cluster = self.store.cluster_by_id(cluster_id).await?;
        // Another operation runs (perhaps a repair): the servers are changing; wait.
        if cluster.status != ClusterStatus::Active || self.active(cluster_id).await? {
            return Ok(());
        }
        let servers: Vec<Server> = self
            .cloud
            .server_list(&cluster_metadata(cluster_id))
            .await
            .map_err(|e| Error::internal(format!("listing the cluster's servers: {e}")))?;
        let now = crate::now_ms();
        st.active_since
            .retain(|id, _| servers.iter().any(|s| &s.id == id && s.status == "ACTIVE"));
        for s in servers.iter().filter(|s| s.status == "ACTIVE") {
            st.active_since.entry(s.id.clone()).or_insert(now);
        }
        let since = repair::window_start(&self.repair, now);
        let recent: Vec<String> = self
            .store
            .op_list_for(cluster_id)
            .await?
            .into_iter()
            .filter(|o| o.kind == NODE_REPAIR && o.created_at >= since)
            .filter_map(|o| o.spec["node_group"].as_str().map(str::to_string))
            .collect();
        let Decision { repair, holds } = repair::decide(
            &self.repair,
            &Observed {
                now_ms: now,
                nodes,
                servers: &servers,
                active_since: &st.active_since,
                recent: &recent,
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
        let params = repair_params(
            &self.store,
            &servers,
            cluster_id,
            &u.group,
            (&u.name, &u.server_id),
            &u.reason,
        )
        .await?;
        let replacement = params.replacement();
        let op = match self
            .engine
            .submit(NewOperation {
                project_id: cluster.project_id.clone(),
                kind: NODE_REPAIR.into(),
                target_id: cluster_id.to_string(),
                requested_by: CONTROLLER.into(),
                spec: serde_json::to_value(&params).map_err(Error::internal)?,
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
            NODE_REPAIR,
            &u.name,
            Outcome::Success,
            &format!(
                "{}; replacing it with {replacement} (operation {})",
                u.reason, op.id
            ),
        )
        .await
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
