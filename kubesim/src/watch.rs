//! Lists' selectors and watches. A watch answers newline-delimited events (`ADDED`,
//! `MODIFIED`, `DELETED`) from a resourceVersion on, or from the current objects when it
//! names none; one older than what the store keeps gets an `ERROR` event with a 410
//! Status (`Expired`), as kube-apiserver, and the client lists again. A watch that falls
//! behind the store's announcements (a burst of writes) catches up from the store's
//! recent changes; only one that falls behind those too ends.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{json, Value};

use crate::store::{Change, Changes, Key, Store};

/// `fieldSelector` and `labelSelector` of a list or watch (equality only).
#[derive(Default, Debug)]
pub struct Selector {
    fields: Vec<(String, String, bool)>,
    labels: Vec<(String, Option<String>, bool)>,
}

impl Selector {
    pub fn parse(fields: Option<&str>, labels: Option<&str>) -> Result<Self, String> {
        let mut s = Selector::default();
        for term in fields.unwrap_or("").split(',').filter(|t| !t.is_empty()) {
            let (k, v, eq) =
                split(term).ok_or_else(|| format!("invalid field selector: {term}"))?;
            if !matches!(k.as_str(), "metadata.name" | "metadata.namespace") {
                return Err(format!("field label not supported: {k}"));
            }
            s.fields.push((k, v.unwrap_or_default(), eq));
        }
        for term in labels.unwrap_or("").split(',').filter(|t| !t.is_empty()) {
            let term = term.trim();
            match split(term) {
                Some((k, v, eq)) => s.labels.push((k, v, eq)),
                None if term.starts_with('!') => {
                    s.labels.push((term[1..].to_string(), None, false))
                }
                None => s.labels.push((term.to_string(), None, true)),
            }
        }
        Ok(s)
    }

    pub fn matches(&self, o: &Value) -> bool {
        let meta = &o["metadata"];
        self.fields.iter().all(|(k, v, eq)| {
            let have = meta[k.trim_start_matches("metadata.")]
                .as_str()
                .unwrap_or("");
            (have == v) == *eq
        }) && self.labels.iter().all(|(k, v, eq)| {
            let have = meta["labels"][k.as_str()].as_str();
            match v {
                Some(v) => (have == Some(v.as_str())) == *eq,
                None => have.is_some() == *eq,
            }
        })
    }
}

/// `k=v`, `k==v`, `k!=v` as (k, v, equal?).
fn split(term: &str) -> Option<(String, Option<String>, bool)> {
    if let Some((k, v)) = term.split_once("!=") {
        return Some((k.trim().into(), Some(v.trim().into()), false));
    }
    let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
    Some((k.trim().into(), Some(v.trim().into()), true))
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut b = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// What a watch is about: the store name of a kind, maybe a namespace, a selector.
pub struct Scope {
    pub resource: String,
    pub namespace: Option<String>,
    pub selector: Selector,
}

impl Scope {
    fn covers(&self, key: &Key, object: &Value) -> bool {
        key.resource == self.resource
            && self.namespace.as_ref().is_none_or(|n| &key.namespace == n)
            && self.selector.matches(object)
    }
}

/// Streams `initial` (as ADDED), then the store's `past` and `coming` changes (those
/// after revision `since`) in `scope`, for `timeout` at most.
pub fn stream(
    store: Arc<Store>,
    scope: Scope,
    initial: Vec<Arc<Value>>,
    (since, past, mut coming): (u64, Vec<Arc<Change>>, Changes),
    timeout: std::time::Duration,
) -> Response {
    use tokio::sync::broadcast::error::RecvError;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut last = since;
        for o in &initial {
            if tx.send(line("ADDED", o)).await.is_err() {
                return;
            }
        }
        let send = |c: &Change| {
            scope
                .covers(&c.key, &c.object)
                .then(|| line(c.kind, &c.object))
        };
        for c in past {
            last = c.revision;
            if let Some(l) = send(&c) {
                if tx.send(l).await.is_err() {
                    return;
                }
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let missed = tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                got = coming.recv() => match got {
                    Ok(c) if c.revision > last => vec![c],
                    Ok(_) => continue,
                    // Fell behind the announcements: what was missed, from the store's
                    // recent changes (and announcements from then on).
                    Err(RecvError::Lagged(_)) => match store.changes_since(last) {
                        Ok((missed, now)) => {
                            coming = now;
                            missed
                        }
                        // Behind those too: end, the client watches again.
                        Err(_) => return,
                    },
                    Err(RecvError::Closed) => return,
                },
            };
            for c in missed {
                last = c.revision;
                if let Some(l) = send(&c) {
                    if tx.send(l).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    response(Body::from_stream(body))
}

/// A watch that cannot start: one ERROR event with a 410 Status.
pub fn expired(asked: u64, oldest: u64) -> Response {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {asked} ({oldest})"),
        "reason": "Expired", "code": 410,
    });
    response(Body::from(line("ERROR", &status)))
}

fn response(body: Body) -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(body)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::store::{Key, Store};

    #[tokio::test]
    async fn a_watch_behind_a_burst_catches_up_from_the_store() {
        use futures_util::StreamExt;
        let store = Arc::new(Store::open(None).unwrap());
        let since = store.revision();
        let scope = super::Scope {
            resource: "configmaps".into(),
            namespace: Some("default".into()),
            selector: Default::default(),
        };
        let (past, coming) = store.changes_since(since).unwrap();
        let timeout = std::time::Duration::from_secs(5);
        let body = super::stream(
            store.clone(),
            scope,
            Vec::new(),
            (since, past, coming),
            timeout,
        );
        // More writes than the announcements hold, before the watch reads any.
        let writes = 9_000;
        for i in 0..writes {
            let key = Key::new("configmaps", Some("default"), &format!("c{i}"));
            let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
            store.create(&key, map).unwrap();
        }
        let mut stream = body.into_body().into_data_stream();
        let (mut events, mut buf) = (Vec::new(), Vec::new());
        while events.len() < writes {
            let chunk = stream.next().await.expect("the watch ended early").unwrap();
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                events.push(serde_json::from_slice::<serde_json::Value>(&line).unwrap());
            }
        }
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["type"], "ADDED");
            assert_eq!(
                e["object"]["metadata"]["name"],
                format!("c{i}"),
                "in order, none lost"
            );
        }
    }

    #[test]
    fn selectors_match_as_kubernetes_does() {
        let o = json!({"metadata": {"name": "web", "namespace": "a", "labels": {"app": "web", "tier": "front"}}});
        let s = |f: Option<&str>, l: Option<&str>| super::Selector::parse(f, l).unwrap();
        assert!(s(Some("metadata.name=web"), None).matches(&o));
        assert!(!s(Some("metadata.name!=web"), None).matches(&o));
        assert!(s(None, Some("app=web,tier")).matches(&o));
        assert!(!s(None, Some("app=web,!tier")).matches(&o));
        assert!(!s(None, Some("app!=web")).matches(&o));
        assert!(super::Selector::parse(Some("spec.x=1"), None).is_err());
    }
}
