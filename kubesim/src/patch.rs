//! Patches as kube-apiserver takes them: JSON patch (RFC 6902) and merge patch (RFC
//! 7386) with the `json-patch` crate; strategic merge patch (kubectl apply's) merges
//! lists of objects by their merge key instead of replacing them; server-side apply
//! (`application/apply-patch+yaml`) merges the applied configuration the same way.
//! Field ownership (managedFields) is not tracked.

use axum::http::StatusCode;
use serde_json::Value;

use crate::status::{ApiError, ApiResult};

/// `current` with `body` (of `content_type`) applied.
pub fn apply(content_type: &str, mut current: Value, body: &[u8]) -> ApiResult<Value> {
    let bad = |e: String| ApiError::bad_request(format!("the patch does not apply: {e}"));
    match content_type {
        "application/json-patch+json" => {
            let p: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
            json_patch::patch(&mut current, &p).map_err(|e| bad(e.to_string()))?;
        }
        "application/merge-patch+json" => {
            let p: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
            json_patch::merge(&mut current, &p);
        }
        "application/strategic-merge-patch+json" => {
            let p: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
            strategic(&mut current, &p);
        }
        "application/apply-patch+yaml" => strategic(&mut current, &yaml(body)?),
        other => {
            return Err(ApiError {
                code: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                reason: "UnsupportedMediaType",
                details: None,
                message: format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (not {other})"),
            })
        }
    }
    Ok(current)
}

/// A YAML (or JSON) body as JSON.
pub fn yaml(body: &[u8]) -> ApiResult<Value> {
    serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not YAML: {e}")))
}

/// The keys lists of objects are merged by, as Kubernetes' types declare them
/// (containers, env, volumes and volumeMounts by name, ports by their port).
const MERGE_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "type",
];

/// Strategic merge: objects merge, `null` removes, lists of objects merge item by item
/// on their merge key, other lists are replaced; `$`-directives are honoured where
/// simple (`$patch: delete` on an item) and otherwise left out.
pub fn strategic(target: &mut Value, patch: &Value) {
    let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) else {
        *target = patch.clone();
        return;
    };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => strategic(
                t.entry(k.clone())
                    .or_insert(Value::Object(Default::default())),
                v,
            ),
            Value::Array(items) => {
                let merged = match (t.get(k), merge_key(items)) {
                    (Some(Value::Array(have)), Some(key)) => merge_list(have, items, key),
                    _ => Value::Array(
                        items
                            .iter()
                            .filter(|i| i.get("$patch").is_none())
                            .cloned()
                            .collect(),
                    ),
                };
                t.insert(k.clone(), merged);
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The merge key every item of `items` has, if they are objects that share one.
fn merge_key(items: &[Value]) -> Option<&'static str> {
    MERGE_KEYS
        .iter()
        .find(|k| !items.is_empty() && items.iter().all(|i| i.get(**k).is_some()))
        .copied()
}

fn merge_list(have: &[Value], patch: &[Value], key: &str) -> Value {
    let mut out: Vec<Value> = have.to_vec();
    for item in patch {
        let at = out.iter().position(|o| o.get(key) == item.get(key));
        match (at, item.get("$patch").and_then(Value::as_str)) {
            (Some(i), Some("delete")) => {
                out.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => strategic(&mut out[i], item),
            (None, _) => {
                let mut new = Value::Object(Default::default());
                strategic(&mut new, item);
                out.push(new);
            }
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn strategic_merge_keeps_what_a_patch_does_not_name() {
        let mut d = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}]}}}});
        super::strategic(
            &mut d,
            &json!({"spec": {"replicas": 3, "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
                "containers": [{"name": "web", "image": "nginx:2"}, {"name": "side", "$patch": "delete"}]}}}}),
        );
        assert_eq!(d["spec"]["replicas"], 3);
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["image"], "nginx:2");
        assert_eq!(containers[0]["ports"][0]["containerPort"], 80);
    }
}
