//! Server functions of the admin dashboard (admins only; the core checks): accounts
//! and sign-up, the audit log, clusters and operations of every project, capacity, the
//! offer (versions, flavors) and quotas.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::{admin_forms, convert};
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
        let query = admin_forms::audit_query(&filter);
        let audit = state()?.admin_audit(&actor, &query).await?;
        Ok(convert::admin_audit(audit, filter))
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
        let limit = admin_forms::project_limit(&limit)?;
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
        let (actor, _, _) = require_actor().await?;
        let overview = state()?.admin_overview(&actor).await?;
        Ok(convert::admin_overview(overview))
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
        let offer = state()?.admin_offer(&actor).await?;
        Ok(convert::admin_offer(offer))
    })
    .await
}

/// Every project's quota beside what it uses.
#[server(endpoint = "admin_quota_table")]
pub async fn get_admin_quotas() -> Result<Vec<ProjectQuotaDto>, AppError> {
    crate::ssr::answer(async move {
        use crate::ssr::*;
        let (actor, _, _) = require_actor().await?;
        let quotas = state()?.admin_quotas(&actor).await?;
        Ok(quotas.iter().map(convert::project_quota).collect())
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
        let quota = admin_forms::quota(&clusters, &vcpus, &ram_mib, &volume_gib, &load_balancers)?;
        provision::admin::set_quota(&state()?.store, &actor, &project_id, &quota).await?;
        leptos_axum::redirect("/admin/quotas?saved=quota");
        Ok(())
    })
    .await
}

/// Retries or aborts any project's operation (admins; `action` = retry or abort).
#[server(endpoint = "admin_operation")]
pub async fn admin_operation(operation: OperationId, action: String) -> Result<(), AppError> {
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
