//! Services as kube-apiserver's service registry makes them: `spec.type` defaults to
//! ClusterIP, a cluster IP comes from the service range ([`crate::cidr`]; `None` makes a
//! headless service), ports default to TCP with `targetPort` = `port`, and NodePort and
//! LoadBalancer services get a node port for each port from 30000–32767, unique in the
//! cluster. On update the cluster IP cannot change, a port sent without its node port
//! keeps the one it had (matched by port and protocol), and a change of type drops or
//! allocates node ports. It runs under the store's lock ([`crate::store::View`]), so
//! two creates cannot take the same address or port. The addresses are inert: nothing
//! routes to them.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::cidr::Cidr;
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::View;

pub const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// Where dynamic allocation starts: kube's allocators keep a lower band of each range
/// for addresses and ports asked for by value (min(max(16, size/16), 256) addresses,
/// min(max(16, size/32), 128) ports) and take from above it first.
fn dynamic_from(size: u32, divisor: u32, most: u32) -> u32 {
    (size / divisor).clamp(16, most)
}

/// Defaults, the cluster IP and node ports of `svc` (replacing `current`, if any).
pub fn admit(view: &View, cidr: Cidr, current: Option<&Value>, svc: &mut Value) -> ApiResult<()> {
    let name = svc["metadata"]["name"].as_str().unwrap_or("").to_string();
    let namespace = svc["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if !svc["spec"].is_object() {
        svc["spec"] = json!({});
    }
    let old = current.map(|c| &c["spec"]);
    let spec = svc["spec"].as_object_mut().expect("spec is an object");
    let kind = default(spec, "type", "ClusterIP").to_string();
    default(spec, "sessionAffinity", "None");
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", "TCP");
            if p.get("targetPort").is_none_or(Value::is_null) {
                let port = p.get("port").cloned().unwrap_or(Value::Null);
                p.insert("targetPort".into(), port);
            }
        }
    }
    let invalid = |causes| ApiError::invalid("Service", &name, causes);
    if kind == "ExternalName" {
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(f);
        }
    } else {
        default(spec, "internalTrafficPolicy", "Cluster");
        if !spec.get("ipFamilies").is_some_and(Value::is_array) {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
        }
        default(spec, "ipFamilyPolicy", "SingleStack");
        let had = old
            .and_then(|o| o["clusterIP"].as_str())
            .filter(|ip| !ip.is_empty());
        let asked = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty())
            .map(String::from)
            .or_else(|| {
                spec.get("clusterIPs")
                    .and_then(|ips| ips[0].as_str())
                    .filter(|ip| !ip.is_empty())
                    .map(String::from)
            });
        let ip = match (had, asked) {
            (Some(had), Some(asked)) if had != asked => {
                return Err(invalid(vec![Cause::invalid(
                    "spec.clusterIPs[0]",
                    &json!(asked),
                    "may not change once set",
                )]))
            }
            (Some(had), _) => had.to_string(),
            (None, Some(asked)) if asked == "None" => asked,
            (None, asked) => {
                let taken = taken_ips(view, cidr, &namespace, &name);
                cluster_ip(cidr, &taken, asked.as_deref()).map_err(|why| {
                    invalid(vec![Cause::invalid(
                        "spec.clusterIPs",
                        &json!(vec![asked.clone().unwrap_or_default()]),
                        &why,
                    )])
                })?
            }
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    let with_node_ports = matches!(kind.as_str(), "NodePort" | "LoadBalancer");
    let old_node_ports =
        old.is_some_and(|o| matches!(o["type"].as_str(), Some("NodePort" | "LoadBalancer")));
    if !with_node_ports {
        // kube-apiserver drops what only the old type had, unless the client changed it.
        for f in [
            "externalTrafficPolicy",
            "allocateLoadBalancerNodePorts",
            "healthCheckNodePort",
        ] {
            if old.is_none_or(|o| spec.get(f) == o.get(f)) {
                spec.remove(f);
            }
        }
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                p.remove("nodePort");
            }
        }
        return Ok(());
    }
    default(spec, "externalTrafficPolicy", "Cluster");
    let allocate = if kind == "LoadBalancer" {
        if !spec
            .get("allocateLoadBalancerNodePorts")
            .is_some_and(Value::is_boolean)
        {
            spec.insert("allocateLoadBalancerNodePorts".into(), json!(true));
        }
        spec["allocateLoadBalancerNodePorts"] == true
    } else {
        spec.remove("allocateLoadBalancerNodePorts");
        true
    };
    let mut used = taken_node_ports(view, &namespace, &name);
    let mut mine: HashSet<(i64, String)> = HashSet::new();
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (i, p) in ports.iter_mut().enumerate() {
        let Some(p) = p.as_object_mut() else { continue };
        let protocol = p["protocol"].as_str().unwrap_or("TCP").to_string();
        let kept = old.filter(|_| old_node_ports).and_then(|o| {
            o["ports"].as_array()?.iter().find_map(|op| {
                (op["port"] == p["port"] && op["protocol"].as_str().unwrap_or("TCP") == protocol)
                    .then(|| op["nodePort"].as_i64())
                    .flatten()
            })
        });
        let asked = p
            .get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0)
            .or(kept);
        let field = format!("spec.ports[{i}].nodePort");
        let port = match asked {
            Some(n) if !NODE_PORTS.contains(&n) => {
                return Err(invalid(vec![Cause::invalid(
                field,
                &json!(n),
                "provided port is not in the valid range. The range of valid ports is 30000-32767",
            )]))
            }
            Some(n) if used.contains(&n) || mine.contains(&(n, protocol.clone())) => {
                return Err(invalid(vec![Cause::invalid(
                    field,
                    &json!(n),
                    "provided port is already allocated",
                )]))
            }
            Some(n) => n,
            None if !allocate => continue,
            None => free_node_port(&used, &mine).ok_or_else(|| {
                invalid(vec![Cause::invalid(
                    field,
                    &json!(0),
                    "range is full: no node port is free in 30000-32767",
                )])
            })?,
        };
        mine.insert((port, protocol));
        used.insert(port);
        p.insert("nodePort".into(), json!(port));
    }
    Ok(())
}

/// Sets `field` to `value` when it is missing (or null or empty); answers what it is.
fn default<'m>(m: &'m mut Map<String, Value>, field: &str, value: &'m str) -> &'m str {
    let missing = m
        .get(field)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
    if missing {
        m.insert(field.into(), json!(value));
    }
    m[field].as_str().unwrap_or(value)
}

/// The other services' cluster IPs, as offsets in `cidr`.
fn taken_ips(view: &View, cidr: Cidr, namespace: &str, name: &str) -> HashSet<u32> {
    view.list("services", None)
        .filter(|s| !(s["metadata"]["namespace"] == namespace && s["metadata"]["name"] == name))
        .filter_map(|s| s["spec"]["clusterIP"].as_str())
        .filter_map(|ip| cidr.offset(ip))
        .collect()
}

/// The other services' node ports.
fn taken_node_ports(view: &View, namespace: &str, name: &str) -> HashSet<i64> {
    view.list("services", None)
        .filter(|s| !(s["metadata"]["namespace"] == namespace && s["metadata"]["name"] == name))
        .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["nodePort"].as_i64())
        .collect()
}

/// The cluster IP for a new service: `asked` if it is in the range and free, else the
/// first free one above the static band (then in it).
fn cluster_ip(cidr: Cidr, taken: &HashSet<u32>, asked: Option<&str>) -> Result<String, String> {
    let size = cidr.size();
    if let Some(ip) = asked {
        return match cidr.offset(ip) {
            None | Some(0) => Err(format!(
                "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
            )),
            Some(n) if n == size - 1 => Err(format!(
                "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
            )),
            Some(n) if taken.contains(&n) => Err(format!(
                "failed to allocate IP {ip}: provided IP is already allocated"
            )),
            Some(_) => Ok(ip.to_string()),
        };
    }
    let from = dynamic_from(size, 16, 256);
    (from..size - 1)
        .chain(1..from)
        .find(|n| !taken.contains(n))
        .map(|n| cidr.nth(n).to_string())
        .ok_or_else(|| format!("failed to allocate a serviceIP: range is full ({cidr})"))
}

fn free_node_port(used: &HashSet<i64>, mine: &HashSet<(i64, String)>) -> Option<i64> {
    let (lo, hi) = (*NODE_PORTS.start(), *NODE_PORTS.end());
    let from = lo + i64::from(dynamic_from((hi - lo + 1) as u32, 32, 128));
    (from..=hi)
        .chain(lo..from)
        .find(|n| !used.contains(n) && !mine.iter().any(|(p, _)| p == n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_bands_follow_kube() {
        let taken = HashSet::new();
        assert_eq!(
            cluster_ip(Cidr::default(), &taken, None).unwrap(),
            "10.96.1.0"
        );
        assert!(cluster_ip(Cidr::default(), &taken, Some("10.0.0.1"))
            .unwrap_err()
            .contains("not in the valid range"));
        assert_eq!(
            free_node_port(&HashSet::new(), &HashSet::new()),
            Some(30086)
        );
    }

    #[test]
    fn concurrent_creates_get_distinct_addresses_and_ports() {
        let store = std::sync::Arc::new(crate::store::Store::open(None).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let key = crate::store::Key::new("services", Some("default"), &format!("s{i}"));
                    let svc = json!({"kind": "Service", "metadata": {"name": format!("s{i}"), "namespace": "default"},
                        "spec": {"type": "NodePort", "ports": [{"port": 80}]}});
                    store
                        .create_checked(&key, svc, false, &mut |view, current, object| {
                            admit(view, Cidr::default(), current, object)
                        })
                        .unwrap()
                })
            })
            .collect();
        let made: Vec<Value> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let ports: HashSet<i64> = made
            .iter()
            .map(|s| s["spec"]["ports"][0]["nodePort"].as_i64().unwrap())
            .collect();
        let ips: HashSet<&str> = made
            .iter()
            .map(|s| s["spec"]["clusterIP"].as_str().unwrap())
            .collect();
        assert_eq!((ports.len(), ips.len()), (8, 8));
        assert_eq!(made[0]["spec"]["ports"][0]["targetPort"], 80);
    }
}
