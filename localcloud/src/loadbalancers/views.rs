//! Octavia's response bodies: each object in its published shape, with statuses
//! derived from its pending state and what the data plane reports.

use std::net::Ipv4Addr;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::Cloud;

use super::state::*;

/// Octavia's time format: seconds, no zone.
pub(super) fn octavia_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

// ---- bodies -----------------------------------------------------------------------

pub(super) fn common_fields(c: &Common, now: OffsetDateTime) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(c.id));
    m.insert("name".into(), json!(c.name));
    m.insert("description".into(), json!(c.description));
    m.insert("project_id".into(), json!(c.project_id));
    m.insert("tenant_id".into(), json!(c.project_id));
    m.insert("admin_state_up".into(), json!(c.admin_state_up));
    m.insert("tags".into(), json!(c.tags));
    m.insert("created_at".into(), json!(octavia_time(c.created)));
    m.insert("updated_at".into(), json!(octavia_time(c.updated)));
    m.insert(
        "provisioning_status".into(),
        json!(provisioning(&c.busy, now)),
    );
    m
}

pub(super) fn with(mut m: serde_json::Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

/// Why the gate ([`crate::egress`]) will not dial a member (its address or its
/// monitor address), if it will not: such a member is ERROR, whatever else holds.
pub(super) fn member_refused(cloud: &Cloud, m: &Member) -> Option<crate::egress::Refused> {
    let at = |ip: Ipv4Addr, port: u16| cloud.network.may_dial((ip, port).into()).err();
    at(m.address, m.protocol_port).or_else(|| {
        at(
            m.monitor_address.unwrap_or(m.address),
            m.monitor_port.unwrap_or(m.protocol_port),
        )
    })
}

/// Operating status of a member: from its health monitor's probes when the pool has one.
pub(super) fn member_operating(cloud: &Cloud, st: &LbState, m: &Member) -> &'static str {
    if !m.c.admin_state_up {
        return "OFFLINE";
    }
    if member_refused(cloud, m).is_some() {
        return "ERROR";
    }
    if st.monitor_of(&m.pool_id).is_none() {
        return "NO_MONITOR";
    }
    cloud.lbnet.health(&m.c.id)
}

pub(super) fn pool_operating(cloud: &Cloud, st: &LbState, pool_id: &str) -> &'static str {
    let states: Vec<&str> = st
        .members_of(pool_id)
        .filter(|m| m.c.admin_state_up)
        .map(|m| member_operating(cloud, st, m))
        .collect();
    let down = states.iter().filter(|s| **s == "ERROR").count();
    if states.is_empty() || down == 0 {
        "ONLINE"
    } else if down == states.len() {
        "ERROR"
    } else {
        "DEGRADED"
    }
}

pub(super) fn listener_operating(
    cloud: &Cloud,
    st: &LbState,
    l: &Listener,
    now: OffsetDateTime,
) -> &'static str {
    if !l.c.admin_state_up || provisioning(&l.c.busy, now) == "PENDING_CREATE" {
        return "OFFLINE";
    }
    if cloud.lbnet.bind_error(&l.c.id).is_some() {
        return "ERROR";
    }
    match &l.default_pool_id {
        Some(p) => match pool_operating(cloud, st, p) {
            "ERROR" | "DEGRADED" => "DEGRADED",
            _ => "ONLINE",
        },
        None => "ONLINE",
    }
}

pub(super) fn lb_operating(
    cloud: &Cloud,
    st: &LbState,
    lb: &LoadBalancer,
    now: OffsetDateTime,
) -> &'static str {
    let p = provisioning(&lb.c.busy, now);
    if !lb.c.admin_state_up || p == "PENDING_CREATE" || p == "PENDING_DELETE" {
        return "OFFLINE";
    }
    let degraded = st
        .listeners
        .values()
        .filter(|l| l.loadbalancer_id == lb.c.id)
        .any(|l| matches!(listener_operating(cloud, st, l, now), "DEGRADED" | "ERROR"));
    if degraded {
        "DEGRADED"
    } else {
        "ONLINE"
    }
}

pub(super) fn lb_body(
    cloud: &Cloud,
    st: &LbState,
    lb: &LoadBalancer,
    now: OffsetDateTime,
) -> Value {
    let listeners: Vec<Value> = st
        .listeners
        .values()
        .filter(|l| l.loadbalancer_id == lb.c.id)
        .map(|l| json!({"id": l.c.id}))
        .collect();
    let pools: Vec<Value> = st
        .pools
        .values()
        .filter(|p| p.loadbalancer_id == lb.c.id)
        .map(|p| json!({"id": p.c.id}))
        .collect();
    with(
        common_fields(&lb.c, now),
        json!({
            "operating_status": lb_operating(cloud, st, lb, now),
            "vip_address": lb.vip_address.to_string(),
            "vip_subnet_id": lb.vip_subnet_id,
            "vip_network_id": lb.vip_network_id,
            "vip_port_id": lb.vip_port_id,
            "vip_qos_policy_id": null,
            "vip_vnic_type": "normal",
            "additional_vips": [],
            "provider": "amphora",
            "flavor_id": null,
            "availability_zone": null,
            "listeners": listeners,
            "pools": pools,
        }),
    )
}

pub(super) fn listener_body(
    cloud: &Cloud,
    st: &LbState,
    l: &Listener,
    now: OffsetDateTime,
) -> Value {
    with(
        common_fields(&l.c, now),
        json!({
            "operating_status": listener_operating(cloud, st, l, now),
            "protocol": l.protocol,
            "protocol_port": l.protocol_port,
            "connection_limit": l.connection_limit,
            "default_pool_id": l.default_pool_id,
            "loadbalancers": [{"id": l.loadbalancer_id}],
            "l7policies": [],
            "insert_headers": {},
            "default_tls_container_ref": null,
            "sni_container_refs": [],
            "timeout_client_data": 50000,
            "timeout_member_connect": 5000,
            "timeout_member_data": 50000,
            "timeout_tcp_inspect": 0,
            "client_ca_tls_container_ref": null,
            "client_authentication": "NONE",
            "client_crl_container_ref": null,
            "allowed_cidrs": null,
            "tls_ciphers": null,
            "tls_versions": null,
            "alpn_protocols": null,
            "hsts_include_subdomains": false,
            "hsts_max_age": null,
            "hsts_preload": false,
        }),
    )
}

pub(super) fn pool_body(cloud: &Cloud, st: &LbState, p: &Pool, now: OffsetDateTime) -> Value {
    let members: Vec<Value> = st
        .members_of(&p.c.id)
        .map(|m| json!({"id": m.c.id}))
        .collect();
    with(
        common_fields(&p.c, now),
        json!({
            "operating_status": pool_operating(cloud, st, &p.c.id),
            "protocol": p.protocol,
            "lb_algorithm": p.lb_algorithm,
            "loadbalancers": [{"id": p.loadbalancer_id}],
            "listeners": p.listener_id.iter().map(|l| json!({"id": l})).collect::<Vec<_>>(),
            "members": members,
            "healthmonitor_id": p.healthmonitor_id,
            "session_persistence": null,
            "tls_container_ref": null,
            "ca_tls_container_ref": null,
            "crl_container_ref": null,
            "tls_enabled": false,
            "tls_ciphers": null,
            "tls_versions": null,
            "alpn_protocols": null,
        }),
    )
}

/// A member in Octavia's shape; one localcloud never dials (state from an older
/// version, or a subnet deleted under it) also says why, in `operating_status_reason`.
pub(super) fn member_body(cloud: &Cloud, st: &LbState, m: &Member, now: OffsetDateTime) -> Value {
    let refused = member_refused(cloud, m).map(|r| format!("localcloud will not connect: {r}"));
    with(
        common_fields(&m.c, now),
        json!({
            "operating_status": member_operating(cloud, st, m),
            "operating_status_reason": refused,
            "address": m.address.to_string(),
            "protocol_port": m.protocol_port,
            "weight": m.weight,
            "backup": m.backup,
            "subnet_id": m.subnet_id,
            "monitor_address": m.monitor_address.map(|a| a.to_string()),
            "monitor_port": m.monitor_port,
            "vnic_type": "normal",
        }),
    )
}

pub(super) fn hm_body(h: &HealthMonitor, now: OffsetDateTime) -> Value {
    with(
        common_fields(&h.c, now),
        json!({
            "operating_status": if h.c.admin_state_up { "ONLINE" } else { "OFFLINE" },
            "type": h.kind,
            "delay": h.delay,
            "timeout": h.timeout,
            "max_retries": h.max_retries,
            "max_retries_down": h.max_retries_down,
            "pools": [{"id": h.pool_id}],
            "http_method": null,
            "url_path": null,
            "expected_codes": null,
            "http_version": null,
            "domain_name": null,
        }),
    )
}
