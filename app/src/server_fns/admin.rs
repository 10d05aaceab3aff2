//! Server functions of the admin dashboard (admins only; the core checks): accounts
//! and sign-up, the audit log, clusters and operations of every project, capacity, the
//! offer (versions, flavors) and quotas.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::{convert, lookup};
use crate::dto::*;
use crate::error::AppError;

/// The sign-up policy and every account (admins).
#[server(endpoint = "admin_users")]
pub async fn get_admin_users() -> Result<AdminUsers, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::require_admin(&actor)?;
        let store = state()?.store.clone();
        let users = store.user_list(500, 0).await?;
        Ok(AdminUsers {
            signup_open: provision::accounts::signup_open(&store).await?,
            project_limit: provision::projects::project_limit(&store).await?,
            users: users.iter().map(convert::user).collect(),
        })
    })
    .await
}

/// The audit log filtered as asked (a bad filter is reported and the newest entries
/// are shown instead), with the filter's choices (admins).
#[server(endpoint = "admin_audit")]
pub async fn get_admin_audit(
    #[server(default)] filter: AuditFilterDto,
) -> Result<AdminAudit, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::require_admin(&actor)?;
        let store = state()?.store.clone();
        let query = provision::accounts::AuditQuery {
            actor: filter.actor.clone(),
            project: filter.project.clone(),
            action: filter.action.clone(),
            outcome: filter.outcome.clone(),
            since: filter.since.clone(),
            until: filter.until.clone(),
            limit: Some(100),
        };
        let (audit, audit_error) =
            match provision::accounts::audit_search(&store, &actor, &query).await {
                Ok(a) => (a, None),
                Err(e @ provision::Error::Invalid { .. }) => {
                    let newest = provision::accounts::AuditQuery::default();
                    (
                        provision::accounts::audit_search(&store, &actor, &newest).await?,
                        Some(e.to_string()),
                    )
                }
                Err(e) => return Err(e.into()),
            };
        let (projects, audit_actions) =
            provision::admin::audit_choices(&store, &actor, 1000).await?;
        let emails = store.user_list(500, 0).await?;
        Ok(AdminAudit {
            audit: audit.iter().map(convert::audit).collect(),
            audit_filter: filter,
            audit_error,
            audit_actions,
            projects,
            emails: emails.into_iter().map(|u| u.email).collect(),
        })
    })
    .await
}

#[server(endpoint = "admin_signup")]
pub async fn admin_set_signup(open: bool) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::set_signup_open(&state()?.store, &actor, open).await?;
        Ok(())
    })
    .await
}

/// Sets how many projects a user may own (admins).
#[server(endpoint = "admin_project_limit")]
pub async fn admin_set_project_limit(limit: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let limit = limit.trim().parse::<i64>().map_err(|_| {
            AppError::from(provision::Error::invalid("limit", "Enter a whole number."))
        })?;
        provision::projects::set_project_limit(&state()?.store, &actor, limit).await?;
        Ok(())
    })
    .await
}

#[server(endpoint = "admin_user")]
pub async fn admin_update_user(user_id: String, change: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::projects::admin_update_user(&state()?.store, &actor, &user_id, &change).await?;
        Ok(())
    })
    .await
}

/// The admin's overview: clusters and operations at a glance, the cloud's capacity,
/// and the operations that are running, failed or stuck.
#[server(endpoint = "admin_overview")]
pub async fn get_admin_overview() -> Result<AdminOverview, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        use provision::ops::OpState;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::require_admin(&actor)?;
        let st = state()?;
        let overview = provision::admin::overview(&st.store, &actor).await?;
        let capacity = provision::admin::capacity(st.cloud.as_ref(), &actor).await?;
        let operations = provision::operations::list_all(
            &st.store,
            &actor,
            &[
                OpState::Pending,
                OpState::Running,
                OpState::Unwinding,
                OpState::Failed,
                OpState::Stuck,
            ],
        )
        .await?;
        Ok(AdminOverview {
            clusters_by_status: overview.clusters_by_status,
            operations_24h: overview.operations_24h,
            hosts: capacity
                .hosts
                .iter()
                .map(|h| HostDto {
                    name: h.name.clone(),
                    vcpus_used: h.vcpus_used,
                    vcpus: h.vcpus,
                    ram_used_mib: h.ram_used_mib,
                    ram_mib: h.ram_mib,
                })
                .collect(),
            load_balancers: capacity.load_balancers,
            volumes: capacity.volumes,
            volume_gib: capacity.volume_gib,
            cloud_error: capacity.error,
            operations: operations
                .iter()
                .rev()
                .take(100)
                .map(|o| AdminOperationDto {
                    id: o.id.clone(),
                    kind: o.kind.clone(),
                    state: o.state.as_str().to_string(),
                    project_id: o.project_id.clone(),
                    target_id: o.target_id.clone(),
                    done: o.steps_done,
                    total: o.steps_total,
                    error: o.error.clone(),
                    created_at: o.created_at,
                })
                .collect(),
        })
    })
    .await
}

/// The clusters of every project (the newest 200), each with its project's name.
#[server(endpoint = "admin_clusters")]
pub async fn get_admin_clusters() -> Result<Vec<(ClusterRowDto, String)>, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::require_admin(&actor)?;
        let clusters = provision::admin::clusters(&state()?.store, &actor, 200).await?;
        Ok(clusters
            .iter()
            .map(|(c, p)| (convert::row(c, 0, String::new()), p.clone()))
            .collect())
    })
    .await
}

/// The Kubernetes versions and the cloud's flavors, each with whether it is on offer.
#[server(endpoint = "admin_offer")]
pub async fn get_admin_offer() -> Result<AdminOffer, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::require_admin(&actor)?;
        let st = state()?;
        let versions = provision::clusters::versions::list(&st.store, true).await?;
        // Without the cloud's flavors the versions still show, and the page says why the
        // flavors do not.
        let (flavors, cloud_error) = match lookup::flavors(&st).await {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let offers = provision::clusters::flavors::list(&st.store, &flavors).await?;
        Ok(AdminOffer {
            cloud_error,
            versions: versions
                .into_iter()
                .map(|v| VersionDto {
                    version: v.version,
                    image: v.image,
                    enabled: v.enabled,
                })
                .collect(),
            flavors: offers.into_iter().map(convert::flavor).collect(),
        })
    })
    .await
}

/// Every project's quota beside what it uses.
#[server(endpoint = "admin_quota_table")]
pub async fn get_admin_quotas() -> Result<Vec<ProjectQuotaDto>, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::require_admin(&actor)?;
        let st = state()?;
        // The cloud's flavors size the usage; without them the usage of vCPUs and RAM
        // reads 0 and the limits can still be set.
        let flavors = lookup::flavors(&st).await.unwrap_or_default();
        let quotas = provision::admin::project_quotas(&st.store, &actor, &flavors, 500).await?;
        let q = |q: &provision::quotas::Quota| QuotaDto {
            clusters: q.clusters,
            vcpus: q.vcpus,
            ram_mib: q.ram_mib,
            volume_gib: q.volume_gib,
            load_balancers: q.load_balancers,
        };
        let u = |u: &provision::quotas::Usage| QuotaDto {
            clusters: u.clusters,
            vcpus: u.vcpus,
            ram_mib: u.ram_mib,
            volume_gib: u.volume_gib,
            load_balancers: u.load_balancers,
        };
        Ok(quotas
            .iter()
            .map(|p| ProjectQuotaDto {
                project_id: p.project_id.clone(),
                name: p.name.clone(),
                personal_of: p.personal_of.clone(),
                quota: q(&p.quota),
                usage: u(&p.usage),
            })
            .collect())
    })
    .await
}

/// Offers a flavor or stops offering it (admins).
#[server(endpoint = "admin_flavor")]
pub async fn admin_flavor(name: String, enabled: bool) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        provision::clusters::flavors::set(&st.store, st.cloud.as_ref(), &actor, &name, enabled)
            .await?;
        Ok(())
    })
    .await
}

/// Sets a project's quota (admins), then back to the quotas card.
#[server(endpoint = "admin_quota")]
pub async fn admin_quota(
    project_id: String,
    clusters: String,
    vcpus: String,
    ram_mib: String,
    volume_gib: String,
    load_balancers: String,
) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let limit = |field: &'static str, label: &str, v: &str| -> Result<i64, AppError> {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    provision::Error::invalid(
                        field,
                        format!("{label} must be a whole number, 0 or more."),
                    )
                    .into()
                })
        };
        let quota = provision::quotas::Quota {
            clusters: limit("clusters", "Clusters", &clusters)?,
            vcpus: limit("vcpus", "vCPUs", &vcpus)?,
            ram_mib: limit("ram_mib", "RAM", &ram_mib)?,
            volume_gib: limit("volume_gib", "Volume GiB", &volume_gib)?,
            load_balancers: limit("load_balancers", "Load balancers", &load_balancers)?,
        };
        provision::admin::set_quota(&state()?.store, &actor, &project_id, &quota).await?;
        leptos_axum::redirect("/admin/quotas?saved=quota");
        Ok(())
    })
    .await
}

/// Retries or aborts any project's operation (admins; `action` = retry or abort).
#[server(endpoint = "admin_operation")]
pub async fn admin_operation(operation: String, action: String) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        provision::accounts::require_admin(&actor)?;
        let st = state()?;
        match action.as_str() {
            "retry" => st.operation_retry(&actor, &operation).await?,
            "abort" => st.operation_abort(&actor, &operation).await?,
            _ => return Err(provision::Error::invalid("action", "Retry or abort.").into()),
        };
        Ok(())
    })
    .await
}

/// Offers a Kubernetes version or stops offering it (admins).
#[server(endpoint = "admin_version")]
pub async fn admin_version(version: String, enabled: bool) -> Result<(), AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let st = state()?;
        provision::clusters::versions::set(
            &st.store,
            st.cloud.as_ref(),
            &actor,
            &version,
            enabled,
            None,
        )
        .await?;
        Ok(())
    })
    .await
}
