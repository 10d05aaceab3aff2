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
        status: c.status.clone(),
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
    }
}
