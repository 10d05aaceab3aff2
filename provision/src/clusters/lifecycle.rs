//! A cluster's life as the core runs it: find it for a caller, create, delete, issue
//! a kubeconfig, rotate its CA. Each authorizes, audits and starts the operation.

use crate::authz::{authorize, Action};
use crate::domain::Actor;
use crate::ops::{Engine, NewOperation, OperationRow};
use crate::{Error, Result, Store};
use model::ClusterStatus;

use super::saga_shared as saga;
use super::{flavors, rotate, versions, Cluster, ClusterFilter, ClusterSpec, ClusterSummary};

/// What a create or delete answers with.
#[derive(Clone, Debug)]
pub struct Started {
    pub cluster: Cluster,
    pub operation: OperationRow,
}

/// The cluster a person is about to change, once background work on it (the
/// controllers' operations) has ended, bounded ([`Engine::give_way`]): authorized
/// first, then read again after the wait, so the change is worked out from what is now.
pub(super) async fn cluster_to_change(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    cluster_id: &str,
) -> Result<(Cluster, crate::domain::Role)> {
    cluster_for(store, actor, cluster_id, Action::Mutate).await?;
    engine.give_way(cluster_id, &actor.user_id).await?;
    cluster_for(store, actor, cluster_id, Action::Mutate).await
}

/// A live cluster the actor may `action`, with the actor's role; "not found" to anyone
/// outside its project (existence never leaks).
pub async fn cluster_for(
    store: &Store,
    actor: &Actor,
    cluster_id: &str,
    action: Action,
) -> Result<(Cluster, crate::domain::Role)> {
    let hidden = || Error::NotFound(format!("Cluster {cluster_id} not found."));
    let cluster = store.cluster_by_id(cluster_id).await?;
    let (_, role) = authorize(store, actor, &cluster.project_id, action)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => hidden(),
            other => other,
        })?;
    let cluster = store
        .cluster_get(&cluster.project_id, cluster_id)
        .await
        .map_err(|_| hidden())?;
    Ok((cluster, role))
}

/// Fills in the defaults the store cannot know (the newest enabled version) and checks
/// the spec with the same rules for the console and the API; returns the node image.
pub async fn prepare(
    store: &Store,
    spec: &mut ClusterSpec,
    flavors: &[crate::cloud::Flavor],
) -> Result<String> {
    let names = self::flavors::offered(store, flavors).await?;
    spec.validate(&names)?;
    versions::resolve(store, spec).await
}

/// Marks the cluster `status`, then submits `new`. The status goes first: an operation
/// that finishes at once (its end hook sets ACTIVE) must not be overwritten by it — the
/// other order left clusters UPDATING for good (found by the browser tests). A refused
/// submit (another operation runs) puts the old status back.
pub(super) async fn submit_marked(
    store: &Store,
    engine: &Engine,
    cluster: &Cluster,
    status: ClusterStatus,
    new: NewOperation,
) -> Result<OperationRow> {
    engine.give_way(&new.target_id, &new.requested_by).await?;
    store.cluster_set_status(&cluster.id, status, None).await?;
    match engine.submit(new).await {
        Ok(op) => Ok(op),
        Err(e) => {
            store
                .cluster_set_status(
                    &cluster.id,
                    cluster.status,
                    cluster.status_reason.as_deref(),
                )
                .await?;
            Err(e)
        }
    }
}

/// Validates, records the cluster (CREATING) and starts its create operation.
pub async fn create(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    project_id: &str,
    mut spec: ClusterSpec,
    flavors: &[crate::cloud::Flavor],
) -> Result<Started> {
    authorize(store, actor, project_id, Action::Mutate).await?;
    let image = prepare(store, &mut spec, flavors).await?;
    let etcd = saga::ETCD_GIB as i64;
    let claim = crate::quotas::Claim {
        flavors,
        etcd_gib: etcd,
        more: crate::quotas::cluster_usage(&spec, flavors, etcd),
    };
    let cluster = store
        .cluster_insert_within_quota(project_id, &actor.user_id, &spec, &claim)
        .await?;
    let operation = engine
        .submit(NewOperation {
            project_id: project_id.to_string(),
            kind: saga::CREATE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: saga::stored(&saga::CreateParams {
                cluster_id: cluster.id.clone().into(),
                spec: spec.clone(),
                image,
            })?,
        })
        .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(project_id),
        "cluster.create",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!(
            "{} masters, Kubernetes {}, operation {}",
            spec.master_count,
            spec.version(),
            operation.id
        ),
    )
    .await?;
    Ok(Started { cluster, operation })
}

/// Starts removing everything of the cluster from the cloud (whatever its state).
pub async fn delete(
    store: &Store,
    engine: &Engine,
    actor: &Actor,
    project_id: &str,
    cluster_id: &str,
) -> Result<Started> {
    authorize(store, actor, project_id, Action::Mutate).await?;
    store.cluster_get(project_id, cluster_id).await?;
    engine.give_way(cluster_id, &actor.user_id).await?;
    let cluster = store.cluster_get(project_id, cluster_id).await?;
    let operation = submit_marked(
        store,
        engine,
        &cluster,
        ClusterStatus::Deleting,
        NewOperation {
            project_id: project_id.to_string(),
            kind: saga::DELETE.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: saga::stored(&saga::DeleteParams {
                cluster_id: cluster.id.clone().into(),
            })?,
        },
    )
    .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(project_id),
        "cluster.delete",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!("operation {}", operation.id),
    )
    .await?;
    // The record as it was marked, not read again: the delete may have finished (and
    // the cluster be gone) by now, and the caller must still learn that it started.
    let cluster = Cluster {
        status: ClusterStatus::Deleting,
        status_reason: None,
        ..cluster
    };
    Ok(Started { cluster, operation })
}

/// Issues a kubeconfig for the actor on the cluster: a fresh client certificate (CN =
/// the user's email, O = the group of their project role), audit-logged.
pub async fn kubeconfig(
    store: &Store,
    key: &crate::pki::SecretKey,
    actor: &Actor,
    cluster_id: &str,
    validity_hours: Option<u32>,
) -> Result<crate::pki::Kubeconfig> {
    let (cluster, role) = cluster_for(store, actor, cluster_id, Action::View).await?;
    let hours = validity_hours.unwrap_or(crate::pki::DEFAULT_VALIDITY_HOURS);
    crate::pki::check_validity(hours)?;
    let address = match &cluster.api_address {
        Some(a) if cluster.status.serves_api() => a.clone(),
        _ => {
            return Err(Error::Conflict(format!(
                "The cluster is {}; its API endpoint serves kubeconfigs once it is ACTIVE.",
                cluster.status
            )))
        }
    };
    let group = crate::pki::role_group(role);
    let issued = crate::pki::issue_kubeconfig(
        store,
        key,
        &crate::pki::IssueRequest {
            cluster_id: &cluster.id,
            cluster_name: &cluster.name,
            user_id: &actor.user_id,
            user: &actor.email,
            group,
            server_url: &format!("https://{address}"),
            validity_hours: hours,
        },
    )
    .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(&cluster.project_id),
        "kubeconfig.issue",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!(
            "serial {} group {group} expires {} (CA generation {})",
            issued.serial,
            crate::pki::rfc3339(issued.not_after),
            issued.ca_generation
        ),
    )
    .await?;
    Ok(issued)
}

/// Replaces the cluster's CA: every kubeconfig issued so far stops working and its
/// holders must download a new one. Audit-logged.
pub async fn rotate_ca(
    store: &Store,
    engine: &Engine,
    key: &crate::pki::SecretKey,
    actor: &Actor,
    cluster_id: &str,
) -> Result<(crate::pki::Rotation, OperationRow)> {
    let (cluster, _) = cluster_to_change(store, engine, actor, cluster_id).await?;
    if !cluster.status.accepts_changes() {
        return Err(Error::Conflict(format!(
            "The cluster is {}; rotate its CA once it is ACTIVE.",
            cluster.status
        )));
    }
    let image = versions::image_of(store, &cluster.kubernetes_version).await?;
    let rotation = crate::pki::ca_rotate(store, key, &cluster.id).await?;
    // Every server boots again with certificates of the new CA.
    let operation = submit_marked(
        store,
        engine,
        &cluster,
        ClusterStatus::Updating,
        NewOperation {
            project_id: cluster.project_id.clone(),
            kind: rotate::ROTATE_CA.into(),
            target_id: cluster.id.clone(),
            requested_by: actor.user_id.clone(),
            spec: saga::stored(&saga::RotateParams {
                cluster_id: cluster.id.clone().into(),
                image,
            })?,
        },
    )
    .await?;
    crate::accounts::audit(
        store,
        actor,
        Some(&cluster.project_id),
        "cluster.rotate_ca",
        &cluster.name,
        crate::domain::Outcome::Success,
        &format!(
            "CA generation {} replaced {}; {} kubeconfig(s) must be downloaded again; operation {}",
            rotation.ca.generation,
            rotation
                .retired_generation
                .map_or("none".to_string(), |g| g.to_string()),
            rotation.invalidated_kubeconfigs,
            operation.id
        ),
    )
    .await?;
    Ok((rotation, operation))
}

/// One page of a project's clusters, in a project whose membership the caller has just
/// read (the console's current project): no query for the check.
pub async fn search_in(
    store: &Store,
    actor: &Actor,
    project: &crate::domain::ProjectWithRole,
    filter: &ClusterFilter,
) -> Result<(Vec<ClusterSummary>, i64)> {
    crate::authz::authorize_member(actor, project, Action::View)?;
    store.cluster_search(&project.project.id, filter).await
}
