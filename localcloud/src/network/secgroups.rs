//! Neutron's security group and rule endpoints.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::errors::{ApiError, NEUTRON};
use crate::Cloud;

use super::errors::*;
use super::handling::*;
use super::state::*;

pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/v2.0/security-groups", get(group_list).post(group_create))
        .route(
            "/v2.0/security-groups/{id}",
            get(group_show).put(group_update).delete(group_delete),
        )
        .route(
            "/v2.0/security-group-rules",
            get(rule_list).post(rule_create),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(rule_show).delete(rule_delete),
        )
}

pub(crate) fn rule_body(st: &NetState, r: &Rule) -> Value {
    json!({
        "belongs_to_default_sg": st.groups.get(&r.security_group_id).is_some_and(is_default),
        "created_at": r.created,
        "description": r.description,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "id": r.id,
        "port_range_max": r.port_range_max,
        "port_range_min": r.port_range_min,
        "project_id": r.project_id,
        "protocol": r.protocol,
        "remote_address_group_id": null,
        "remote_group_id": r.remote_group_id,
        "remote_ip_prefix": r.remote_ip_prefix,
        "revision_number": 1,
        "security_group_id": r.security_group_id,
        "tags": [],
        "tenant_id": r.project_id,
        "updated_at": r.created,
    })
}

pub(crate) fn group_body(st: &NetState, g: &SecurityGroup) -> Value {
    json!({
        "created_at": g.created,
        "description": g.description,
        "id": g.id,
        "name": g.name,
        "project_id": g.project_id,
        "revision_number": g.revision,
        "security_group_rules": st
            .rules
            .values()
            .filter(|r| r.security_group_id == g.id)
            .map(|r| rule_body(st, r))
            .collect::<Vec<_>>(),
        "shared": false,
        "stateful": g.stateful,
        "tags": g.tags,
        "tenant_id": g.project_id,
        "updated_at": g.updated,
    })
}

#[derive(Deserialize)]
pub(crate) struct GroupCreate {
    name: Option<String>,
    description: Option<String>,
    stateful: Option<bool>,
    tags: Option<Vec<String>>,
    project_id: Option<String>,
    tenant_id: Option<String>,
}

pub(crate) async fn group_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = who(&cloud, &headers)?;
    let r: GroupCreate = parse(&body, "security_group")?;
    let name = r.name.unwrap_or_default();
    let description = r.description.unwrap_or_default();
    check_name("name", &name)?;
    check_name("description", &description)?;
    if name == "default" {
        return Err(conflict(
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let tags = dedup(r.tags.unwrap_or_default());
    check_tags(&tags)?;
    let asked = r.project_id.or(r.tenant_id);
    let project = match asked {
        Some(p) if p != who.project && !who.admin => {
            return Err(NEUTRON
                .err(
                    StatusCode::FORBIDDEN,
                    "Only admins may create objects in another project.",
                )
                .kind("PolicyNotAuthorized"))
        }
        Some(p) if !p.is_empty() => p,
        _ => who.project.clone(),
    };
    let t = now();
    let g = SecurityGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        project_id: project.clone(),
        stateful: r.stateful.unwrap_or(true),
        tags,
        created: t.clone(),
        updated: t,
        revision: 1,
    };
    let id = g.id.clone();
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        ensure_default(&mut st, &project);
        insert_group(&mut st, g, false);
        let body = group_body(&st, &st.groups[&id]);
        (body, st.changed())
    };
    save(&cloud, snap).await;
    Ok((StatusCode::CREATED, Json(json!({ "security_group": body }))).into_response())
}

pub(crate) async fn group_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let (items, snap) = {
        let mut st = cloud.network.lock()?;
        let had = st.groups.len();
        ensure_default(&mut st, &who.project);
        let snap = (st.groups.len() != had).then(|| st.changed());
        let items: Vec<Value> = st
            .groups
            .values()
            .filter(|g| who.owns(&g.project_id))
            .map(|g| group_body(&st, g))
            .collect();
        (items, snap)
    };
    if let Some(snap) = snap {
        save(&cloud, snap).await;
    }
    filtered(items, &parse_query(raw), "security_groups")
}

pub(crate) fn visible<'a>(
    st: &'a NetState,
    who: &Who,
    id: &str,
) -> Result<&'a SecurityGroup, ApiError> {
    st.groups
        .get(id)
        .filter(|g| who.owns(&g.project_id))
        .ok_or_else(|| not_found("SecurityGroupNotFound", "Security group", id))
}

pub(crate) async fn group_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let g = visible(&st, &who, &id)?;
    Ok(Json(json!({"security_group": group_body(&st, g)})))
}

pub(crate) async fn group_update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let u: Update = parse(&body, "security_group")?;
    u.check()?;
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        let g = visible(&st, &who, &id)?;
        if is_default(g) && u.name.as_ref().is_some_and(|n| n != "default") {
            return Err(conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        if !is_default(g) && u.name.as_deref() == Some("default") {
            return Err(conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        let g = st.groups.get_mut(&id).expect("seen above");
        apply(
            u,
            &mut g.name,
            &mut g.description,
            &mut g.tags,
            &mut g.revision,
            &mut g.updated,
        );
        let g = g.clone();
        (group_body(&st, &g), st.changed())
    };
    save(&cloud, snap).await;
    Ok(Json(json!({ "security_group": body })))
}

/// Deletes a group with its rules (and rules elsewhere that name it as their remote
/// group), unless a port uses it (409 `SecurityGroupInUse`). A project's `default`
/// group is only removed by an admin.
pub(crate) async fn group_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = who(&cloud, &headers)?;
    let snap = {
        let mut st = cloud.network.lock()?;
        let g = visible(&st, &who, &id)?;
        if is_default(g) && !who.admin {
            return Err(conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        if st.ports.values().any(|p| p.security_groups.contains(&id)) {
            return Err(conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        st.groups.remove(&id);
        st.rules.retain(|_, r| {
            r.security_group_id != id && r.remote_group_id.as_deref() != Some(id.as_str())
        });
        st.changed()
    };
    save(&cloud, snap).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- rules ------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct RuleCreate {
    security_group_id: Option<String>,
    direction: Option<String>,
    ethertype: Option<String>,
    protocol: Option<Value>,
    port_range_min: Option<Value>,
    port_range_max: Option<Value>,
    remote_ip_prefix: Option<String>,
    remote_group_id: Option<String>,
    remote_address_group_id: Option<String>,
    description: Option<String>,
}

/// A port number given as a number or a numeric string (clients send both).
pub(crate) fn port_number(field: &str, v: &Option<Value>) -> Result<Option<u32>, ApiError> {
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            invalid(format!(
                "Invalid input for {field}: {} is not a port number.",
                v.as_ref().unwrap_or(&Value::Null)
            ))
        })
}

/// A CIDR of `ethertype`, with host bits cleared as Neutron does; a bare address is a
/// /32 (or /128).
pub(crate) fn normalize_prefix(prefix: &str, ethertype: &str) -> Result<String, ApiError> {
    let bad_prefix = || {
        invalid(format!(
            "Invalid input for remote_ip_prefix: '{prefix}' is not a valid {ethertype} CIDR."
        ))
    };
    let (ip, len) = match prefix.split_once('/') {
        Some((ip, len)) => (ip, Some(len.parse::<u8>().map_err(|_| bad_prefix())?)),
        None => (prefix, None),
    };
    match ethertype {
        "IPv4" => {
            let ip: Ipv4Addr = ip.parse().map_err(|_| bad_prefix())?;
            let len = len.unwrap_or(32);
            if len > 32 {
                return Err(bad_prefix());
            }
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Ok(format!("{}/{len}", Ipv4Addr::from(u32::from(ip) & mask)))
        }
        _ => {
            let ip: Ipv6Addr = ip.parse().map_err(|_| bad_prefix())?;
            let len = len.unwrap_or(128);
            if len > 128 {
                return Err(bad_prefix());
            }
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            Ok(format!("{}/{len}", Ipv6Addr::from(u128::from(ip) & mask)))
        }
    }
}

/// Checks a rule request as Neutron does and builds the rule (not inserted yet).
pub(crate) fn new_rule(st: &NetState, who: &Who, r: RuleCreate) -> Result<Rule, ApiError> {
    let gid = r
        .security_group_id
        .ok_or_else(|| invalid("Invalid input: security_group_id is required."))?;
    let group = visible(st, who, &gid)?;
    let direction = match r.direction.as_deref() {
        Some(d @ ("ingress" | "egress")) => d.to_string(),
        other => {
            return Err(invalid(format!(
                "Invalid input for direction. Reason: {other:?} is not in [ingress, egress]."
            )))
        }
    };
    let ethertype = match r.ethertype.as_deref() {
        None => "IPv4".to_string(),
        Some(e) if e.eq_ignore_ascii_case("ipv4") => "IPv4".to_string(),
        Some(e) if e.eq_ignore_ascii_case("ipv6") => "IPv6".to_string(),
        Some(e) => {
            return Err(invalid(format!(
                "Invalid input for ethertype. Reason: '{e}' is not in [IPv4, IPv6]."
            )))
        }
    };
    let protocol = match &r.protocol {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.eq_ignore_ascii_case("any") => None,
        Some(Value::String(p))
            if ["tcp", "udp", "icmp"].contains(&p.to_ascii_lowercase().as_str()) =>
        {
            Some(p.to_ascii_lowercase())
        }
        Some(p) => {
            return Err(NEUTRON.bad(format!(
                "Security group rule protocol {p} not supported. Only protocol values [None, tcp, udp, icmp] are supported."
            ))
            .kind("SecurityGroupRuleInvalidProtocol"))
        }
    };
    let mut min = port_number("port_range_min", &r.port_range_min)?;
    let mut max = port_number("port_range_max", &r.port_range_max)?;
    let range_err = |m: String| NEUTRON.bad(m).kind("SecurityGroupInvalidPortRange");
    match protocol.as_deref() {
        None if min.is_some() || max.is_some() => {
            return Err(NEUTRON
                .bad("Must also specify protocol if port range is given.")
                .kind("SecurityGroupProtocolRequiredWithPorts"))
        }
        None => {}
        Some("tcp" | "udp") => {
            if min.is_none() && max.is_some() {
                return Err(range_err(
                    "port_range_min must be given with port_range_max.".into(),
                ));
            }
            if min.is_some() && max.is_none() {
                max = min;
            }
            if let (Some(lo), Some(hi)) = (min, max) {
                if !(1..=65535).contains(&lo) || !(1..=65535).contains(&hi) {
                    return Err(range_err(format!(
                        "Invalid value for port {}: ports must be 1 to 65535.",
                        if (1..=65535).contains(&lo) { hi } else { lo }
                    )));
                }
                if lo > hi {
                    return Err(range_err(
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max".into(),
                    ));
                }
            }
        }
        Some(_) => {
            // ICMP: the "ports" are the type and code.
            if min.is_none() && max.is_some() {
                return Err(NEUTRON.bad("ICMP code (port-range-max) is provided but ICMP type (port-range-min) is missing.")
                    .kind("SecurityGroupMissingIcmpType"));
            }
            for (field, v) in [("type", min), ("code", max)] {
                if v.is_some_and(|v| v > 255) {
                    return Err(range_err(format!(
                        "Invalid value for ICMP {field}: it must be 0 to 255."
                    )));
                }
            }
            if min.is_none() {
                (min, max) = (None, None);
            }
        }
    }
    if r.remote_address_group_id.is_some() {
        return Err(invalid("remote_address_group_id is not supported here."));
    }
    if r.remote_ip_prefix.is_some() && r.remote_group_id.is_some() {
        return Err(NEUTRON
            .bad("Only remote_ip_prefix or remote_group_id may be provided.")
            .kind("SecurityGroupRemoteGroupAndRemoteIpPrefix"));
    }
    let remote_ip_prefix = r
        .remote_ip_prefix
        .as_deref()
        .map(|p| normalize_prefix(p, &ethertype))
        .transpose()?;
    if let Some(rg) = &r.remote_group_id {
        visible(st, who, rg)?;
    }
    let description = r.description.unwrap_or_default();
    check_name("description", &description)?;
    let rule = Rule {
        id: uuid::Uuid::new_v4().to_string(),
        security_group_id: gid,
        project_id: group.project_id.clone(),
        direction,
        ethertype,
        protocol,
        port_range_min: min,
        port_range_max: max,
        remote_ip_prefix,
        remote_group_id: r.remote_group_id,
        description,
        created: now(),
    };
    if let Some(same) = st.rules.values().find(|x| x.key() == rule.key()) {
        return Err(conflict(
            "SecurityGroupRuleExists",
            format!(
                "Security group rule already exists. Rule id is {}.",
                same.id
            ),
        ));
    }
    Ok(rule)
}

pub(crate) async fn rule_create(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = who(&cloud, &headers)?;
    let r: RuleCreate = parse(&body, "security_group_rule")?;
    let (body, snap) = {
        let mut st = cloud.network.lock()?;
        let rule = new_rule(&st, &who, r)?;
        let body = rule_body(&st, &rule);
        st.rules.insert(rule.id.clone(), rule);
        (body, st.changed())
    };
    save(&cloud, snap).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "security_group_rule": body })),
    )
        .into_response())
}

pub(crate) async fn rule_list(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let items = st
        .rules
        .values()
        .filter(|r| who.owns(&r.project_id))
        .map(|r| rule_body(&st, r))
        .collect();
    filtered(items, &parse_query(raw), "security_group_rules")
}

pub(crate) fn visible_rule<'a>(
    st: &'a NetState,
    who: &Who,
    id: &str,
) -> Result<&'a Rule, ApiError> {
    st.rules
        .get(id)
        .filter(|r| who.owns(&r.project_id))
        .ok_or_else(|| not_found("SecurityGroupRuleNotFound", "Security group rule", id))
}

pub(crate) async fn rule_show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = who(&cloud, &headers)?;
    let st = cloud.network.lock()?;
    let r = visible_rule(&st, &who, &id)?;
    Ok(Json(json!({"security_group_rule": rule_body(&st, r)})))
}

pub(crate) async fn rule_delete(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = who(&cloud, &headers)?;
    let snap = {
        let mut st = cloud.network.lock()?;
        visible_rule(&st, &who, &id)?;
        st.rules.remove(&id);
        st.changed()
    };
    save(&cloud, snap).await;
    Ok(StatusCode::NO_CONTENT)
}
