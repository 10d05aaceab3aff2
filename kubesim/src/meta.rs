//! Reading an object's metadata (name, namespace, uid) and the store [`Key`] it lives
//! at: shared by the controllers, the simulated kubelet and the node lifecycle, which
//! would otherwise reach into one another for them.

use serde_json::Value;

use crate::key::Key;

pub(crate) fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

pub(crate) fn namespace(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or("")
}

pub(crate) fn uid(o: &Value) -> &str {
    o["metadata"]["uid"].as_str().unwrap_or("")
}

pub(crate) fn key(resource: &str, o: &Value) -> Key {
    let ns = namespace(o);
    Key::new(resource, (!ns.is_empty()).then_some(ns), name(o))
}
