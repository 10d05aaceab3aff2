//! `meta.k8s.io/v1` Tables: the columns `kubectl get` prints, computed here as
//! kube-apiserver does (kubectl asks for a Table and prints its cells as they are).

use std::borrow::Borrow;

use serde::Serialize;
use serde_json::{json, Value};

use crate::columns::{col, Column, AGE, NAME};
use crate::stamps::age;
use crate::table_storage;

/// Whether the client asked for a Table (`Accept: application/json;as=Table;…`).
pub fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.split(',').any(|t| t.contains("as=Table")))
}

const NODES: &[Column] = &[
    NAME,
    col("Status", "string", 0, "The status of the node"),
    col("Roles", "string", 0, "The roles of the node"),
    AGE,
    col("Version", "string", 0, "Kubelet Version reported by the node."),
    col("Internal-IP", "string", 1, "List of internal IPs for the node."),
    col("External-IP", "string", 1, "List of external IPs for the node."),
    col("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    col("Kernel-Version", "string", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    col("Container-Runtime", "string", 1, "Container Runtime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];

const NAMESPACES: &[Column] = &[
    NAME,
    col("Status", "string", 0, "The status of the namespace"),
    AGE,
];

const PODS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        0,
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        0,
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        0,
        "The number of times the containers in this pod have been restarted.",
    ),
    AGE,
    col("IP", "string", 1, "IP address allocated to the pod."),
    col(
        "Node",
        "string",
        1,
        "Name of the node the pod is assigned to.",
    ),
    col(
        "Nominated Node",
        "string",
        1,
        "Name of the node where the pod is nominated to run.",
    ),
    col(
        "Readiness Gates",
        "string",
        1,
        "The readiness gates of the pod.",
    ),
];

const DEPLOYMENTS: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state"),
    col("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    col("Containers", "string", 1, "Names of each container in the template."),
    col("Images", "string", 1, "Images referenced by each container in the template."),
    col("Selector", "string", 1, "Label selector for pods."),
];

const REPLICASETS: &[Column] = &[
    NAME,
    col("Desired", "integer", 0, "Number of desired pods."),
    col("Current", "integer", 0, "Number of actual replicas."),
    col(
        "Ready",
        "integer",
        0,
        "The number of ready replicas for this replica set.",
    ),
    AGE,
];

const SERVICES: &[Column] = &[
    NAME,
    col("Type", "string", 0, "The type of the service."),
    col("Cluster-IP", "string", 0, "The cluster IP of the service."),
    col(
        "External-IP",
        "string",
        0,
        "The external IP of the service.",
    ),
    col("Port(s)", "string", 0, "The ports of the service."),
    AGE,
];

const CONFIGMAPS: &[Column] = &[NAME, col("Data", "integer", 0, "Number of keys."), AGE];

const SECRETS: &[Column] = &[
    NAME,
    col("Type", "string", 0, "The type of the secret."),
    col("Data", "integer", 0, "Number of keys."),
    AGE,
];

/// An object's `spec.selector.matchLabels` as `k=v,k=v`.
pub fn match_labels(o: &Value) -> String {
    o["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn count(v: &Value) -> usize {
    v.as_object().map_or(0, |m| m.len())
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let statuses = o["status"]["containerStatuses"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let containers = o["spec"]["containers"].as_array().map_or(0, |c| c.len());
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    let restarts: i64 = statuses.iter().map(|c| int(&c["restartCount"])).sum();
    let waiting = statuses
        .iter()
        .find_map(|c| c["state"]["waiting"]["reason"].as_str());
    let status = if o["metadata"]["deletionTimestamp"].is_string() {
        "Terminating".to_string()
    } else {
        waiting
            .or_else(|| o["status"]["reason"].as_str())
            .or_else(|| o["status"]["phase"].as_str())
            .unwrap_or("Pending")
            .to_string()
    };
    let text = |v: &Value| v.as_str().unwrap_or("<none>").to_string();
    vec![
        json!(name(o)),
        json!(format!("{ready}/{containers}")),
        json!(status),
        json!(restarts),
        json!(age(o)),
        json!(text(&o["status"]["podIP"])),
        json!(text(&o["spec"]["nodeName"])),
        json!(text(&o["status"]["nominatedNodeName"])),
        json!("<none>"),
    ]
}

fn deployment_cells(o: &Value) -> Vec<Value> {
    let s = &o["status"];
    let containers = o["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let join = |key: &str| {
        containers
            .iter()
            .filter_map(|c| c[key].as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let selector = match_labels(o);
    vec![
        json!(name(o)),
        json!(format!(
            "{}/{}",
            int(&s["readyReplicas"]),
            int(&o["spec"]["replicas"])
        )),
        json!(int(&s["updatedReplicas"])),
        json!(int(&s["availableReplicas"])),
        json!(age(o)),
        json!(join("name")),
        json!(join("image")),
        json!(selector),
    ]
}

fn replicaset_cells(o: &Value) -> Vec<Value> {
    let s = &o["status"];
    vec![
        json!(name(o)),
        json!(int(&o["spec"]["replicas"])),
        json!(int(&s["replicas"])),
        json!(int(&s["readyReplicas"])),
        json!(age(o)),
    ]
}

fn service_cells(o: &Value) -> Vec<Value> {
    let spec = &o["spec"];
    let external = o["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|i| {
            i.iter()
                .filter_map(|x| x["ip"].as_str().or(x["hostname"].as_str()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty());
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    let external = external.unwrap_or_else(|| {
        if kind == "LoadBalancer" {
            "<pending>"
        } else {
            "<none>"
        }
        .to_string()
    });
    let ports = spec["ports"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(np) => format!("{}:{np}/{proto}", int(&p["port"])),
                        None => format!("{}/{proto}", int(&p["port"])),
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(name(o)),
        json!(kind),
        json!(spec["clusterIP"].as_str().unwrap_or("<none>")),
        json!(external),
        json!(ports),
        json!(age(o)),
    ]
}

/// What a row of one kind shows.
type Cells = fn(&Value) -> Vec<Value>;

/// Any other kind, as kube-apiserver draws one without printers of its own.
const DEFAULT: &[Column] = &[
    NAME,
    col("Created At", "date", 0, "CreationTimestamp of the object."),
];

/// A Table, ready to be written out: its rows borrow the objects' metadata.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Table<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: TableMeta,
    column_definitions: Vec<Value>,
    rows: Vec<Row<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TableMeta {
    resource_version: String,
}

#[derive(Serialize)]
struct Row<'a> {
    cells: Vec<Value>,
    object: PartialObjectMetadata<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartialObjectMetadata<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: &'a Value,
}

/// A Table of `objects` of `resource` at `revision`.
pub fn of<'a, V: Borrow<Value>>(resource: &str, objects: &'a [V], revision: u64) -> Table<'a> {
    let (columns, cells): (&[Column], Cells) = match resource {
        "nodes" => (NODES, node_cells),
        "namespaces" => (NAMESPACES, namespace_cells),
        "pods" => (PODS, pod_cells),
        "deployments" => (DEPLOYMENTS, deployment_cells),
        "replicasets" => (REPLICASETS, replicaset_cells),
        "services" => (SERVICES, service_cells),
        "persistentvolumeclaims" => (table_storage::CLAIMS, table_storage::claim_cells),
        "persistentvolumes" => (table_storage::VOLUMES, table_storage::volume_cells),
        "storageclasses" => (table_storage::CLASSES, table_storage::class_cells),
        "configmaps" => (CONFIGMAPS, |o| {
            vec![
                json!(name(o)),
                json!(count(&o["data"]) + count(&o["binaryData"])),
                json!(age(o)),
            ]
        }),
        "secrets" => (SECRETS, |o| {
            let kind = o["type"].as_str().unwrap_or("Opaque");
            vec![
                json!(name(o)),
                json!(kind),
                json!(count(&o["data"])),
                json!(age(o)),
            ]
        }),
        _ => (DEFAULT, |o| {
            vec![json!(name(o)), o["metadata"]["creationTimestamp"].clone()]
        }),
    };
    Table {
        kind: "Table",
        api_version: "meta.k8s.io/v1",
        metadata: TableMeta {
            resource_version: revision.to_string(),
        },
        column_definitions: columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.kind,
                    "format": if c.name == "Name" { "name" } else { "" },
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
        rows: objects
            .iter()
            .map(|o| {
                let o = o.borrow();
                Row {
                    cells: cells(o),
                    object: PartialObjectMetadata {
                        kind: "PartialObjectMetadata",
                        api_version: "meta.k8s.io/v1",
                        metadata: &o["metadata"],
                    },
                }
            })
            .collect(),
    }
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn node_cells(o: &Value) -> Vec<Value> {
    let status = o["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .map(|c| {
            if c["status"] == "True" {
                "Ready"
            } else {
                "NotReady"
            }
        })
        .unwrap_or("Unknown");
    let status = if o["spec"]["unschedulable"] == true {
        format!("{status},SchedulingDisabled")
    } else {
        status.to_string()
    };
    let roles: Vec<&str> = o["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    let address = |kind: &str| {
        o["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["type"] == kind))
            .and_then(|a| a["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    let info = &o["status"]["nodeInfo"];
    let text = |v: &Value| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("<unknown>")
            .to_string()
    };
    vec![
        json!(name(o)),
        json!(status),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(age(o)),
        json!(text(&info["kubeletVersion"])),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(text(&info["osImage"])),
        json!(text(&info["kernelVersion"])),
        json!(text(&info["containerRuntimeVersion"])),
    ]
}

fn namespace_cells(o: &Value) -> Vec<Value> {
    let phase = o["status"]["phase"].as_str().unwrap_or("Active");
    vec![json!(name(o)), json!(phase), json!(age(o))]
}
