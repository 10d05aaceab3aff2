//! The core's specs from what a form posted: numbers parsed, text trimmed, each
//! mistake named after its field.

use provision::clusters::workloads::{ServicePort, ServiceSpec, VolumeRequest};
use provision::clusters::ClusterSpec;
use provision::Error;

use crate::dto::ClusterForm;

fn number(field: &'static str, label: &str, v: &str) -> Result<u32, Error> {
    v.trim()
        .parse()
        .map_err(|_| Error::invalid(field, format!("{label} must be a whole number.")))
}

/// A node count typed in a form.
pub fn count(v: &str) -> Result<u32, Error> {
    number("node_count", "The node count", v)
}

/// A node group's new count typed in a form, as a change.
pub fn scale(node_count: &str) -> Result<provision::clusters::NodeGroupChange, Error> {
    Ok(provision::clusters::NodeGroupChange {
        node_count: Some(count(node_count)?),
        ..Default::default()
    })
}

/// Autoscaling as the node group page's form posts it (`enabled` is `on` or `off`).
pub fn autoscaling(
    enabled: &str,
    min: &str,
    max: &str,
) -> Result<provision::clusters::Autoscaling, Error> {
    Ok(provision::clusters::Autoscaling {
        enabled: enabled.trim() == "on",
        min_node_count: Some(number("min_node_count", "The minimum", min)?),
        max_node_count: Some(number("max_node_count", "The maximum", max)?),
    })
}

/// The form as a spec, with the same rules as the API after it.
pub fn spec(f: &ClusterForm) -> Result<ClusterSpec, Error> {
    let endpoint = match f.api_endpoint.as_str() {
        "private" => provision::clusters::ApiEndpoint::Private,
        "public" | "" => provision::clusters::ApiEndpoint::Public,
        _ => {
            return Err(Error::invalid(
                "api_endpoint",
                "The API endpoint is public or private.",
            ))
        }
    };
    Ok(ClusterSpec {
        name: f.name.trim().to_string(),
        kubernetes_version: Some(f.kubernetes_version.trim().to_string()).filter(|v| !v.is_empty()),
        master_count: number("master_count", "The master count", &f.master_count)?,
        master_flavor: f.master_flavor.trim().to_string(),
        pod_cidr: f.pod_cidr.trim().to_string(),
        service_cidr: f.service_cidr.trim().to_string(),
        api_endpoint: endpoint,
        node_groups: vec![group(
            &f.ng_name,
            &f.ng_flavor,
            &f.ng_count,
            &f.ng_min,
            &f.ng_max,
        )?],
    })
}

/// A node group as typed in a form.
pub fn group(
    name: &str,
    flavor: &str,
    count: &str,
    min: &str,
    max: &str,
) -> Result<provision::clusters::NodeGroupSpec, Error> {
    Ok(provision::clusters::NodeGroupSpec {
        name: name.trim().to_string(),
        flavor: flavor.trim().to_string(),
        node_count: number("node_count", "The node count", count)?,
        min_node_count: Some(number("min_node_count", "The minimum", min)?),
        max_node_count: Some(number("max_node_count", "The maximum", max)?),
        boot_volume_gib: 20,
        labels: Default::default(),
        taints: Vec::new(),
    })
}

/// A service as typed in the form: one port, the node port picked when blank.
pub fn service(name: &str, port: &str, node_port: &str) -> Result<ServiceSpec, Error> {
    let port: u16 = port
        .trim()
        .parse()
        .map_err(|_| Error::invalid("ports", "The port is a number from 1 to 65535."))?;
    let node_port = match node_port.trim() {
        "" => None,
        n => Some(n.parse::<u16>().map_err(|_| {
            Error::invalid("ports", "The node port is a number from 30000 to 32767.")
        })?),
    };
    Ok(ServiceSpec {
        name: name.trim().to_string(),
        ports: vec![ServicePort { port, node_port }],
    })
}

/// A persistent volume as typed in the form.
pub fn volume(name: &str, size_gib: &str) -> Result<VolumeRequest, Error> {
    let size_gib: u64 = size_gib
        .trim()
        .parse()
        .map_err(|_| Error::invalid("size_gib", "The size is a whole number of GiB."))?;
    Ok(VolumeRequest {
        name: name.trim().to_string(),
        size_gib,
        volume_type: None,
    })
}

/// The status a list is narrowed to (blank: any).
pub fn status(s: &str) -> Result<Option<model::ClusterStatus>, Error> {
    match s.trim() {
        "" => Ok(None),
        s => model::ClusterStatus::parse(s)
            .map(Some)
            .ok_or_else(|| Error::invalid("status", format!("'{s}' is not a cluster status."))),
    }
}
