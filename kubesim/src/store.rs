//! The cluster's objects: one map from (resource, namespace, name) to the object as
//! JSON, with kube-apiserver's bookkeeping (uid, resourceVersion, creationTimestamp).
//! Every write is appended to the store's file ([`crate::journal`]) before it is
//! answered, so the objects survive a restart; the masters of one cluster share one
//! store. Objects are kept behind `Arc`s with their JSON written out once, when they
//! are stored ([`Stored`]): a list copies pointers, not objects, and answers JSON by
//! joining what was written.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use serde_json::{json, Value};

use crate::cidr::Cidr;
use crate::journal::Journal;
pub use crate::key::Key;
use crate::stamps::new_uid;
pub use crate::stamps::{now_micros_rfc3339, now_rfc3339, parse_time, random_suffix};
use crate::status::{ApiError, ApiResult};

/// An object as the store keeps it: shared (it never changes; a write stores a new
/// one), and as JSON.
#[derive(Clone, Debug)]
pub struct Stored {
    pub object: Arc<Value>,
    /// `object` written out.
    pub json: Bytes,
}

impl Stored {
    fn new(object: Value) -> Self {
        let json = serde_json::to_vec(&object).unwrap_or_default();
        Stored {
            object: Arc::new(object),
            json: json.into(),
        }
    }
}

pub struct Store {
    inner: Mutex<Inner>,
    /// The range Services' cluster IPs come from (the cluster's, whichever master
    /// answers): [`crate::cidr::DEFAULT_SERVICE_CIDR`] unless set.
    service_cidr: Mutex<Cidr>,
    changes: tokio::sync::broadcast::Sender<Arc<Change>>,
}

struct Inner {
    revision: u64,
    objects: BTreeMap<Key, Stored>,
    /// Where writes go, with `Some(file)`.
    journal: Option<Journal>,
    /// The latest changes, oldest first, for watches that resume from a revision.
    log: VecDeque<Arc<Change>>,
    /// Changes up to this revision are no longer in `log` (a watch from before it gets
    /// 410 Gone and lists again).
    forgotten: u64,
}

/// The store's objects as they are under its lock, for what a write must check against
/// the others as it is made (a free node port, the default StorageClass).
pub struct View<'a> {
    objects: &'a BTreeMap<Key, Stored>,
}

impl View<'_> {
    /// The objects of `resource`, in `namespace` (or in all with `None`), by name.
    pub fn list<'s>(
        &'s self,
        resource: &'s str,
        namespace: Option<&'s str>,
    ) -> impl Iterator<Item = &'s Value> + 's {
        self.objects
            .range(Key::new(resource, namespace, "")..)
            .take_while(move |(k, _)| {
                k.resource == resource && namespace.is_none_or(|n| k.namespace == n)
            })
            .map(|(_, s)| s.object.as_ref())
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key).map(|s| s.object.as_ref())
    }
}

/// What a write checks and fills in, under the store's lock: the other objects, the
/// stored object it replaces (`None` for a create) and the object to store.
pub type Check<'c> = &'c mut dyn FnMut(&View, Option<&Value>, &mut Value) -> ApiResult<()>;

/// How many changes a store keeps for watches to resume from.
pub const LOG: usize = 10_000;

/// How many changes a watch may fall behind before it ends (and its client watches
/// again from where it was).
const CHANNEL: usize = 8192;

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
        Self::open_compacting(file, crate::journal::COMPACT_AFTER)
    }

    /// [`Store::open`], its file compacted once what was appended passes
    /// `compact_after` bytes (and the last snapshot's size).
    pub(crate) fn open_compacting(
        file: Option<PathBuf>,
        compact_after: u64,
    ) -> std::io::Result<Self> {
        let (journal, loaded) = match &file {
            Some(f) => {
                let (j, l) = Journal::open(f, compact_after)?;
                (Some(j), l)
            }
            None => (None, Default::default()),
        };
        let store = Store {
            inner: Mutex::new(Inner {
                revision: loaded.revision,
                objects: loaded
                    .objects
                    .into_iter()
                    .map(|(k, v)| (k, Stored::new(v)))
                    .collect(),
                journal,
                log: VecDeque::new(),
                forgotten: loaded.revision,
            }),
            changes: tokio::sync::broadcast::channel(CHANNEL).0,
            service_cidr: Mutex::new(Cidr::default()),
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
        store
            .create_missing(crate::policy::defaults())
            .map_err(|e| std::io::Error::other(e.message))?;
        Ok(store)
    }

    /// Creates each of `objects` that the store lacks (one already there is left as it
    /// is).
    pub fn create_missing(&self, objects: impl IntoIterator<Item = (Key, Value)>) -> ApiResult<()> {
        for (key, object) in objects {
            if self.get(&key).is_none() {
                self.create(&key, object)?;
            }
        }
        Ok(())
    }

    /// The range Services' cluster IPs come from.
    pub fn service_cidr(&self) -> Cidr {
        *self.service_cidr.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the range Services' cluster IPs come from (kube-apiserver's
    /// `--service-cluster-ip-range`; `10.96.0.0/12` unless set). Services already made
    /// keep their addresses.
    pub fn set_service_cidr(&self, cidr: &str) -> Result<(), String> {
        let parsed = Cidr::parse(cidr)?;
        *self.service_cidr.lock().unwrap_or_else(|p| p.into_inner()) = parsed;
        Ok(())
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
        let Some(current) = inner.objects.get(key).map(|s| s.object.clone()) else {
            return Ok(None);
        };
        let mut object = Value::clone(&current);
        if !change(&mut object) {
            return Ok(None);
        }
        let revision = inner.revision + 1;
        let gone = crate::finalizers::on_update(&current, &mut object)?;
        object["metadata"]["generation"] = json!(next_generation(&current, &object));
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        if gone {
            return self.remove(&mut inner, key, object, revision).map(Some);
        }
        self.commit(&mut inner, key, object, revision, false, "MODIFIED")
            .map(Some)
    }

    /// Marks the object at `key` as being deleted (deletionTimestamp now, as a DELETE
    /// of an object with finalizers does), `change` applied too: for what the server
    /// itself deletes in steps (a namespace). `Ok(None)`: no such object.
    pub fn mark_deleted(
        &self,
        key: &Key,
        change: impl FnOnce(&mut Value),
    ) -> ApiResult<Option<Value>> {
        let mut inner = self.lock();
        let Some(current) = inner.objects.get(key).map(|s| s.object.clone()) else {
            return Ok(None);
        };
        let mut object = Value::clone(&current);
        object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        change(&mut object);
        let revision = inner.revision + 1;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        self.commit(&mut inner, key, object, revision, false, "MODIFIED")
            .map(Some)
    }

    /// The current resourceVersion of the whole store.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        self.lock()
            .objects
            .get(key)
            .map(|s| Value::clone(&s.object))
    }

    /// [`Store::list`] and the revision it is at, taken together.
    pub fn list_at(&self, resource: &str, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let (items, revision) = self.list_shared(resource, namespace);
        (items.iter().map(|o| Value::clone(o)).collect(), revision)
    }

    /// The objects of `resource`, in `namespace` (or in all with `None`), by name.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        self.list_at(resource, namespace).0
    }

    /// [`Store::list_at`] without copying the objects: they are shared with the store
    /// (and stay as they are when the store changes).
    pub fn list_shared(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        self.range(resource, namespace, |s| s.object.clone())
    }

    /// [`Store::list_shared`] with each object's JSON.
    pub fn list_stored(&self, resource: &str, namespace: Option<&str>) -> (Vec<Stored>, u64) {
        self.range(resource, namespace, Stored::clone)
    }

    fn range<T>(
        &self,
        resource: &str,
        namespace: Option<&str>,
        each: impl Fn(&Stored) -> T,
    ) -> (Vec<T>, u64) {
        let inner = self.lock();
        // Keys sort by resource, then namespace: the objects asked for are one range.
        let from = Key::new(resource, namespace, "");
        let items = inner
            .objects
            .range(from..)
            .take_while(|(k, _)| {
                k.resource == resource && namespace.is_none_or(|n| k.namespace == n)
            })
            .map(|(_, s)| each(s))
            .collect();
        (items, inner.revision)
    }

    /// Stores a new object, filling in its uid, resourceVersion and creation time.
    pub fn create(&self, key: &Key, object: Value) -> ApiResult<Value> {
        self.create_as(key, object, false)
    }

    /// [`Store::create`], or with `dry_run` the object as it would be, stored nowhere.
    pub fn create_as(&self, key: &Key, object: Value, dry_run: bool) -> ApiResult<Value> {
        self.create_checked(key, object, dry_run, &mut |_, _, _| Ok(()))
    }

    /// [`Store::create_as`], `check` first readying the object against the others.
    pub fn create_checked(
        &self,
        key: &Key,
        mut object: Value,
        dry_run: bool,
        check: Check,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        if inner.objects.contains_key(key) {
            return Err(ApiError::already_exists(&key.resource, &key.name));
        }
        check(
            &View {
                objects: &inner.objects,
            },
            None,
            &mut object,
        )?;
        // Deletion marks are the server's to set.
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
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
    pub fn replace(&self, key: &Key, object: Value, dry_run: bool) -> ApiResult<Value> {
        self.replace_checked(key, object, dry_run, &mut |_, _, _| Ok(()))
    }

    /// [`Store::replace`], `check` readying the object against the stored one and the
    /// others (after the resourceVersion is checked). The deletion marks stay as they
    /// are stored, and a write that leaves a terminating object without finalizers
    /// removes it ([`crate::finalizers`]).
    pub fn replace_checked(
        &self,
        key: &Key,
        mut object: Value,
        dry_run: bool,
        check: Check,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        let current = inner
            .objects
            .get(key)
            .ok_or_else(|| ApiError::not_found(&key.resource, &key.name))?
            .object
            .clone();
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
                details: None,
                message: format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    key.resource, key.name
                ),
            });
        }
        check(
            &View {
                objects: &inner.objects,
            },
            Some(&current),
            &mut object,
        )?;
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
        let gone = crate::finalizers::on_update(&current, &mut object)?;
        object["metadata"]["generation"] = json!(next_generation(&current, &object));
        let revision = inner.revision + 1;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        if gone && !dry_run {
            return self.remove(&mut inner, key, object, revision);
        }
        self.commit(&mut inner, key, object, revision, dry_run, "MODIFIED")
    }

    /// Stores `object` at `revision` (written to the file, then told to the watches as
    /// `change`), or with `dry_run` only answers it.
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
        let stored = Stored::new(object.clone());
        if let Some(j) = &mut inner.journal {
            j.put(revision, key, &stored.json).map_err(not_saved)?;
        }
        inner.revision = revision;
        inner.objects.insert(key.clone(), stored);
        self.changed(inner, change, key, &object);
        compact_if_due(inner);
        Ok(object)
    }

    /// Deletes every object in `namespace` as a DELETE of each would: those without
    /// finalizers go, the others are marked ([`crate::finalizers`]). Answers how many
    /// are left (marked, waiting for their finalizers). The namespace object itself is
    /// not touched (see [`crate::resources::delete`]).
    pub fn delete_namespaced(&self, namespace: &str) -> ApiResult<usize> {
        let mut inner = self.lock();
        let keys: Vec<Key> = inner
            .objects
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect();
        let mut left = 0;
        for key in keys {
            self.delete_locked(&mut inner, &key)?;
            left += usize::from(inner.objects.contains_key(&key));
        }
        Ok(left)
    }

    /// Deletes an object: without finalizers it goes (answered as it was); with them it
    /// stays, marked with a deletionTimestamp (answered as it now is).
    pub fn delete(&self, key: &Key) -> ApiResult<Value> {
        let mut inner = self.lock();
        self.delete_locked(&mut inner, key)
    }

    fn delete_locked(&self, inner: &mut Inner, key: &Key) -> ApiResult<Value> {
        let current = inner
            .objects
            .get(key)
            .ok_or_else(|| ApiError::not_found(&key.resource, &key.name))?
            .object
            .clone();
        let revision = inner.revision + 1;
        match crate::finalizers::on_delete(&current) {
            crate::finalizers::Deletion::Unchanged => Ok(Value::clone(&current)),
            crate::finalizers::Deletion::Mark(mut marked) => {
                marked["metadata"]["resourceVersion"] = json!(revision.to_string());
                self.commit(inner, key, marked, revision, false, "MODIFIED")
            }
            crate::finalizers::Deletion::Remove => {
                self.remove(inner, key, Value::clone(&current), revision)
            }
        }
    }

    /// Removes the object at `key` at `revision`; watchers see `object` DELETED.
    fn remove(
        &self,
        inner: &mut Inner,
        key: &Key,
        mut object: Value,
        revision: u64,
    ) -> ApiResult<Value> {
        if let Some(j) = &mut inner.journal {
            j.delete(revision, key).map_err(not_saved)?;
        }
        if inner.objects.remove(key).is_none() {
            return Err(ApiError::not_found(&key.resource, &key.name));
        }
        inner.revision = revision;
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        self.changed(inner, "DELETED", key, &object);
        compact_if_due(inner);
        Ok(object)
    }
}

/// A write the file refused: answered as kube-apiserver answers a storage error.
fn not_saved(e: std::io::Error) -> ApiError {
    ApiError {
        code: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        reason: "InternalError",
        details: None,
        message: format!("saving the cluster's objects: {e}"),
    }
}

/// Compacts the store's file when enough was appended (see [`crate::journal`]). A
/// failed compaction is only logged: the file is as it was and still appended to.
fn compact_if_due(inner: &mut Inner) {
    let Inner {
        journal,
        revision,
        objects,
        ..
    } = inner;
    if let Some(j) = journal.as_mut().filter(|j| j.wants_compaction()) {
        let written = objects.iter().map(|(k, s)| (k, &s.json[..]));
        if let Err(e) = j.compact(*revision, written) {
            tracing::warn!(error = %e, "compacting the cluster's objects failed");
        }
    }
}

/// The generation `object` gets replacing `current`: it counts changes of what is asked
/// for (spec), not of status.
fn next_generation(current: &Value, object: &Value) -> i64 {
    let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
    generation + i64::from(object.get("spec") != current.get("spec"))
}

#[cfg(test)]
mod tests;
