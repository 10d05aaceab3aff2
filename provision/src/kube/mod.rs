//! Shipyard as a client of its clusters' Kubernetes APIs, the way any Kubernetes client
//! reaches them: HTTPS to the API's VIP, the cluster CA as the only trust root, and a
//! short-lived client certificate of Shipyard's own (`shipyard:provisioner`, group
//! `system:masters`), signed by the cluster's CA when needed. Nothing here knows what
//! serves the API; the same code talks to a real cluster.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::pki::SecretKey;
use crate::{Error, Result, Store};

mod watch;
pub use watch::{Event, Watch};

/// Shipyard's user name in its clusters.
pub const PROVISIONER: &str = "shipyard:provisioner";
/// How long Shipyard's own certificate lives (one per client).
const CLIENT_CERT_MS: i64 = 3_600_000;

/// A client of one cluster's API.
pub struct KubeClient {
    http: reqwest::Client,
    base: String,
}

/// What a call to the API came to.
#[derive(Debug)]
pub enum KubeError {
    /// No answer (masters down, the VIP not ready yet): try again later.
    Unreachable(String),
    /// The API answered with an error status.
    Status(u16, String),
}

impl std::fmt::Display for KubeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeError::Unreachable(e) => write!(f, "the cluster's API does not answer: {e}"),
            KubeError::Status(code, message) => {
                write!(f, "the cluster's API answered {code}: {message}")
            }
        }
    }
}

impl KubeError {
    /// Whether the answer was 404 (the object is not there).
    pub fn is_not_found(&self) -> bool {
        matches!(self, KubeError::Status(404, _))
    }

    /// Whether trying again later can help: no answer, a conflict, or the server's own
    /// trouble.
    pub fn is_transient(&self) -> bool {
        match self {
            KubeError::Unreachable(_) => true,
            KubeError::Status(code, _) => *code == 409 || *code == 429 || *code >= 500,
        }
    }
}

impl From<KubeError> for crate::ops::StepError {
    fn from(e: KubeError) -> crate::ops::StepError {
        if e.is_transient() {
            crate::ops::StepError::retryable(e.to_string())
        } else {
            crate::ops::StepError::permanent(e.to_string())
        }
    }
}

impl From<KubeError> for Error {
    /// The cluster is not in a state to do it now (409), never Shipyard's own failure.
    fn from(e: KubeError) -> Error {
        Error::Conflict(e.to_string())
    }
}

impl KubeClient {
    /// A client for the cluster's API at `api_address` (`vip:6443`).
    pub async fn connect(
        store: &Store,
        key: &SecretKey,
        cluster_id: &str,
        api_address: &str,
    ) -> Result<KubeClient> {
        Self::build(store, key, cluster_id, api_address, None).await
    }

    /// A client for one master's API at `address:6443`, checking that its certificate
    /// is for `name` (the master's own name; a master's VIP certificate names both).
    pub async fn connect_named(
        store: &Store,
        key: &SecretKey,
        cluster_id: &str,
        name: &str,
        address: &str,
    ) -> Result<KubeClient> {
        let ip: std::net::IpAddr = address
            .parse()
            .map_err(|_| Error::internal(format!("{name} has no IP address: {address}")))?;
        Self::build(
            store,
            key,
            cluster_id,
            &format!("{name}:6443"),
            Some((name, std::net::SocketAddr::new(ip, 6443))),
        )
        .await
    }

    async fn build(
        store: &Store,
        key: &SecretKey,
        cluster_id: &str,
        api_address: &str,
        resolve: Option<(&str, std::net::SocketAddr)>,
    ) -> Result<KubeClient> {
        let (ca, cert) = crate::pki::client_cert(
            store,
            key,
            cluster_id,
            PROVISIONER,
            "system:masters",
            CLIENT_CERT_MS,
        )
        .await?;
        let root =
            reqwest::Certificate::from_pem(ca.cert_pem.as_bytes()).map_err(Error::internal)?;
        let identity =
            reqwest::Identity::from_pem(format!("{}\n{}", cert.cert_pem, cert.key_pem).as_bytes())
                .map_err(Error::internal)?;
        let mut http = reqwest::Client::builder();
        if let Some((name, at)) = resolve {
            http = http.resolve(name, at);
        }
        let http = http
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root)
            .identity(identity)
            .no_proxy()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(Error::internal)?;
        Ok(KubeClient {
            http,
            base: format!("https://{api_address}"),
        })
    }

    /// A client for the cluster `cluster_id`, at the API address the database has.
    pub async fn for_cluster(
        store: &Store,
        key: &SecretKey,
        cluster_id: &str,
    ) -> Result<KubeClient> {
        let cluster = store.cluster_by_id(cluster_id).await?;
        let api = cluster.api_address.ok_or_else(|| {
            Error::Conflict(format!("The cluster {cluster_id} has no API address yet."))
        })?;
        KubeClient::connect(store, key, cluster_id, &api).await
    }

    async fn answer<T: DeserializeOwned>(
        r: std::result::Result<reqwest::Response, reqwest::Error>,
    ) -> std::result::Result<T, KubeError> {
        let r = r.map_err(|e| KubeError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        if !(200..300).contains(&status) {
            let body: Value = r.json().await.unwrap_or_default();
            let message = body["message"].as_str().unwrap_or("").to_string();
            return Err(KubeError::Status(status, message));
        }
        r.json()
            .await
            .map_err(|e| KubeError::Unreachable(format!("an unreadable answer: {e}")))
    }

    /// `GET path`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> std::result::Result<T, KubeError> {
        Self::answer(self.http.get(format!("{}{path}", self.base)).send().await).await
    }

    /// `GET` of a collection: its items and the list's resourceVersion (where a watch
    /// starts).
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> std::result::Result<(Vec<T>, String), KubeError> {
        #[derive(serde::Deserialize)]
        struct List<T> {
            #[serde(default)]
            metadata: ListMeta,
            items: Vec<T>,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct ListMeta {
            #[serde(default)]
            resource_version: String,
        }
        let list: List<T> = self.get(path).await?;
        Ok((list.items, list.metadata.resource_version))
    }

    /// A watch of a collection from `resource_version`: the server ends it after
    /// `timeoutSeconds`, and the caller starts another from the last version seen.
    pub async fn watch(
        &self,
        path: &str,
        resource_version: &str,
    ) -> std::result::Result<Watch, KubeError> {
        let url = format!(
            "{}{path}?watch=true&allowWatchBookmarks=true&timeoutSeconds={}&resourceVersion={resource_version}",
            self.base,
            watch::SERVER_TIMEOUT.as_secs()
        );
        let r = self
            .http
            .get(url)
            // Longer than the server's own end of the watch.
            .timeout(watch::SERVER_TIMEOUT + Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| KubeError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        if !(200..300).contains(&status) {
            let body: Value = r.json().await.unwrap_or_default();
            let message = body["message"].as_str().unwrap_or("").to_string();
            return Err(KubeError::Status(status, message));
        }
        Ok(Watch::new(r))
    }

    /// `POST object` to `collection`; an object that already exists answers 409.
    pub async fn create(
        &self,
        collection: &str,
        object: &Value,
    ) -> std::result::Result<Value, KubeError> {
        let url = format!("{}{collection}", self.base);
        Self::answer(self.http.post(&url).json(object).send().await).await
    }

    /// A JSON merge patch (RFC 7386) of the object at `path` (a `/status` path writes
    /// the status subresource).
    pub async fn merge_patch(
        &self,
        path: &str,
        patch: &Value,
    ) -> std::result::Result<Value, KubeError> {
        let url = format!("{}{path}", self.base);
        let body = serde_json::to_vec(patch).map_err(|e| KubeError::Status(400, e.to_string()))?;
        Self::answer(
            self.http
                .patch(&url)
                .header("content-type", "application/merge-patch+json")
                .body(body)
                .send()
                .await,
        )
        .await
    }

    /// `DELETE path`; an object already gone is not an error.
    pub async fn delete(&self, path: &str) -> std::result::Result<(), KubeError> {
        let url = format!("{}{path}", self.base);
        match Self::answer::<Value>(self.http.delete(&url).send().await).await {
            Ok(_) | Err(KubeError::Status(404, _)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Puts `finalizer` on the object at `path` if it is still the one with `uid` (over
    /// the version read, so a change meanwhile is not lost); gone or another object:
    /// nothing to do.
    pub async fn add_finalizer(
        &self,
        path: &str,
        uid: &str,
        finalizer: &str,
    ) -> std::result::Result<(), KubeError> {
        let now: Value = match self.get(path).await {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        if now["metadata"]["uid"] != uid {
            return Ok(());
        }
        let mut finalizers = finalizers_of(&now);
        if finalizers.iter().any(|f| f == finalizer) {
            return Ok(());
        }
        finalizers.push(finalizer.to_string());
        self.merge_patch(
            path,
            &serde_json::json!({"metadata": {
                "finalizers": finalizers,
                "resourceVersion": now["metadata"]["resourceVersion"],
            }}),
        )
        .await?;
        Ok(())
    }

    /// Makes `object` exactly what is stored under `collection`/`name`: replaced (PUT)
    /// when it exists, created otherwise. Fields absent from `object` are gone after.
    pub async fn replace(
        &self,
        collection: &str,
        name: &str,
        object: &Value,
    ) -> std::result::Result<Value, KubeError> {
        let url = format!("{}{collection}/{name}", self.base);
        match Self::answer(self.http.put(&url).json(object).send().await).await {
            Err(KubeError::Status(404, _)) => {
                let url = format!("{}{collection}", self.base);
                Self::answer(self.http.post(&url).json(object).send().await).await
            }
            other => other,
        }
    }
}

/// The finalizers an object carries.
pub fn finalizers_of(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata patch that takes `finalizer` off `object`, over the version read (a
/// finalizer added meanwhile is kept); `None` when it does not carry it.
pub fn without_finalizer(
    object: &Value,
    finalizer: &str,
) -> Option<serde_json::Map<String, Value>> {
    let finalizers = finalizers_of(object);
    if !finalizers.iter().any(|f| f == finalizer) {
        return None;
    }
    let rest: Vec<String> = finalizers.into_iter().filter(|f| f != finalizer).collect();
    let mut meta = serde_json::Map::new();
    meta.insert("finalizers".into(), rest.into());
    meta.insert(
        "resourceVersion".into(),
        object["metadata"]["resourceVersion"].clone(),
    );
    Some(meta)
}
