//! The admin dashboard's forms as the core's types: numbers parsed, each mistake named
//! after its field.

use provision::quotas::Quota;
use provision::Error;

/// A limit typed in a form: a whole number, 0 or more.
fn limit(field: &'static str, label: &str, v: &str) -> Result<i64, Error> {
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::invalid(field, format!("{label} must be a whole number, 0 or more.")))
}

/// A project's quota as typed in the quotas card, each limit checked in the form's
/// order.
pub fn quota(
    clusters: &str,
    vcpus: &str,
    ram_mib: &str,
    volume_gib: &str,
    load_balancers: &str,
) -> Result<Quota, Error> {
    Ok(Quota {
        clusters: limit("clusters", "Clusters", clusters)?,
        vcpus: limit("vcpus", "vCPUs", vcpus)?,
        ram_mib: limit("ram_mib", "RAM", ram_mib)?,
        volume_gib: limit("volume_gib", "Volume GiB", volume_gib)?,
        load_balancers: limit("load_balancers", "Load balancers", load_balancers)?,
    })
}

/// The project limit typed in the sign-up card: a whole number.
pub fn project_limit(v: &str) -> Result<i64, Error> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| Error::invalid("limit", "Enter a whole number."))
}

/// The audit log's filter as the form holds it, as the core's query (the newest 100).
pub fn audit_query(f: &crate::dto::AuditFilterDto) -> provision::accounts::AuditQuery {
    provision::accounts::AuditQuery {
        actor: f.actor.clone(),
        project: f.project.clone(),
        action: f.action.clone(),
        outcome: f.outcome.clone(),
        since: f.since.clone(),
        until: f.until.clone(),
        limit: Some(100),
    }
}
