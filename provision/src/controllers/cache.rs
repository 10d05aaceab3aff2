//! What a controller knows of one collection of a cluster: listed once, then kept by a
//! watch (an informer, as client-go calls it). Every change wakes the cluster's
//! reconciler; nothing is polled.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::kube::{Event, KubeClient};

/// The objects of one collection by namespace/name, and whether the first list has
/// arrived (a reconciler never acts on half a picture).
pub struct Cache<T> {
    objects: Mutex<(bool, BTreeMap<String, T>)>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            objects: Mutex::new((false, BTreeMap::new())),
        }
    }
}

fn key_of<T: Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>>(
    o: &T,
) -> String {
    let m = o.metadata();
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or(""),
        m.name.as_deref().unwrap_or("")
    )
}

impl<T> Cache<T>
where
    T: Clone
        + DeserializeOwned
        + Send
        + 'static
        + Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
{
    /// Every object now; `None` until the first list.
    pub fn snapshot(&self) -> Option<Vec<T>> {
        let guard = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.then(|| guard.1.values().cloned().collect())
    }

    fn replace(&self, items: Vec<T>) {
        let mut guard = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 = true;
        guard.1 = items.into_iter().map(|o| (key_of(&o), o)).collect();
    }

    fn apply(&self, event: Event<T>) {
        let mut guard = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Applied(o) => {
                guard.1.insert(key_of(&o), o);
            }
            Event::Deleted(o) => {
                guard.1.remove(&key_of(&o));
            }
            Event::Bookmark(_) => {}
        }
    }

    /// Lists `path`, then follows it by watches until the task is aborted, waking
    /// `changed` on every change. A watch the server ends is started again from the
    /// last version seen; an error lists again after a pause. Returns after three
    /// lists in a row fail (the client's certificate may be of a rotated CA): the
    /// caller makes a new client.
    pub async fn follow(
        self: Arc<Self>,
        kube: Arc<KubeClient>,
        path: String,
        changed: Arc<Notify>,
    ) {
        let mut failed = 0;
        loop {
            let version = match kube.list::<T>(&path).await {
                Ok((items, version)) => {
                    failed = 0;
                    self.replace(items);
                    changed.notify_one();
                    version
                }
                Err(e) => {
                    failed += 1;
                    tracing::debug!(path, error = %e, "list failed");
                    if failed >= 3 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            let mut version = version;
            'watching: loop {
                let mut watch = match kube.watch(&path, &version).await {
                    Ok(w) => w,
                    Err(_) => break 'watching,
                };
                loop {
                    match watch.next::<T>().await {
                        None => continue 'watching,
                        Some(Err(_)) => break 'watching,
                        Some(Ok(event)) => {
                            let seen = match &event {
                                Event::Applied(o) | Event::Deleted(o) => {
                                    o.metadata().resource_version.clone()
                                }
                                Event::Bookmark(v) => Some(v.clone()),
                            };
                            if let Some(v) = seen.filter(|v| !v.is_empty()) {
                                version = v;
                            }
                            let wakes = !matches!(event, Event::Bookmark(_));
                            self.apply(event);
                            if wakes {
                                changed.notify_one();
                            }
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
