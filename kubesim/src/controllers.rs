//! The control loop of a cluster, as kube-controller-manager and kube-scheduler would
//! run it, on the cluster's objects: Deployments make ReplicaSets (one per pod
//! template), ReplicaSets make Pods, objects whose owner is gone go (garbage
//! collection), and the scheduler binds pending Pods to Ready nodes by their requests
//! against the nodes' allocatable and their taints. Pods are scheduled, never run: the
//! simulated kubelet ([`crate::kubelet`]) reports them. The loop wakes on every change
//! of what it reads and once a second, and writes only what differs, so it settles. A
//! pass reads the objects shared with the store (no copies) and runs on a blocking
//! thread, off the workers that answer requests; it costs about one look at each pod,
//! plus, for each pending pod, one at each node.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::meta::{key, name, namespace, uid};
use crate::quantity;
use crate::store::{Key, Store};

const DEPLOYMENTS: &str = "deployments.apps";
const REPLICASETS: &str = "replicasets.apps";
const PODS: &str = "pods";
const NODES: &str = "nodes";
/// What the controllers read: a change to anything else (a Lease renewed, say) does not
/// wake them; the node lifecycle, which reads Leases against the clock, looks once a
/// second.
const READ: [&str; 7] = [
    DEPLOYMENTS,
    REPLICASETS,
    PODS,
    NODES,
    crate::volumes::PVCS,
    crate::volumes::PVS,
    "namespaces",
];

/// Runs the loop until the returned task is aborted.
pub fn start(
    store: Arc<Store>,
    lifecycle: crate::node_lifecycle::NodeLifecycle,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = store.subscribe();
        loop {
            let (s, l) = (store.clone(), lifecycle.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
                crate::node_lifecycle::reconcile(&s, &l, now);
                reconcile(&s);
            })
            .await;
            // The next pass: on a change of what the controllers read, or in a second.
            let tick = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    _ = &mut tick => break,
                    got = changes.recv() => match got {
                        Ok(c) if !READ.contains(&c.key.resource.as_str()) => {}
                        _ => break,
                    },
                }
            }
            // What arrived meanwhile is seen by the next pass.
            while changes.try_recv().is_ok() {}
        }
    })
}

/// One pass of every controller.
pub fn reconcile(store: &Store) {
    deployments(store);
    replicasets(store);
    collect_garbage(store);
    crate::volumes::reconcile(store);
    crate::volumes::namespaces(store);
    schedule(store);
    crate::kubelet::run_bound_pods(store);
}

fn owned_by(o: &Value, owner_uid: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
}

fn owner_reference(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name(owner),
        "uid": uid(owner), "controller": true, "blockOwnerDeletion": true,
    })
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// A short stable hash, for ReplicaSet names (as `pod-template-hash`).
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| ALPHABET[((h >> (i * 6)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// Sets `status` on the object at `key` if it differs (a status write: the generation
/// stays).
fn set_status(store: &Store, key: &Key, status: Value) {
    let _ = store.modify(key, |o| {
        if o["status"] == status {
            return false;
        }
        o["status"] = status;
        true
    });
}

/// The objects of `resource` in `namespace` (or all), shared with the store.
fn list(store: &Store, resource: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
    store.list_shared(resource, namespace).0
}

fn deployments(store: &Store) {
    for d in list(store, DEPLOYMENTS, None) {
        let ns = namespace(&d).to_string();
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let mut template = d["spec"]["template"].clone();
        let hash = short_hash(&template.to_string());
        template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut selector = d["spec"]["selector"].clone();
        selector["matchLabels"]["pod-template-hash"] = json!(hash);
        let new_name = format!("{}-{hash}", name(&d));
        let owned: Vec<Arc<Value>> = list(store, REPLICASETS, Some(&ns))
            .into_iter()
            .filter(|r| owned_by(r, uid(&d)))
            .collect();
        let new_key = Key::new(REPLICASETS, Some(&ns), &new_name);
        if !owned.iter().any(|r| name(r) == new_name) {
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": new_name, "namespace": ns,
                    "labels": template["metadata"]["labels"],
                    "ownerReferences": [owner_reference(&d)]},
                "spec": {"replicas": replicas, "selector": selector, "template": template},
            });
            let _ = store.create(&new_key, rs);
        }
        // The new ReplicaSet has the replicas; the old ones none (a rolling update
        // with no limits: nothing runs, so nothing waits).
        for r in list(store, REPLICASETS, Some(&ns)) {
            if !owned_by(&r, uid(&d)) {
                continue;
            }
            let want = if name(&r) == new_name { replicas } else { 0 };
            let _ = store.modify(&key(REPLICASETS, &r), |o| {
                if int(&o["spec"]["replicas"]) == want {
                    return false;
                }
                o["spec"]["replicas"] = json!(want);
                true
            });
        }
        let owned: Vec<Arc<Value>> = list(store, REPLICASETS, Some(&ns))
            .into_iter()
            .filter(|r| owned_by(r, uid(&d)))
            .collect();
        let sum = |field: &str| owned.iter().map(|r| int(&r["status"][field])).sum::<i64>();
        let updated = owned
            .iter()
            .find(|r| name(r) == new_name)
            .map_or(0, |r| int(&r["status"]["replicas"]));
        let (total, available) = (sum("replicas"), sum("availableReplicas"));
        let done = updated == replicas && total == replicas && available == replicas;
        let status = json!({
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": sum("readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": (total - available).max(0),
            "conditions": [
                {"type": "Available", "status": if available >= replicas { "True" } else { "False" },
                 "reason": if available >= replicas { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                 "message": "Deployment has minimum availability."},
                {"type": "Progressing", "status": "True",
                 "reason": if done { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
                 "message": format!("ReplicaSet \"{new_name}\" {}.", if done { "has successfully progressed" } else { "is progressing" })},
            ],
        });
        set_status(store, &key(DEPLOYMENTS, &d), status);
    }
}

fn replicasets(store: &Store) {
    // Every pod by the uids of its owners, looked at once.
    let mut by_owner: HashMap<String, Vec<Arc<Value>>> = HashMap::new();
    for p in list(store, PODS, None) {
        for r in p["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(owner) = r["uid"].as_str() {
                by_owner
                    .entry(owner.to_string())
                    .or_default()
                    .push(p.clone());
            }
        }
    }
    for rs in list(store, REPLICASETS, None) {
        let ns = namespace(&rs).to_string();
        let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
        // Pods being deleted (held by finalizers) no longer count, as in Kubernetes.
        let mut pods: Vec<Arc<Value>> = by_owner
            .remove(uid(&rs))
            .unwrap_or_default()
            .into_iter()
            .filter(|p| namespace(p) == ns && !crate::finalizers::terminating(p))
            .collect();
        let template = &rs["spec"]["template"];
        while pods.len() < want {
            let pod_name = format!("{}-{}", name(&rs), crate::store::random_suffix(5));
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns,
                    "labels": template["metadata"]["labels"],
                    "ownerReferences": [owner_reference(&rs)]},
                "spec": template["spec"],
                "status": {"phase": "Pending"},
            });
            match store.create(&Key::new(PODS, Some(&ns), &pod_name), pod) {
                Ok(made) => pods.push(Arc::new(made)),
                Err(_) => break,
            }
        }
        // Too many: the ones not yet running go first, then the newest.
        fn order(p: &Value) -> (bool, std::cmp::Reverse<&str>) {
            let created = p["metadata"]["creationTimestamp"].as_str().unwrap_or("");
            (
                p["status"]["phase"] == "Running",
                std::cmp::Reverse(created),
            )
        }
        pods.sort_by(|a, b| order(a).cmp(&order(b)));
        while pods.len() > want {
            let p = pods.remove(0);
            let _ = store.delete(&key(PODS, &p));
        }
        let ready = pods.iter().filter(|p| crate::kubelet::ready(p)).count();
        let status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": pods.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"]["generation"],
        });
        set_status(store, &key(REPLICASETS, &rs), status);
    }
}

/// Objects whose controlling owner is gone go too.
fn collect_garbage(store: &Store) {
    let owners = [
        list(store, DEPLOYMENTS, None),
        list(store, REPLICASETS, None),
    ];
    let live: HashSet<&str> = owners.iter().flatten().map(|o| uid(o)).collect();
    for (resource, owner_kind) in [(REPLICASETS, "Deployment"), (PODS, "ReplicaSet")] {
        for o in list(store, resource, None) {
            let orphan = o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r["kind"] == owner_kind && !live.contains(r["uid"].as_str().unwrap_or(""))
                    })
                });
            if orphan && !crate::finalizers::terminating(&o) {
                let _ = store.delete(&key(resource, &o));
            }
        }
    }
}

/// What a pod asks for: (millicores, bytes).
fn requests(pod: &Value) -> (i64, i64) {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .fold((0, 0), |(c, m), ctr| {
            let r = &ctr["resources"]["requests"];
            (
                c + r["cpu"]
                    .as_str()
                    .and_then(quantity::millicores)
                    .unwrap_or(0),
                m + r["memory"].as_str().and_then(quantity::bytes).unwrap_or(0),
            )
        })
}

/// Whether `pod` tolerates every NoSchedule and NoExecute taint of `node`.
fn tolerates(pod: &Value, node: &Value) -> bool {
    let tolerations = pod["spec"]["tolerations"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|t| {
            t["effect"] == "PreferNoSchedule"
                || tolerations.iter().any(|tol| {
                    let key_ok = match tol["operator"].as_str() {
                        Some("Exists") => tol["key"]
                            .as_str()
                            .is_none_or(|k| k.is_empty() || t["key"] == k),
                        _ => {
                            tol["key"] == t["key"]
                                && tol["value"].as_str().unwrap_or("")
                                    == t["value"].as_str().unwrap_or("")
                        }
                    };
                    key_ok
                        && (tol["effect"].as_str().is_none_or(|e| e.is_empty())
                            || tol["effect"] == t["effect"])
                })
        })
}

/// What a schedulable node has left, and how many pods it holds.
struct Room<'a> {
    node: &'a Value,
    name: &'a str,
    cpu: i64,
    memory: i64,
    pods: usize,
}

fn schedule(store: &Store) {
    let pods = list(store, PODS, None);
    let pending: Vec<&Arc<Value>> = pods
        .iter()
        .filter(|p| p["spec"]["nodeName"].as_str().is_none_or(str::is_empty))
        .collect();
    if pending.is_empty() {
        return;
    }
    let all_nodes = list(store, NODES, None);
    let total = all_nodes.len();
    let mut rooms: Vec<Room> = all_nodes
        .iter()
        .filter(|n| crate::kubelet::node_ready(n) && n["spec"]["unschedulable"] != true)
        .map(|n| {
            let a = &n["status"]["allocatable"];
            Room {
                node: n,
                name: name(n),
                cpu: a["cpu"]
                    .as_str()
                    .and_then(quantity::millicores)
                    .unwrap_or(0),
                memory: a["memory"].as_str().and_then(quantity::bytes).unwrap_or(0),
                pods: 0,
            }
        })
        .collect();
    let by_name: HashMap<&str, usize> =
        rooms.iter().enumerate().map(|(i, r)| (r.name, i)).collect();
    // Claims are looked at only when a pending pod names one.
    let names_claim = |p: &Value| {
        p["spec"]["volumes"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["persistentVolumeClaim"].is_object()))
    };
    let bound: HashSet<(String, String)> = if pending.iter().any(|p| names_claim(p)) {
        list(store, crate::volumes::PVCS, None)
            .iter()
            .filter(|c| c["status"]["phase"] == "Bound")
            .map(|c| (namespace(c).to_string(), name(c).to_string()))
            .collect()
    } else {
        HashSet::new()
    };
    for p in &pods {
        if let Some(&i) = p["spec"]["nodeName"].as_str().and_then(|n| by_name.get(n)) {
            let (c, m) = requests(p);
            let r = &mut rooms[i];
            (r.cpu, r.memory, r.pods) = (r.cpu - c, r.memory - m, r.pods + 1);
        }
    }
    for pod in pending {
        let unbound = names_claim(pod)
            && crate::volumes::claims_in_use(std::slice::from_ref(pod))
                .iter()
                .any(|c| !bound.contains(c));
        if unbound {
            let message = format!(
                "0/{total} nodes are available: pod has unbound immediate PersistentVolumeClaims."
            );
            unschedulable(store, &key(PODS, pod), &message);
            continue;
        }
        let (c, m) = requests(pod);
        let mut why = (0, 0, 0); // (taints, cpu, memory)
                                 // The fitting node with the fewest pods (by name among equals).
        let mut choice: Option<usize> = None;
        for (i, r) in rooms.iter().enumerate() {
            if !tolerates(pod, r.node) {
                why.0 += 1;
                continue;
            }
            let (cpu_ok, mem_ok) = (r.cpu >= c, r.memory >= m);
            why.1 += usize::from(!cpu_ok);
            why.2 += usize::from(cpu_ok && !mem_ok);
            if cpu_ok
                && mem_ok
                && choice.is_none_or(|b| (r.pods, r.name) < (rooms[b].pods, rooms[b].name))
            {
                choice = Some(i);
            }
        }
        let choice = choice.map(|i| {
            let r = &mut rooms[i];
            (r.cpu, r.memory, r.pods) = (r.cpu - c, r.memory - m, r.pods + 1);
            r.name.to_string()
        });
        let pod_key = key(PODS, pod);
        match choice {
            Some(node) => {
                let _ = store.modify(&pod_key, |o| {
                    o["spec"]["nodeName"] = json!(node);
                    o["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True"}]);
                    true
                });
            }
            None => {
                let mut reasons = Vec::new();
                if why.1 > 0 {
                    reasons.push(format!("{} Insufficient cpu", why.1));
                }
                if why.2 > 0 {
                    reasons.push(format!("{} Insufficient memory", why.2));
                }
                if why.0 > 0 {
                    reasons.push(format!("{} node(s) had untolerated taint", why.0));
                }
                let not_ready = total - rooms.len();
                if not_ready > 0 {
                    reasons.push(format!(
                        "{not_ready} node(s) were not ready or unschedulable"
                    ));
                }
                let message = format!("0/{total} nodes are available: {}.", reasons.join(", "));
                unschedulable(store, &pod_key, &message);
            }
        }
    }
}

/// The pod at `pod_key` stays Pending, `PodScheduled` False for `message`.
fn unschedulable(store: &Store, pod_key: &Key, message: &str) {
    let condition = json!([{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable", "message": message}]);
    let _ = store.modify(pod_key, |o| {
        if o["status"]["conditions"] == condition {
            return false;
        }
        o["status"]["phase"] = json!("Pending");
        o["status"]["conditions"] = condition;
        true
    });
}
