//! The store's own tests: reopening, generations, and watches resuming.

use super::*;
use crate::stamps::new_uid;

#[test]
fn objects_survive_a_reopen_and_names_are_unique() {
    let dir = std::env::temp_dir().join(format!("kubesim-store-{}", new_uid()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("objects.json");
    let store = Store::open(Some(file.clone())).unwrap();
    assert_eq!(store.list("namespaces", None).len(), 4);
    let key = Key::new("namespaces", None, "demo");
    let made = store
        .create(
            &key,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {}}),
        )
        .unwrap();
    assert_eq!(made["metadata"]["name"], "demo");
    assert_eq!(made["metadata"]["uid"].as_str().unwrap().len(), 36);
    let again = store.create(&key, json!({"metadata": {}})).unwrap_err();
    assert_eq!(again.reason, "AlreadyExists");
    let revision = store.revision();
    drop(store);
    let reopened = Store::open(Some(file)).unwrap();
    assert_eq!(reopened.get(&key).unwrap(), made);
    assert_eq!(reopened.revision(), revision);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn generation_counts_spec_changes_only() {
    let store = Store::open(None).unwrap();
    let key = Key::new("deployments.apps", Some("default"), "web");
    let made = store
        .create(&key, json!({"metadata": {}, "spec": {"replicas": 1}}))
        .unwrap();
    assert_eq!(made["metadata"]["generation"], 1);
    let status = store
        .replace(
            &key,
            json!({"metadata": {}, "spec": {"replicas": 1}, "status": {"replicas": 1}}),
            false,
        )
        .unwrap();
    assert_eq!(status["metadata"]["generation"], 1);
    let scaled = store
        .replace(
            &key,
            json!({"metadata": {}, "spec": {"replicas": 3}}),
            false,
        )
        .unwrap();
    assert_eq!(scaled["metadata"]["generation"], 2);
    assert_eq!(scaled["metadata"]["uid"], made["metadata"]["uid"]);
    let stale =
        json!({"metadata": {"resourceVersion": made["metadata"]["resourceVersion"]}, "spec": {}});
    assert_eq!(
        store.replace(&key, stale, false).unwrap_err().reason,
        "Conflict"
    );
}

#[test]
fn watches_resume_from_what_is_kept_and_older_ones_are_told() {
    let store = Store::open(None).unwrap();
    let start = store.revision();
    for i in 0..LOG + 5 {
        let key = Key::new("configmaps", Some("default"), &format!("c{i}"));
        store
            .create(
                &key,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
            )
            .unwrap();
    }
    let too_old = store.changes_since(start).unwrap_err();
    assert_eq!(too_old.asked, start);
    let recent = store.revision() - 3;
    let (past, _) = store.changes_since(recent).unwrap();
    assert_eq!(past.len(), 3);
    assert!(past
        .iter()
        .all(|c| c.kind == "ADDED" && c.revision > recent));
}
