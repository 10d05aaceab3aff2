//! kube-controller-manager's volume controllers, run by [`crate::controllers::reconcile`]:
//! the PersistentVolume binder (claims and volumes get their phases; a volume whose
//! `spec.claimRef` names a claim, as an external provisioner makes it, binds both; a
//! volume whose claim is gone is Released — the binder never deletes a volume, the
//! provisioner does by its reclaim policy), the pvc- and pv-protection controllers (the
//! finalizers go once nothing uses the object), and the namespace controller's
//! finishing of a terminating namespace. Each writes only what differs, so it settles.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::claims::{PVC_PROTECTION, PV_PROTECTION, STORAGE_CLASSES};
use crate::finalizers::terminating;
use crate::meta::{key, name, namespace, uid};
use crate::store::{Key, Store};

pub const PVCS: &str = "persistentvolumeclaims";
pub const PVS: &str = "persistentvolumes";
const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// What an external provisioner looks for on a claim it is to provision.
const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";

fn list(store: &Store, resource: &str) -> Vec<Arc<Value>> {
    store.list_shared(resource, None).0
}

/// `(namespace, name)` of every claim a pod that has not finished names.
pub fn claims_in_use(pods: &[Arc<Value>]) -> HashSet<(String, String)> {
    pods.iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .flat_map(|p| {
            let ns = namespace(p).to_string();
            p["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
                .map(move |c| (ns.clone(), c.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One pass of the binder and the protection controllers.
pub fn reconcile(store: &Store) {
    let (claims, volumes) = (list(store, PVCS), list(store, PVS));
    if claims.is_empty() && volumes.is_empty() {
        return;
    }
    let by_name: HashMap<(&str, &str), &Arc<Value>> = claims
        .iter()
        .map(|c| ((namespace(c), name(c)), c))
        .collect();
    let classes = list(store, STORAGE_CLASSES);
    let mut bound_volumes: HashMap<(String, String), String> = HashMap::new();
    for pv in &volumes {
        let r = &pv["spec"]["claimRef"];
        let (ns, claim) = (r["namespace"].as_str(), r["name"].as_str());
        let phase = match (ns, claim) {
            (Some(ns), Some(claim)) => match by_name.get(&(ns, claim)) {
                Some(c)
                    if r["uid"]
                        .as_str()
                        .is_none_or(|u| u.is_empty() || u == uid(c))
                        && c["spec"]["volumeName"]
                            .as_str()
                            .is_none_or(|v| v.is_empty() || v == name(pv)) =>
                {
                    bind(store, pv, c);
                    bound_volumes.insert((ns.to_string(), claim.to_string()), name(pv).to_string());
                    "Bound"
                }
                // Pre-bound to a claim that is not there yet: it waits for it.
                None if r["uid"].as_str().is_none_or(str::is_empty) => "Available",
                _ => "Released",
            },
            _ => "Available",
        };
        let pv_key = key(PVS, pv);
        let _ = store.modify(&pv_key, |o| {
            if o["status"]["phase"] == phase {
                return false;
            }
            o["status"]["phase"] = json!(phase);
            true
        });
        if terminating(pv) && phase != "Bound" {
            drop_finalizer(store, &pv_key, PV_PROTECTION);
        }
    }
    let volume_names: HashSet<&str> = volumes.iter().map(|v| name(v)).collect();
    let pods = list(store, "pods");
    let in_use = claims_in_use(&pods);
    for c in &claims {
        let c_key = key(PVCS, c);
        let volume = c["spec"]["volumeName"].as_str().unwrap_or("");
        let was_bound = c["metadata"]["annotations"][BIND_COMPLETED] == "yes";
        if !volume.is_empty() && was_bound && !volume_names.contains(volume) {
            set_phase(store, &c_key, "Lost");
        } else if !bound_volumes.contains_key(&(namespace(c).to_string(), name(c).to_string())) {
            if c["status"]["phase"].as_str().is_none_or(str::is_empty) {
                set_phase(store, &c_key, "Pending");
            }
            if volume.is_empty() {
                ask_provisioner(store, &c_key, c, &classes);
            }
        }
        if terminating(c) {
            if !in_use.contains(&(namespace(c).to_string(), name(c).to_string())) {
                drop_finalizer(store, &c_key, PVC_PROTECTION);
            }
        } else if !crate::finalizers::of(c).contains(&PVC_PROTECTION) {
            let _ = store.modify(&c_key, |o| {
                crate::claims::add_finalizer(o, PVC_PROTECTION);
                true
            });
        }
    }
    for pv in &volumes {
        if !terminating(pv) && !crate::finalizers::of(pv).contains(&PV_PROTECTION) {
            let _ = store.modify(&key(PVS, pv), |o| {
                crate::claims::add_finalizer(o, PV_PROTECTION);
                true
            });
        }
    }
}

/// Binds claim `c` to volume `pv`: the claim's volume name, annotations and status;
/// the claimRef's uid if the provisioner left it out.
fn bind(store: &Store, pv: &Value, c: &Value) {
    let status = json!({
        "phase": "Bound",
        "accessModes": pv["spec"]["accessModes"],
        "capacity": pv["spec"]["capacity"],
    });
    let _ = store.modify(&key(PVCS, c), |o| {
        let before = o.clone();
        o["spec"]["volumeName"] = json!(name(pv));
        o["metadata"]["annotations"][BIND_COMPLETED] = json!("yes");
        o["metadata"]["annotations"][BOUND_BY_CONTROLLER] = json!("yes");
        o["status"] = status;
        *o != before
    });
    if pv["spec"]["claimRef"]["uid"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        let _ = store.modify(&key(PVS, pv), |o| {
            o["spec"]["claimRef"]["uid"] = json!(uid(c));
            true
        });
    }
}

/// A pending claim of a class with an external provisioner, bound at once: the
/// annotations an external provisioner waits for.
fn ask_provisioner(store: &Store, c_key: &Key, c: &Value, classes: &[Arc<Value>]) {
    let class = c["spec"]["storageClassName"].as_str().unwrap_or("");
    let Some(class) = classes
        .iter()
        .find(|k| !class.is_empty() && name(k) == class)
    else {
        return;
    };
    let immediate = class["volumeBindingMode"]
        .as_str()
        .is_none_or(|m| m == "Immediate");
    let Some(provisioner) = class["provisioner"].as_str().filter(|_| immediate) else {
        return;
    };
    let a = &c["metadata"]["annotations"];
    if a[STORAGE_PROVISIONER] == provisioner && a[BETA_STORAGE_PROVISIONER] == provisioner {
        return;
    }
    let _ = store.modify(c_key, |o| {
        o["metadata"]["annotations"][STORAGE_PROVISIONER] = json!(provisioner);
        o["metadata"]["annotations"][BETA_STORAGE_PROVISIONER] = json!(provisioner);
        true
    });
}

fn set_phase(store: &Store, k: &Key, phase: &str) {
    let _ = store.modify(k, |o| {
        if o["status"]["phase"] == phase {
            return false;
        }
        o["status"]["phase"] = json!(phase);
        true
    });
}

/// Removes `finalizer` (the store then removes a terminating object left without any).
fn drop_finalizer(store: &Store, k: &Key, finalizer: &str) {
    let _ = store.modify(k, |o| {
        let Some(list) = o["metadata"]["finalizers"].as_array_mut() else {
            return false;
        };
        let before = list.len();
        list.retain(|f| f != finalizer);
        before != list.len()
    });
}

/// Terminating namespaces (see [`crate::resources::delete_namespace`]): what is left
/// in them is deleted again, and an empty one goes.
pub fn namespaces(store: &Store) {
    for ns in list(store, "namespaces") {
        if !terminating(&ns) {
            continue;
        }
        if store
            .delete_namespaced(name(&ns))
            .is_ok_and(|left| left == 0)
        {
            let _ = store.delete(&key("namespaces", &ns));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(store: &Store, k: Key, o: Value) {
        store.create(&k, o).unwrap();
    }

    #[test]
    fn a_namespace_with_held_objects_terminates_until_they_go() {
        let store = Store::open(None).unwrap();
        let ns = Key::new("namespaces", None, "team");
        make(
            &store,
            ns.clone(),
            json!({"kind": "Namespace", "metadata": {}}),
        );
        let held = Key::new("configmaps", Some("team"), "held");
        make(
            &store,
            held.clone(),
            json!({"kind": "ConfigMap", "metadata": {"finalizers": ["example.com/x"]}}),
        );
        make(
            &store,
            Key::new("configmaps", Some("team"), "free"),
            json!({"kind": "ConfigMap", "metadata": {}}),
        );
        assert_eq!(store.delete_namespaced("team").unwrap(), 1);
        store
            .mark_deleted(&ns, |n| n["status"]["phase"] = json!("Terminating"))
            .unwrap();
        assert!(terminating(&store.get(&held).unwrap()));
        namespaces(&store);
        assert!(store.get(&ns).is_some(), "held by its content");
        let stamp = store.get(&held).unwrap()["metadata"]["deletionTimestamp"].clone();
        // The finalizer goes: so does the object, then the namespace.
        store
            .modify(&held, |o| {
                o["metadata"]["finalizers"] = json!([]);
                true
            })
            .unwrap();
        assert!(store.get(&held).is_none());
        assert!(stamp.is_string());
        namespaces(&store);
        assert!(store.get(&ns).is_none());
    }

    #[test]
    fn a_volume_binds_its_claim_and_is_released_when_the_claim_goes() {
        let store = Store::open(None).unwrap();
        let c = Key::new(PVCS, Some("default"), "data");
        make(
            &store,
            c.clone(),
            json!({"kind": "PersistentVolumeClaim", "metadata": {},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        );
        let claim_uid = store.get(&c).unwrap()["metadata"]["uid"].clone();
        let v = Key::new(PVS, None, "pv-1");
        make(
            &store,
            v.clone(),
            json!({"kind": "PersistentVolume", "metadata": {},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                    "claimRef": {"namespace": "default", "name": "data", "uid": claim_uid}}}),
        );
        reconcile(&store);
        let claim = store.get(&c).unwrap();
        assert_eq!(claim["status"]["phase"], "Bound");
        assert_eq!(claim["spec"]["volumeName"], "pv-1");
        assert_eq!(store.get(&v).unwrap()["status"]["phase"], "Bound");
        // A second pass writes nothing: it settled.
        let revision = store.revision();
        reconcile(&store);
        assert_eq!(store.revision(), revision);
        store.delete(&c).unwrap();
        reconcile(&store);
        assert!(store.get(&c).is_none(), "no pod uses it");
        reconcile(&store);
        assert_eq!(store.get(&v).unwrap()["status"]["phase"], "Released");
    }
}
