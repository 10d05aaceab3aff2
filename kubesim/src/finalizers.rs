//! Finalizers and `deletionTimestamp`, as kube-apiserver keeps them for every kind: a
//! DELETE of an object that still has `metadata.finalizers` does not remove it but marks
//! it (deletionTimestamp now, deletionGracePeriodSeconds 0; watchers see MODIFIED), and
//! a later write that leaves its finalizers empty removes it (watchers see DELETED).
//! Clients cannot set or move the deletionTimestamp, nor add a finalizer to an object
//! being deleted. [`crate::store`] applies these rules to every write, the API's and
//! the controllers' alike.

use serde_json::{json, Value};

use crate::stamps::now_rfc3339;
use crate::status::{ApiError, ApiResult, Cause};

/// The object's finalizers.
pub fn of(o: &Value) -> Vec<&str> {
    o["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether the object is being deleted (it has a deletionTimestamp).
pub fn terminating(o: &Value) -> bool {
    o["metadata"]["deletionTimestamp"].is_string()
}

/// What a DELETE does to an object.
pub enum Deletion {
    /// No finalizers: it goes.
    Remove,
    /// Finalizers: it stays, marked (this is the marked object).
    Mark(Value),
    /// Already marked: it stays as it is.
    Unchanged,
}

pub fn on_delete(current: &Value) -> Deletion {
    if of(current).is_empty() {
        return Deletion::Remove;
    }
    if terminating(current) {
        return Deletion::Unchanged;
    }
    let mut marked = current.clone();
    marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
    marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    Deletion::Mark(marked)
}

/// Readies `object`, about to replace `current`: the deletion marks stay as stored
/// (a client can neither set nor move them), and a terminating object takes no new
/// finalizer (422, as kube-apiserver words it). Answers whether the write removes the
/// object (it is terminating and has no finalizers left).
pub fn on_update(current: &Value, object: &mut Value) -> ApiResult<bool> {
    for field in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
        match (
            current["metadata"].get(field),
            object["metadata"].as_object_mut(),
        ) {
            (Some(v), Some(meta)) => {
                meta.insert(field.into(), v.clone());
            }
            (None, Some(meta)) => {
                meta.remove(field);
            }
            _ => {}
        }
    }
    if !terminating(current) {
        return Ok(false);
    }
    let had = of(current);
    let new: Vec<String> = of(object)
        .into_iter()
        .filter(|f| !had.contains(f))
        .map(|f| format!("{f:?}"))
        .collect();
    if !new.is_empty() {
        let kind = current["kind"].as_str().unwrap_or("Object");
        let name = current["metadata"]["name"].as_str().unwrap_or("");
        return Err(ApiError::invalid(
            kind,
            name,
            vec![Cause::forbidden(
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    new.join(", ")
                ),
            )],
        ));
    }
    Ok(of(object).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalizers_hold_a_deleted_object_until_they_are_gone() {
        let o = json!({"kind": "Service", "metadata": {"name": "web", "finalizers": ["a"]}});
        let Deletion::Mark(marked) = on_delete(&o) else {
            panic!("not marked")
        };
        assert!(terminating(&marked));
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
        assert!(matches!(on_delete(&marked), Deletion::Unchanged));
        // A client's write keeps the mark, whatever it says.
        let mut w = json!({"kind": "Service", "metadata": {"name": "web", "finalizers": ["a"]}});
        assert!(!on_update(&marked, &mut w).unwrap());
        assert_eq!(
            w["metadata"]["deletionTimestamp"],
            marked["metadata"]["deletionTimestamp"]
        );
        let mut w = json!({"metadata": {"name": "web", "finalizers": ["a", "b"]}});
        let e = on_update(&marked, &mut w).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b\"}"), "{}", e.message);
        let mut w = json!({"metadata": {"name": "web", "finalizers": []}});
        assert!(on_update(&marked, &mut w).unwrap());
        // Not terminating: a client cannot mark it.
        let mut w =
            json!({"metadata": {"name": "web", "deletionTimestamp": "2020-01-01T00:00:00Z"}});
        assert!(!on_update(&o, &mut w).unwrap());
        assert!(!terminating(&w));
        assert!(matches!(
            on_delete(&json!({"metadata": {}})),
            Deletion::Remove
        ));
    }
}
