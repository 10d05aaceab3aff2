//! Wire types (DTOs) from the core's types: what the server functions answer with.
//! A plan comes with its report drawn (`components::report`), so the browser needs no
//! view of it.

use provision::domain::{AuditEntry, Member, ProjectWithRole, User};

use crate::dto::*;

pub fn user(u: &User) -> UserDto {
    UserDto {
        id: u.id.clone(),
        email: u.email.clone(),
        is_admin: u.is_admin,
        disabled: u.disabled,
        must_change_password: u.must_change_password,
        created_at: u.created_at,
    }
}

pub fn project(p: &ProjectWithRole) -> ProjectDto {
    ProjectDto {
        id: p.project.id.clone(),
        name: p.project.name.clone(),
        description: p.project.description.clone(),
        role: p.role.to_string(),
        personal: p.project.personal_of.is_some(),
    }
}

pub fn member(m: &Member) -> MemberDto {
    MemberDto {
        user_id: m.user_id.clone(),
        email: m.email.clone(),
        role: m.role.to_string(),
        created_at: m.created_at,
    }
}

pub fn invitation(i: &provision::invitations::Invitation) -> InvitationDto {
    InvitationDto {
        project_id: i.project_id.clone(),
        project_name: i.project_name.clone(),
        email: i.email.clone(),
        role: i.role.to_string(),
        expires_at: i.expires_at,
    }
}

pub fn audit(a: &AuditEntry) -> AuditDto {
    AuditDto {
        id: a.id,
        at: a.at,
        actor_email: a.actor_email.clone(),
        project_id: a.project_id.clone(),
        action: a.action.clone(),
        object: a.object.clone(),
        outcome: a.outcome.clone(),
        client_addr: a.client_addr.clone(),
        detail: a.detail.clone(),
    }
}

pub fn node_group(n: &provision::clusters::NodeGroup) -> NodeGroupDto {
    NodeGroupDto {
        name: n.name.clone(),
        flavor: n.flavor.clone(),
        node_count: n.node_count,
        min_node_count: n.min_node_count,
        max_node_count: n.max_node_count,
        autoscale: n.autoscale,
    }
}

/// A row of the clusters list.
pub fn list_row(s: provision::clusters::ClusterSummary) -> ClusterRowDto {
    ClusterRowDto {
        id: s.id,
        name: s.name,
        status: s.status,
        status_reason: s.status_reason,
        version: s.kubernetes_version,
        masters: s.master_count,
        nodes: s.nodes,
        created_at: s.created_at,
        created_by: s.created_by_email,
    }
}

pub fn row(c: &provision::clusters::Cluster, nodes: i64, created_by: String) -> ClusterRowDto {
    ClusterRowDto {
        id: c.id.clone(),
        name: c.name.clone(),
        status: c.status,
        status_reason: c.status_reason.clone(),
        version: c.kubernetes_version.clone(),
        masters: c.master_count,
        nodes,
        created_at: c.created_at,
        created_by,
    }
}

/// A plan from the core, its report drawn. `removal`: a deletion's plan.
pub fn plan(p: &provision::clusters::plan::Plan, removal: bool) -> PlanDto {
    let mut totals = Vec::new();
    for (key, label) in [
        ("servers", "servers"),
        ("vcpus", "vCPUs"),
        ("ram_mib", "RAM (MiB)"),
        ("volume_gib", "volume GiB"),
        ("load_balancers", "load balancers"),
    ] {
        if let Some(v) = p.totals.get(key) {
            totals.push((label.to_string(), v.to_string()));
        }
    }
    let quota_left = p
        .quota
        .as_ref()
        .map(|q| {
            let l = &q.left_after;
            vec![
                ("clusters".to_string(), l.clusters),
                ("vCPUs".to_string(), l.vcpus),
                ("RAM (MiB)".to_string(), l.ram_mib),
                ("volume GiB".to_string(), l.volume_gib),
                ("load balancers".to_string(), l.load_balancers),
            ]
        })
        .unwrap_or_default();
    let report = PlanReport {
        rows: p
            .resources
            .iter()
            .map(|x| PlanRow {
                action: x.action.to_string(),
                kind: x.kind.replace('_', " "),
                name: x.name.clone(),
                detail: x.detail.clone(),
            })
            .collect(),
        totals,
        fits: p.capacity.fits,
        quota_fits: p.quota.as_ref().is_some_and(|q| q.fits),
        quota_left,
        expected_seconds: p.expected_seconds.ceil() as u64,
        removal,
    };
    PlanDto {
        plan_id: p.plan_id.clone(),
        fits: report.fits,
        quota_fits: report.quota_fits,
        html: crate::components::report::plan_html(report),
    }
}

pub fn flavor(f: provision::clusters::flavors::FlavorOffer) -> FlavorDto {
    FlavorDto {
        name: f.name,
        vcpus: f.vcpus,
        ram_mib: f.ram_mib,
        enabled: f.enabled,
    }
}

/// A cluster's services and volumes page.
pub fn workloads(v: provision::clusters::WorkloadsView) -> ClusterWorkloads {
    ClusterWorkloads {
        id: v.cluster.id,
        name: v.cluster.name,
        status: v.cluster.status,
        status_reason: v.cluster.status_reason,
        services: v
            .services
            .iter()
            .map(|x| ServiceDto {
                name: x.name.clone(),
                ports: x
                    .ports
                    .iter()
                    .map(|p| format!("{}→{}", p.port, p.node_port.unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", "),
                status: x.status.clone(),
                status_reason: x.status_reason.clone(),
                vip: x.vip.clone(),
            })
            .collect(),
        persistent_volumes: v
            .persistent_volumes
            .iter()
            .map(|x| PersistentVolumeDto {
                name: x.name.clone(),
                size_gib: x.size_gib,
                status: x.status.clone(),
                status_reason: x.status_reason.clone(),
            })
            .collect(),
        can_edit: v.role.allows(provision::authz::Action::Mutate),
        busy: v.busy,
        api_error: v.api_error,
    }
}

/// The account's API tokens; `now` decides which have expired.
pub fn tokens_view(
    tokens: Vec<provision::tokens::ApiToken>,
    new_secret: Option<String>,
    now: i64,
) -> TokensView {
    TokensView {
        tokens: tokens
            .into_iter()
            .map(|t| TokenDto {
                expired: t.expired(now),
                id: t.id,
                name: t.name,
                created_at: t.created_at,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
                expires_at: t.expires_at,
                read_only: t.read_only,
            })
            .collect(),
        new_secret,
        default_lifetime_days: provision::tokens::DEFAULT_LIFETIME_DAYS,
    }
}

/// The admin's audit page, with the filter as typed.
pub fn admin_audit(
    a: provision::provisioner::admin::AdminAudit,
    filter: AuditFilterDto,
) -> AdminAudit {
    AdminAudit {
        audit: a.entries.iter().map(audit).collect(),
        audit_filter: filter,
        audit_error: a.filter_error,
        audit_actions: a.actions,
        projects: a.projects,
        emails: a.emails,
    }
}

/// The admin's overview; the operations newest first, at most 100.
pub fn admin_overview(o: provision::provisioner::admin::AdminOverview) -> AdminOverview {
    let capacity = o.capacity;
    AdminOverview {
        clusters_by_status: o.overview.clusters_by_status,
        operations_24h: o.overview.operations_24h,
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
        operations: o
            .operations
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
    }
}

/// The offer: versions and flavors, and why the cloud's flavors are missing (as the
/// error would be shown).
pub fn admin_offer(o: provision::provisioner::admin::AdminOffer) -> AdminOffer {
    AdminOffer {
        cloud_error: o
            .cloud_error
            .map(|e| crate::error::AppError::from(e).to_string()),
        versions: o
            .versions
            .into_iter()
            .map(|v| VersionDto {
                version: v.version,
                image: v.image,
                enabled: v.enabled,
            })
            .collect(),
        flavors: o.flavors.into_iter().map(flavor).collect(),
    }
}

/// One project's quota beside what it uses.
pub fn project_quota(p: &provision::admin::ProjectQuota) -> ProjectQuotaDto {
    let (q, u) = (&p.quota, &p.usage);
    ProjectQuotaDto {
        project_id: p.project_id.clone(),
        name: p.name.clone(),
        personal_of: p.personal_of.clone(),
        quota: QuotaDto {
            clusters: q.clusters,
            vcpus: q.vcpus,
            ram_mib: q.ram_mib,
            volume_gib: q.volume_gib,
            load_balancers: q.load_balancers,
        },
        usage: QuotaDto {
            clusters: u.clusters,
            vcpus: u.vcpus,
            ram_mib: u.ram_mib,
            volume_gib: u.volume_gib,
            load_balancers: u.load_balancers,
        },
    }
}

/// An operation's page: its steps, its newest 200 events (oldest first), whether the
/// caller may retry or abort it.
pub fn operation_detail(
    record: provision::provisioner::OperationRecord,
    is_admin: bool,
) -> OperationDetail {
    let provision::provisioner::OperationRecord {
        operation,
        steps,
        events,
        can_act,
    } = record;
    let op = &operation;
    let skip = events.len().saturating_sub(200);
    OperationDetail {
        operation: OperationDto {
            id: op.id.clone(),
            kind: op.kind.clone(),
            state: op.state.as_str().to_string(),
            done: op.steps_done,
            total: op.steps_total,
            current: steps
                .iter()
                .filter(|s| s.state.as_str() == "running")
                .map(|s| s.step.clone())
                .collect(),
            error: op.error.clone(),
            retryable: op.retryable.unwrap_or(false),
            created_at: op.created_at,
            finished: !op.state.unfinished(),
        },
        cluster_id: op.target_id.clone(),
        steps: steps
            .into_iter()
            .map(|s| StepDto {
                state: s.state.as_str().to_string(),
                step: s.step,
                attempts: s.attempts,
                error: s.error,
                started_at: s.started_at,
                finished_at: s.finished_at,
            })
            .collect(),
        events: events
            .into_iter()
            .skip(skip)
            .map(|e| EventDto {
                at: e.at,
                step: e.step,
                event: e.event,
                detail: e.detail,
            })
            .collect(),
        can_act,
        is_admin,
    }
}
