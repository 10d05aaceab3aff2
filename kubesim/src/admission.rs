//! What a write of an object goes through before it is stored, under the store's lock
//! ([`crate::store::Check`]): each kind's defaults and checks ([`crate::services`],
//! [`crate::claims`]), and the status rules of the kinds with a `status` subresource:
//! a create starts with a fresh status, a write of the main resource keeps the stored
//! one (only `/status` changes it, see [`crate::subresources`]).

use serde_json::{json, Value};

use crate::cidr::Cidr;
use crate::kinds::Kind;
use crate::status::ApiResult;
use crate::store::View;

/// Kinds whose `status` is written only through their `status` subresource.
pub fn has_status(k: &Kind) -> bool {
    k.group.is_empty()
        && matches!(
            k.resource,
            "services" | "persistentvolumeclaims" | "persistentvolumes"
        )
}

/// Readies `object` of `kind` (replacing `current`, if any) for the store.
pub fn admit(
    kind: &Kind,
    cidr: Cidr,
    view: &View,
    current: Option<&Value>,
    object: &mut Value,
) -> ApiResult<()> {
    if has_status(kind) {
        match current {
            Some(c) => match c.get("status") {
                Some(s) => object["status"] = s.clone(),
                None => {
                    if let Some(o) = object.as_object_mut() {
                        o.remove("status");
                    }
                }
            },
            None => {
                object["status"] = match kind.resource {
                    "services" => json!({"loadBalancer": {}}),
                    _ => json!({"phase": "Pending"}),
                }
            }
        }
    }
    if !kind.group.is_empty() {
        if kind.resource == "storageclasses" && kind.group == "storage.k8s.io" {
            crate::claims::admit_class(object);
        }
        return Ok(());
    }
    match kind.resource {
        "services" => crate::services::admit(view, cidr, current, object),
        "persistentvolumeclaims" => crate::claims::admit_claim(view, current, object),
        "persistentvolumes" => {
            crate::claims::admit_volume(current, object);
            Ok(())
        }
        _ => Ok(()),
    }
}
