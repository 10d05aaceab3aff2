//! Nova's response bodies: servers, flavors, server groups and volume attachments in
//! their published shapes, with their links.

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::{format_time, Cloud};

use super::state::*;

pub(crate) fn links(cloud: &Cloud, kind: &str, id: &str) -> Value {
    json!([
        {"href": format!("{}/compute/v2.1/{kind}/{id}", cloud.base_url), "rel": "self"},
        {"href": format!("{}/compute/{kind}/{id}", cloud.base_url), "rel": "bookmark"},
    ])
}

pub(crate) fn server_json(cloud: &Cloud, s: &Server) -> Value {
    server_body(cloud, s, OffsetDateTime::now_utc())
}

pub(crate) fn server_body(cloud: &Cloud, s: &Server, now: OffsetDateTime) -> Value {
    let status = s.status(now);
    let fault = s
        .fault
        .as_deref()
        .or_else(|| (status == "ERROR").then_some(INJECTED_FAULT))
        .map(|m| json!({"code": 500, "created": format_time(s.created), "message": m}));
    let mut body = json!({
        "accessIPv4": "",
        "accessIPv6": "",
        "addresses": addresses(cloud, s),
        "created": format_time(s.created),
        "description": null,
        "locked": false,
        "locked_reason": null,
        "flavor": {
            "disk": s.flavor.disk_gib,
            "ephemeral": 0,
            "extra_specs": {},
            "original_name": s.flavor.name,
            "ram": s.flavor.ram_mib,
            "swap": 0,
            "vcpus": s.flavor.vcpus,
        },
        "hostId": s.host.as_ref().map(|h| format!("{:x}", fxhash(&format!("{}{}", s.project_id, h)))).unwrap_or_default(),
        "OS-EXT-SRV-ATTR:host": s.host,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host,
        "id": s.id,
        "image": if s.image_id.is_empty() { json!("") } else { json!({"id": s.image_id, "links": links(cloud, "images", &s.image_id), "properties": {}}) },
        "key_name": null,
        "links": links(cloud, "servers", &s.id),
        "metadata": s.metadata,
        "name": s.name,
        "config_drive": "",
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": "nova",
        "OS-EXT-SRV-ATTR:hostname": s.name,
        "OS-EXT-STS:power_state": match status { "ACTIVE" => 1, "SHUTOFF" => 4, _ => 0 },
        "OS-EXT-STS:task_state": match status { "BUILD" => json!("spawning"), "REBUILD" => json!("rebuild_spawning"), _ => Value::Null },
        "OS-EXT-STS:vm_state": match status { "ACTIVE" => "active", "ERROR" => "error", "SHUTOFF" => "stopped", _ => "building" },
        "os-extended-volumes:volumes_attached": cloud
            .volumes
            .attached_to(&s.id)
            .iter()
            .map(|(id, _)| json!({"id": id, "delete_on_termination": false}))
            .collect::<Vec<_>>(),
        "OS-SRV-USG:launched_at": if status == "ACTIVE" { json!(format_time(s.active_at)) } else { Value::Null },
        "OS-SRV-USG:terminated_at": null,
        "pinned_availability_zone": null,
        "progress": if status == "ACTIVE" { 100 } else { 0 },
        "scheduler_hints": match &s.group { Some(g) => json!({"group": g}), None => json!({}) },
        "security_groups": [{"name": "default"}],
        "server_groups": s.group.iter().collect::<Vec<_>>(),
        "status": status,
        "tags": [],
        "tenant_id": s.project_id,
        "trusted_image_certificates": null,
        "updated": format_time(if status == "ACTIVE" { s.active_at } else { s.created }),
        "user_id": s.user_id,
    });
    if let (Some(f), Some(obj)) = (fault, body.as_object_mut()) {
        obj.insert("fault".into(), f);
    }
    body
}

/// A server's addresses from its ports, by network name.
pub(crate) fn addresses(cloud: &Cloud, s: &Server) -> Value {
    cloud.network.addresses(&s.id).unwrap_or_else(|| json!({}))
}

/// A stable 64-bit hash (FNV-1a) for `hostId`, which Nova derives from project and host.
pub(crate) fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

pub(crate) fn attachment_body(server_id: &str, volume_id: &str, device: &str) -> Value {
    json!({
        "delete_on_termination": false,
        "device": device,
        "id": volume_id,
        "serverId": server_id,
        "tag": null,
        "volumeId": volume_id,
    })
}

pub(crate) fn group_body(g: &ServerGroup) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "policy": g.policy.as_str(),
        "rules": {},
        "members": g.members,
        "project_id": g.project_id,
        "user_id": g.user_id,
    })
}
