//! The API server of one master: TLS with client certificates required, HTTP/1.1 and
//! HTTP/2 (kubectl speaks both), the routes of [`router`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use crate::state::{Config, Shared};
use crate::store::Store;
use crate::tls::Identity;

/// A started API server.
pub struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    controllers: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, drops open connections and stops the control loop.
    pub fn stop(self) {
        self.task.abort();
        if let Some(c) = self.controllers {
            c.abort();
        }
    }
}

pub fn router(shared: Shared) -> Router {
    use crate::discovery;
    Router::new()
        .route("/version", get(discovery::version))
        .route("/api", get(discovery::api_versions))
        .route("/api/v1", get(discovery::core_resources))
        .route("/apis", get(discovery::api_groups))
        .route("/openapi/v2", get(discovery::openapi_v2))
        .route("/openapi/v3", get(discovery::openapi_v3_root))
        .route("/openapi/v3/api/v1", get(discovery::openapi_v3_core))
        .route("/apis/{group}/{version}", get(discovery::group_resources))
        .route(
            "/openapi/v3/apis/{group}/{version}",
            get(discovery::openapi_v3_group),
        )
        // The same handlers for the core group (/api/v1) and the named ones, cluster-wide
        // and in a namespace.
        .route("/api/v1/{resource}", collection())
        .route("/api/v1/{resource}/{name}", object())
        .route("/api/v1/namespaces/{namespace}/{resource}", collection())
        .route("/api/v1/namespaces/{namespace}/{resource}/{name}", object())
        .route(
            "/api/v1/namespaces/{namespace}/{resource}/{name}/{subresource}",
            subresource(),
        )
        .route("/api/v1/{resource}/{name}/{subresource}", subresource())
        .route("/apis/{group}/{version}/{resource}", collection())
        .route("/apis/{group}/{version}/{resource}/{name}", object())
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{resource}",
            collection(),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}",
            object(),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}/scale",
            get(crate::resources::scale_get)
                .put(crate::resources::scale_change)
                .patch(crate::resources::scale_change),
        )
        // What callers ask about themselves (created, never stored).
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            post(crate::reviews::access),
        )
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            post(crate::reviews::rules),
        )
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            post(crate::reviews::whoami),
        )
        .fallback(|| async {
            crate::status::ApiError::unsupported("the server could not find the requested resource")
        })
        // Every request, the fallback's too, is authorized before its handler.
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::authz::layer,
        ))
        .with_state(shared)
}

fn collection() -> axum::routing::MethodRouter<Shared> {
    get(crate::lists::list).post(crate::resources::create)
}

/// `status` of the kinds that have one, a pod's `log`, `exec`, … ([`crate::subresources`]).
fn subresource() -> axum::routing::MethodRouter<Shared> {
    use crate::subresources::handle;
    get(handle).post(handle).put(handle).patch(handle)
}

fn object() -> axum::routing::MethodRouter<Shared> {
    use crate::resources;
    get(resources::get)
        .put(resources::update)
        .patch(resources::patch)
        .delete(resources::delete)
}

/// Opens a cluster's object store (kept in `file`, or in memory with `None`).
pub fn open_store(file: Option<PathBuf>) -> Result<Arc<Store>, String> {
    let store = Store::open(file).map_err(|e| format!("the object store: {e}"))?;
    Ok(Arc::new(store))
}

/// A single API server with its own store and control loop (one master).
pub async fn start(config: Config) -> Result<Running, String> {
    start_with(config, Router::new()).await
}

/// [`start`], with `extra` routes served beside the API's by the same listener, TLS and
/// connections. Only `kubesim/benches/api` uses it, to serve a static copy of a list's
/// bytes as the baseline a list is measured against; routes added here are not
/// authorized (the client certificate is still required) and must not clash with the
/// API's.
pub async fn start_with(config: Config, extra: Router) -> Result<Running, String> {
    let store = open_store(config.store_file.clone())?;
    let controllers = crate::controllers::start(store.clone(), Default::default());
    let mut running = serve_with(config, store, extra).await?;
    running.controllers = Some(controllers);
    Ok(running)
}

/// Binds `config.listen` and serves `store` until [`Running::stop`]. The masters of one
/// cluster each serve the same store; its control loop runs once, beside them.
pub async fn serve(config: Config, store: Arc<Store>) -> Result<Running, String> {
    serve_with(config, store, Router::new()).await
}

/// [`serve`] with `extra` routes (see [`start_with`]).
async fn serve_with(config: Config, store: Arc<Store>, extra: Router) -> Result<Running, String> {
    let tls = crate::tls::server_config(&config.cert_pem, &config.key_pem, &config.ca_pem)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("binding {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = extra.merge(router(Shared {
        config: Arc::new(config),
        store,
    }));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        // The connections live in this set: stopping the server drops the set and with it
        // every open connection, as a stopped machine's would end.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                // Out of file descriptors, say: wait rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            while connections.try_join_next().is_some() {}
            let (acceptor, app) = (acceptor.clone(), app.clone());
            connections.spawn(async move {
                // A refused handshake (no or a foreign client certificate) ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Some(identity) = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(crate::tls::identity)
                else {
                    return;
                };
                serve_connection(tls, app, identity).await;
            });
        }
    });
    Ok(Running {
        addr,
        task,
        controllers: None,
    })
}

/// Serves one connection, each request carrying the caller's [`Identity`].
async fn serve_connection(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    app: Router,
    identity: Identity,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt;
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(identity.clone());
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}
