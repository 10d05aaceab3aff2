//! The cluster's objects: one map from (resource, namespace, name) to the object as
//! JSON, with kube-apiserver's bookkeeping (uid, resourceVersion, creationTimestamp).
//! Every write is saved to a file before it is answered, so the objects survive a
//! restart; the masters of one cluster share one store.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::status::{ApiError, ApiResult};

/// Where an object lives: its resource (plural, e.g. `nodes`), its namespace (empty for
/// cluster-scoped ones) and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: &str, namespace: Option<&str>, name: &str) -> Self {
        Key {
            resource: resource.to_string(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Saved {
    revision: u64,
    objects: Vec<(Key, Value)>,
}

pub struct Store {
    file: Option<PathBuf>,
    inner: Mutex<Inner>,
    changes: tokio::sync::broadcast::Sender<Arc<Change>>,
}

struct Inner {
    revision: u64,
    objects: BTreeMap<Key, Value>,
    /// The latest changes, oldest first, for watches that resume from a revision.
    log: VecDeque<Arc<Change>>,
    /// Changes up to this revision are no longer in `log` (a watch from before it gets
    /// 410 Gone and lists again).
    forgotten: u64,
}

/// How many changes a store keeps for watches to resume from.
pub const LOG: usize = 10_000;

/// One change, as a watch reports it.
#[derive(Debug)]
pub struct Change {
    pub revision: u64,
    /// ADDED, MODIFIED or DELETED.
    pub kind: &'static str,
    pub key: Key,
    pub object: Value,
}

/// The changes to come, as a watch receives them.
pub type Changes = tokio::sync::broadcast::Receiver<Arc<Change>>;

/// A watch from a revision older than what the store keeps.
#[derive(Debug)]
pub struct TooOld {
    pub asked: u64,
    pub oldest: u64,
}

impl Store {
    /// The store kept in `file` (made when missing), or in memory alone with `None`.
    pub fn open(file: Option<PathBuf>) -> std::io::Result<Self> {
        let saved: Saved = match &file {
            Some(f) if f.exists() => serde_json::from_slice(&std::fs::read(f)?)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", f.display())))?,
            _ => Saved::default(),
        };
        let store = Store {
            file,
            inner: Mutex::new(Inner {
                revision: saved.revision,
                objects: saved.objects.into_iter().collect(),
                log: VecDeque::new(),
                forgotten: saved.revision,
            }),
            changes: tokio::sync::broadcast::channel(1024).0,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let key = Key::new("namespaces", None, ns);
            if store.get(&key).is_none() {
                let object =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                store
                    .create(&key, object)
                    .map_err(|e| std::io::Error::other(e.message))?;
            }
        }
        crate::policy::ensure_defaults(&store).map_err(|e| std::io::Error::other(e.message))?;
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a change (at the object's resourceVersion) and tells the watches.
    fn changed(&self, inner: &mut Inner, kind: &'static str, key: &Key, object: &Value) {
        let revision = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(inner.revision);
        let change = Arc::new(Change {
            revision,
            kind,
            key: key.clone(),
            object: object.clone(),
        });
        if inner.log.len() >= LOG {
            if let Some(old) = inner.log.pop_front() {
                inner.forgotten = old.revision;
            }
        }
        inner.log.push_back(change.clone());
        let _ = self.changes.send(change);
    }

    /// The changes after revision `since` that the store still has, and a receiver of
    /// those to come (taken together, so none falls between them).
    pub fn changes_since(&self, since: u64) -> Result<(Vec<Arc<Change>>, Changes), TooOld> {
        let inner = self.lock();
        if since < inner.forgotten {
            return Err(TooOld {
                asked: since,
                oldest: inner.forgotten,
            });
        }
        let past = inner
            .log
            .iter()
            .filter(|c| c.revision > since)
            .cloned()
            .collect();
        Ok((past, self.changes.subscribe()))
    }

    /// The changes to come (for a control loop that only needs to wake up).
    pub fn subscribe(&self) -> Changes {
        self.changes.subscribe()
    }

    /// Changes the object at `key` with `change`, which answers whether it changed
    /// anything; a change is stored at once (with the generation bumped if the spec
    /// changed). `Ok(None)`: nothing to do, or no such object.
    pub fn modify(
        &self,
        key: &Key,
        change: impl FnOnce(&mut Value) -> bool,
    ) -> ApiResult<Option<Value>> {
        let mut inner = self.lock();
        let Some(current) = inner.objects.get(key).cloned() else {
            return Ok(None);
        };
        let mut object = current.clone();
        if !change(&mut object) {
            return Ok(None);
        }
        let revision = inner.revision + 1;
        object["metadata"]["generation"] = json!(next_generation(&current, &object));
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        self.commit(&mut inner, key, object, revision, false, "MODIFIED")
            .map(Some)
    }

    /// The current resourceVersion of the whole store.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        self.lock().objects.get(key).cloned()
    }

    /// [`Store::list`] and the revision it is at, taken together.
    pub fn list_at(&self, resource: &str, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|(k, _)| k.resource == resource && namespace.is_none_or(|n| k.namespace == n))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.revision)
    }

    /// The objects of `resource`, in `namespace` (or in all with `None`), by name.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|(k, _)| k.resource == resource && namespace.is_none_or(|n| k.namespace == n))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Stores a new object, filling in its uid, resourceVersion and creation time.
    pub fn create(&self, key: &Key, object: Value) -> ApiResult<Value> {
        self.create_as(key, object, false)
    }

    /// [`Store::create`], or with `dry_run` the object as it would be, stored nowhere.
    pub fn create_as(&self, key: &Key, mut object: Value, dry_run: bool) -> ApiResult<Value> {
        let mut inner = self.lock();
        if inner.objects.contains_key(key) {
            return Err(ApiError::already_exists(&key.resource, &key.name));
        }
        let revision = inner.revision + 1;
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
        meta.insert("name".into(), json!(key.name));
        if !key.namespace.is_empty() {
            meta.insert("namespace".into(), json!(key.namespace));
        }
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        self.commit(&mut inner, key, object, revision, dry_run, "ADDED")
    }

    /// Replaces an object, keeping its uid and creation time. When `object` names a
    /// resourceVersion it must be the current one (else 409, as kube-apiserver).
    pub fn replace(&self, key: &Key, mut object: Value, dry_run: bool) -> ApiResult<Value> {
        let mut inner = self.lock();
        let current = inner
            .objects
            .get(key)
            .ok_or_else(|| ApiError::not_found(&key.resource, &key.name))?;
        let meta_now = current["metadata"].clone();
        let asked = object["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from);
        if asked
            .as_ref()
            .is_some_and(|rv| Some(rv.as_str()) != meta_now["resourceVersion"].as_str())
        {
            return Err(ApiError {
                code: axum::http::StatusCode::CONFLICT,
                reason: "Conflict",
                message: format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    key.resource, key.name
                ),
            });
        }
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
        meta.insert("name".into(), json!(key.name));
        if !key.namespace.is_empty() {
            meta.insert("namespace".into(), json!(key.namespace));
        }
        for kept in ["uid", "creationTimestamp"] {
            meta.insert(kept.into(), meta_now[kept].clone());
        }
        object["metadata"]["generation"] = json!(next_generation(current, &object));
        let revision = inner.revision + 1;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        self.commit(&mut inner, key, object, revision, dry_run, "MODIFIED")
    }

    /// Stores `object` at `revision` (saved, then told to the watches as `change`), or
    /// with `dry_run` only answers it.
    fn commit(
        &self,
        inner: &mut Inner,
        key: &Key,
        object: Value,
        revision: u64,
        dry_run: bool,
        change: &'static str,
    ) -> ApiResult<Value> {
        if dry_run {
            return Ok(object);
        }
        inner.revision = revision;
        inner.objects.insert(key.clone(), object.clone());
        self.save(inner)?;
        self.changed(inner, change, key, &object);
        Ok(object)
    }

    /// Removes every object in `namespace` (the namespace itself is deleted).
    pub fn delete_namespaced(&self, namespace: &str) -> ApiResult<()> {
        let mut inner = self.lock();
        let keys: Vec<Key> = inner
            .objects
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect();
        let mut gone = Vec::new();
        for key in keys {
            if let Some(mut object) = inner.objects.remove(&key) {
                inner.revision += 1;
                object["metadata"]["resourceVersion"] = json!(inner.revision.to_string());
                gone.push((key, object));
            }
        }
        self.save(&inner)?;
        for (key, object) in gone {
            self.changed(&mut inner, "DELETED", &key, &object);
        }
        Ok(())
    }

    /// Removes an object; answers it as it was.
    pub fn delete(&self, key: &Key) -> ApiResult<Value> {
        let mut inner = self.lock();
        let mut object = inner
            .objects
            .remove(key)
            .ok_or_else(|| ApiError::not_found(&key.resource, &key.name))?;
        inner.revision += 1;
        object["metadata"]["resourceVersion"] = json!(inner.revision.to_string());
        self.save(&inner)?;
        self.changed(&mut inner, "DELETED", key, &object);
        Ok(object)
    }

    fn save(&self, inner: &Inner) -> ApiResult<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let saved = Saved {
            revision: inner.revision,
            objects: inner
                .objects
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, file))
            .map_err(|e| ApiError {
                code: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                reason: "InternalError",
                message: format!("saving the cluster's objects: {e}"),
            })
    }
}

/// The generation `object` gets replacing `current`: it counts changes of what is asked
/// for (spec), not of status.
fn next_generation(current: &Value, object: &Value) -> i64 {
    let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
    generation + i64::from(object.get("spec") != current.get("spec"))
}

/// `n` random characters for a generated name (as Kubernetes': no vowels, no
/// look-alikes).
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut b = vec![0u8; n];
    rand_fill(&mut b);
    b.iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect()
}

/// A random RFC 4122 version 4 uid.
fn new_uid() -> String {
    let mut b = [0u8; 16];
    rand_fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn rand_fill(b: &mut [u8]) {
    let _ = rustls::crypto::ring::default_provider()
        .secure_random
        .fill(b);
}

/// Now, as Kubernetes writes times (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Now, as a `MicroTime` (a Lease's `renewTime`): RFC 3339 with microseconds, UTC.
pub fn now_micros_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.microsecond();
    now.replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .map(|s| s.replace('Z', &format!(".{micros:06}Z")))
        .unwrap_or_default()
}

/// A time Kubernetes wrote (RFC 3339, any precision), as seconds since the epoch.
pub fn parse_time(s: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let stale = json!({"metadata": {"resourceVersion": made["metadata"]["resourceVersion"]}, "spec": {}});
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
}
