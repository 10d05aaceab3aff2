//! The `kubectl get` columns of the storage kinds, as kube-apiserver 1.31 prints them:
//! PersistentVolumeClaims, PersistentVolumes and StorageClasses (the default one named
//! `standard (default)`).

use serde_json::{json, Value};

use crate::columns::{col, Column, AGE, NAME};
use crate::stamps::age;

pub const CLAIMS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        0,
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    col(
        "Volume",
        "string",
        0,
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    col(
        "Capacity",
        "string",
        0,
        "capacity represents the actual resources of the underlying volume.",
    ),
    col(
        "Access Modes",
        "string",
        0,
        "accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    col("StorageClass", "string", 0, "StorageClass of the pvc"),
    col(
        "VolumeAttributesClass",
        "string",
        0,
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    col(
        "VolumeMode",
        "string",
        1,
        "volumeMode defines what type of volume is required by the claim.",
    ),
];

pub const VOLUMES: &[Column] = &[
    NAME,
    col("Capacity", "string", 0, "capacity is the description of the persistent volume's resources and capacity."),
    col("Access Modes", "string", 0, "accessModes contains all ways the volume can be mounted."),
    col("Reclaim Policy", "string", 0, "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
    col("Status", "string", 0, "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    col("Claim", "string", 0, "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    col("StorageClass", "string", 0, "storageClassName is the name of StorageClass to which this persistent volume belongs."),
    col("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pv"),
    col("Reason", "string", 0, "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
    AGE,
    col("VolumeMode", "string", 1, "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
];

pub const CLASSES: &[Column] = &[
    NAME,
    col("Provisioner", "string", 0, "provisioner indicates the type of the provisioner."),
    col("ReclaimPolicy", "string", 0, "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
    col("VolumeBindingMode", "string", 0, "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
    col("AllowVolumeExpansion", "string", 0, "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// `RWO,ROX`, as kubectl abbreviates access modes.
fn modes(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| match m.as_str()? {
            "ReadWriteOnce" => Some("RWO"),
            "ReadOnlyMany" => Some("ROX"),
            "ReadWriteMany" => Some("RWX"),
            "ReadWriteOncePod" => Some("RWOP"),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn text<'v>(v: &'v Value, otherwise: &'v str) -> &'v str {
    v.as_str().filter(|s| !s.is_empty()).unwrap_or(otherwise)
}

/// A claim or volume being deleted shows as Terminating.
fn phase(o: &Value) -> &str {
    if crate::finalizers::terminating(o) {
        "Terminating"
    } else {
        text(&o["status"]["phase"], "")
    }
}

pub fn claim_cells(o: &Value) -> Vec<Value> {
    let spec = &o["spec"];
    let bound = !text(&spec["volumeName"], "").is_empty();
    let (capacity, access) = if bound {
        (
            text(&o["status"]["capacity"]["storage"], "").to_string(),
            modes(&o["status"]["accessModes"]),
        )
    } else {
        (String::new(), String::new())
    };
    vec![
        json!(name(o)),
        json!(phase(o)),
        json!(text(&spec["volumeName"], "")),
        json!(capacity),
        json!(access),
        json!(text(&spec["storageClassName"], "")),
        json!(text(&spec["volumeAttributesClassName"], "<unset>")),
        json!(age(o)),
        json!(text(&spec["volumeMode"], "<unset>")),
    ]
}

pub fn volume_cells(o: &Value) -> Vec<Value> {
    let spec = &o["spec"];
    let r = &spec["claimRef"];
    let claim = if r.is_object() {
        format!("{}/{}", text(&r["namespace"], ""), text(&r["name"], ""))
    } else {
        String::new()
    };
    vec![
        json!(name(o)),
        json!(text(&spec["capacity"]["storage"], "")),
        json!(modes(&spec["accessModes"])),
        json!(text(&spec["persistentVolumeReclaimPolicy"], "")),
        json!(phase(o)),
        json!(claim),
        json!(text(&spec["storageClassName"], "")),
        json!(text(&spec["volumeAttributesClassName"], "<unset>")),
        json!(text(&o["status"]["reason"], "")),
        json!(age(o)),
        json!(text(&spec["volumeMode"], "<unset>")),
    ]
}

pub fn class_cells(o: &Value) -> Vec<Value> {
    let shown = if crate::claims::is_default(o) {
        format!("{} (default)", name(o))
    } else {
        name(o).to_string()
    };
    vec![
        json!(shown),
        json!(text(&o["provisioner"], "")),
        json!(text(&o["reclaimPolicy"], "Delete")),
        json!(text(&o["volumeBindingMode"], "Immediate")),
        json!(o["allowVolumeExpansion"] == true),
        json!(age(o)),
    ]
}
