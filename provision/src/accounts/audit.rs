//! The audit log as accounts write and read it: one entry per actor's action, and the
//! filter typed in a form or a query string.

use super::require_admin;
use crate::domain::{Actor, AuditEntry, AuditFilter, NewAudit, Outcome};
use crate::{Error, Result, Store};

/// Writes one audit entry for an actor.
pub async fn audit(
    store: &Store,
    actor: &Actor,
    project_id: Option<&str>,
    action: &str,
    object: &str,
    outcome: Outcome,
    detail: &str,
) -> Result<()> {
    store
        .audit_insert(&NewAudit {
            actor_id: Some(&actor.user_id),
            actor_email: &actor.email,
            project_id,
            action,
            object,
            outcome,
            client_addr: &actor.client_addr,
            detail,
        })
        .await
}

/// The audit log's filter as typed in a form or a query string: empty fields are not
/// filters; times are UTC, `2026-11-29`, `2026-11-29T10:30` (a browser's
/// datetime-local), with seconds, or RFC 3339. A date alone as `until` means the end
/// of that day.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: String,
    pub project: String,
    pub action: String,
    pub outcome: String,
    pub since: String,
    pub until: String,
    pub limit: Option<i64>,
}

impl AuditQuery {
    pub fn filter(&self) -> Result<AuditFilter> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let outcome = text(&self.outcome);
        if let Some(o) = &outcome {
            if !["success", "failure", "denied"].contains(&o.as_str()) {
                return Err(Error::invalid(
                    "outcome",
                    "The outcome is success, failure or denied.",
                ));
            }
        }
        let since = parse_time("since", &self.since, false)?;
        let until = parse_time("until", &self.until, true)?;
        if let (Some(a), Some(b)) = (since, until) {
            if a > b {
                return Err(Error::invalid("until", "'Until' is before 'since'."));
            }
        }
        Ok(AuditFilter {
            actor_email: text(&self.actor).map(|a| a.to_lowercase()),
            project_id: text(&self.project),
            action: text(&self.action),
            outcome,
            since_ms: since,
            until_ms: until,
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
        })
    }
}

/// A UTC time in one of the shapes [`AuditQuery`] takes, as Unix milliseconds.
pub fn parse_time(field: &'static str, s: &str, end_of_day: bool) -> Result<Option<i64>> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{Date, OffsetDateTime, PrimitiveDateTime};
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bare = s.strip_suffix('Z').unwrap_or(s);
    let at = if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        Some(t)
    } else if let Ok(d) = Date::parse(bare, format_description!("[year]-[month]-[day]")) {
        let t = d.midnight().assume_utc();
        Some(if end_of_day {
            t + time::Duration::days(1) - time::Duration::milliseconds(1)
        } else {
            t
        })
    } else {
        PrimitiveDateTime::parse(
            bare,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .or_else(|_| {
            PrimitiveDateTime::parse(
                bare,
                format_description!("[year]-[month]-[day]T[hour]:[minute]"),
            )
        })
        .ok()
        .map(|t| t.assume_utc())
    };
    match at {
        Some(t) => Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as i64)),
        None => Err(Error::invalid(
            field,
            format!("'{s}' is not a time; write 2026-11-29 or 2026-11-29T10:30 (UTC)."),
        )),
    }
}

/// The audit log, newest first, filtered (admins only).
pub async fn audit_search(
    store: &Store,
    actor: &Actor,
    query: &AuditQuery,
) -> Result<Vec<AuditEntry>> {
    require_admin(actor)?;
    store.audit_list(&query.filter()?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_query_times() {
        let q = |since: &str, until: &str| AuditQuery {
            since: since.into(),
            until: until.into(),
            ..Default::default()
        };
        let f = q("2026-11-29", "2026-11-29").filter().unwrap();
        assert_eq!(f.since_ms, Some(1_795_910_400_000));
        assert_eq!(f.until_ms, Some(1_795_910_400_000 + 86_400_000 - 1));
        let f = q("2026-11-29T10:30", "2026-11-29T10:30:15Z")
            .filter()
            .unwrap();
        assert_eq!(f.since_ms, Some(1_795_910_400_000 + 37_800_000));
        assert_eq!(f.until_ms, Some(1_795_910_400_000 + 37_815_000));
        let f = q("2026-11-29T11:30:00+01:00", "").filter().unwrap();
        assert_eq!(f.since_ms, Some(1_795_910_400_000 + 37_800_000));
        assert!(q("yesterday", "").filter().is_err());
        assert!(q("2026-11-30", "2026-11-29").filter().is_err());
        let bad = AuditQuery {
            outcome: "maybe".into(),
            ..Default::default()
        };
        assert!(bad.filter().is_err());
        let f = AuditQuery {
            actor: " Alice@Example.com ".into(),
            ..Default::default()
        }
        .filter()
        .unwrap();
        assert_eq!(f.actor_email.as_deref(), Some("alice@example.com"));
        assert_eq!(f.project_id, None);
    }
}
