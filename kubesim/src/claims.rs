//! Admission of the storage kinds, as kube-apiserver's plugins and validation take them:
//! DefaultStorageClass (a claim without `spec.storageClassName` gets the default
//! class), StorageObjectInUseProtection (claims and volumes get their protection
//! finalizers), the claim's spec immutability and PersistentVolumeClaimResize (a bound
//! claim's storage request may grow, never shrink, and only when its class allows
//! expansion), and the StorageClass defaults.

use serde_json::{json, Value};

use crate::quantity;
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::{Key, View};

pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";
pub const STORAGE_CLASSES: &str = "storageclasses.storage.k8s.io";

/// Whether `class` is marked the cluster's default.
pub fn is_default(class: &Value) -> bool {
    let a = &class["metadata"]["annotations"];
    a[DEFAULT_CLASS] == "true" || a[BETA_DEFAULT_CLASS] == "true"
}

/// The default StorageClass: the one marked so, or the newest of several (then by
/// name), as the DefaultStorageClass admission plugin picks it.
pub fn default_class<'v>(classes: impl Iterator<Item = &'v Value>) -> Option<&'v Value> {
    let mut marked: Vec<&Value> = classes.filter(|c| is_default(c)).collect();
    marked.sort_by(|a, b| {
        let created = |c: &Value| {
            c["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        created(b).cmp(&created(a)).then_with(|| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        })
    });
    marked.first().copied()
}

/// Adds `finalizer` to `o` if it lacks it.
pub fn add_finalizer(o: &mut Value, finalizer: &str) {
    let meta = &mut o["metadata"];
    if !meta["finalizers"].is_array() {
        meta["finalizers"] = json!([]);
    }
    if let Some(list) = meta["finalizers"].as_array_mut() {
        if !list.iter().any(|f| f == finalizer) {
            list.push(json!(finalizer));
        }
    }
}

/// A StorageClass: reclaimPolicy Delete and volumeBindingMode Immediate unless given.
pub fn admit_class(class: &mut Value) {
    for (field, value) in [
        ("reclaimPolicy", "Delete"),
        ("volumeBindingMode", "Immediate"),
    ] {
        if class[field].as_str().is_none_or(str::is_empty) {
            class[field] = json!(value);
        }
    }
}

/// A PersistentVolume: pv-protection on create, volumeMode Filesystem and reclaim
/// policy Retain unless given.
pub fn admit_volume(current: Option<&Value>, pv: &mut Value) {
    if current.is_none() {
        add_finalizer(pv, PV_PROTECTION);
    }
    if pv["spec"]["volumeMode"].as_str().is_none_or(str::is_empty) {
        pv["spec"]["volumeMode"] = json!("Filesystem");
    }
    if pv["spec"]["persistentVolumeReclaimPolicy"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        pv["spec"]["persistentVolumeReclaimPolicy"] = json!("Retain");
    }
}

/// A PersistentVolumeClaim, created (`current` None) or updated.
pub fn admit_claim(view: &View, current: Option<&Value>, pvc: &mut Value) -> ApiResult<()> {
    if pvc["spec"]["volumeMode"].as_str().is_none_or(str::is_empty) {
        pvc["spec"]["volumeMode"] = json!("Filesystem");
    }
    let Some(current) = current else {
        if pvc["spec"]
            .get("storageClassName")
            .is_none_or(Value::is_null)
        {
            if let Some(class) = default_class(view.list(STORAGE_CLASSES, None)) {
                pvc["spec"]["storageClassName"] = class["metadata"]["name"].clone();
            }
        }
        add_finalizer(pvc, PVC_PROTECTION);
        return Ok(());
    };
    let name = pvc["metadata"]["name"].as_str().unwrap_or("").to_string();
    let (old, new) = (&current["spec"], &pvc["spec"]);
    let storage = |s: &Value| s["resources"]["requests"]["storage"].clone();
    let bytes = |v: &Value| v.as_str().and_then(quantity::bytes).unwrap_or(0);
    // What may change: the requests of a bound claim, and the volume name while unset.
    let bound = current["status"]["phase"] == "Bound";
    let mut comparable = new.clone();
    if bound {
        comparable["resources"]["requests"] = old["resources"]["requests"].clone();
        if old["resources"]["requests"].is_null() {
            if let Some(r) = comparable["resources"].as_object_mut() {
                r.remove("requests");
            }
        }
        comparable["volumeAttributesClassName"] = old["volumeAttributesClassName"].clone();
        if old.get("volumeAttributesClassName").is_none() {
            if let Some(s) = comparable.as_object_mut() {
                s.remove("volumeAttributesClassName");
            }
        }
    }
    if old["volumeName"].as_str().is_none_or(str::is_empty) {
        comparable["volumeName"] = old["volumeName"].clone();
        if old.get("volumeName").is_none() {
            if let Some(s) = comparable.as_object_mut() {
                s.remove("volumeName");
            }
        }
    }
    let mut causes = Vec::new();
    if &comparable != old {
        causes.push(Cause::forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
    let (was, asked) = (bytes(&storage(old)), bytes(&storage(new)));
    if asked < was {
        causes.push(Cause::forbidden(
            "spec.resources.requests.storage",
            "field can not be less than previous value",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("PersistentVolumeClaim", &name, causes));
    }
    if asked > was {
        let class = old["storageClassName"].as_str().unwrap_or("");
        let expandable = !class.is_empty()
            && view
                .get(&Key::new(STORAGE_CLASSES, None, class))
                .is_some_and(|c| c["allowVolumeExpansion"] == true);
        if !expandable {
            return Err(ApiError::forbidden(
                "persistentvolumeclaims",
                &name,
                "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize",
            ));
        }
    }
    Ok(())
}
