//! Server-only glue between server functions and the core: the shared state, who is
//! asking, and the status code of an error.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use http::{HeaderValue, StatusCode};
use leptos::prelude::*;
use leptos::reactive::computed::ScopedFuture;
use leptos_axum::ResponseOptions;
use provision::domain::{Actor, Credential, User};
use provision::Store;
use tower_sessions::Session;

use crate::error::AppError;

/// Session keys.
pub const SESSION_USER: &str = "uid";
pub const SESSION_AUTH_AT: &str = "auth_at";
pub const SESSION_PROJECT: &str = "project_id";
/// The user's `session_epoch` when the session began: once it moves on (a password
/// change), the session is over.
pub const SESSION_EPOCH: &str = "epoch";
/// When the session was last written for being used (Unix ms).
pub const SESSION_SEEN_AT: &str = "seen_at";

/// Keeps an active session alive. tower-sessions saves a session (and so pushes its
/// idle expiry forward) only when its data changes: without this, a session ended
/// `--session-idle-minutes` after sign-in however busy its user was. Written at most
/// once a minute, so page views stay reads.
pub async fn touch(session: &Session) {
    let now = provision::now_ms();
    let seen = session
        .get::<i64>(SESSION_SEEN_AT)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    if now - seen > 60_000 {
        let _ = session.insert(SESSION_SEEN_AT, now).await;
    }
}

/// The Content-Security-Policy of a page, whose inline scripts (the hydration
/// bootstrap and the streamed resources) carry `nonce`: scripts only from this origin
/// or with this request's nonce, WebAssembly compiled from them (`'wasm-unsafe-eval'`,
/// no `eval` of strings), requests and forms only to this origin, no plugins, no
/// framing. Styles may be inline (the views set a few `style` attributes).
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
    )
}

/// Sets the page's [`content_security_policy`] with the nonce leptos_axum made for
/// this render (called from the shell).
pub fn page_security_policy() {
    let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
    else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(&nonce)) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
    }
}

/// Header set on every response whose status a server function chose itself.
pub const ERROR_HEADER: &str = "x-shipyard-error";

/// What the web layer needs from the server process.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<WebConfig>,
    /// Runs operations (clusters, node groups, services, volumes).
    pub engine: provision::ops::Engine,
    /// The cloud clusters are made on.
    pub cloud: Arc<dyn provision::cloud::Cloud>,
    /// Seals and opens the cluster CAs' keys (kubeconfigs).
    pub secret_key: Arc<provision::pki::SecretKey>,
    /// New API tokens' secrets on their way to the page that shows them.
    pub handoff: Arc<crate::secret_handoff::SecretHandoff>,
}

#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy).
    /// X-Forwarded-For entries (from the right) that trusted proxies appended; 0 trusts
    /// none (see [`client_address`]).
    pub forwarded_hops: usize,
    /// A session ends this long after sign-in, however active it is.
    pub session_absolute_ms: i64,
    /// Sign-ups allowed from one client address per hour.
    pub signups_per_address: i64,
}

/// The request's root owner (where the integration provides the request's parts,
/// response options, state and memo), known to a resource's fetch so that it runs with
/// them even after the owner that made the resource is gone (see `crate::load`). Held
/// weakly: the resource lives in the root's tree, and a strong reference back would
/// keep a request whose client went away alive for good.
#[derive(Clone)]
pub struct RequestScope {
    root: Option<leptos::reactive::owner::WeakOwner>,
}

impl RequestScope {
    pub fn capture() -> Self {
        let mut root = Owner::current();
        while let Some(parent) = root.as_ref().and_then(Owner::parent) {
            root = Some(parent);
        }
        RequestScope {
            root: root.as_ref().map(Owner::downgrade),
        }
    }

    /// `f` run under the request's root owner (what it makes lives as long as the
    /// request), or under the current owner if the request has gone.
    pub fn with_root<R>(&self, f: impl FnOnce() -> R) -> R {
        match self.root.as_ref().and_then(|root| root.upgrade()) {
            Some(root) => root.with(f),
            None => f(),
        }
    }

    /// `fut`, polled under an owner of its own below the request's root (the future
    /// holds that owner while it runs).
    pub fn run<F: std::future::Future>(&self, fut: F) -> ScopedFuture<F> {
        let owner = self
            .root
            .as_ref()
            .and_then(|root| root.upgrade())
            .map(|root| root.child())
            .unwrap_or_default();
        ScopedFuture {
            owner,
            observer: None,
            fut,
        }
    }
}

/// What one request has already read of the signed-in user, so that the page and each
/// of its server functions (the session, the list, ...) do not read it again. Provided
/// afresh for every request; keyed by user id, so a sign-in within the request misses.
/// The user and their projects come in one query ([`Store::user_with_projects`]).
///
/// It also holds each resource's fetch ([`RequestMemo::fetch_once`]): a `<Suspense>`
/// walks its children again while it waits and each walk makes the page's resources
/// anew, so without it a page's data was fetched once per walk, and the HTML could come
/// from one fetch and the data the browser hydrates with from another (a cluster that
/// moved on in between: a hydration error).
#[derive(Clone, Default)]
pub struct RequestMemo {
    user: Arc<tokio::sync::OnceCell<(String, Option<UserWithProjects>)>>,
    fetches: Arc<std::sync::Mutex<Vec<Fetch>>>,
    resources: Arc<std::sync::Mutex<Vec<Fetch>>>,
}

/// A resource's fetch: where the resource is made, and `(source, shared future)`.
type Fetch = (
    &'static std::panic::Location<'static>,
    Box<dyn std::any::Any + Send + Sync>,
);

/// The value kept in `made` for the place `at` and `source`, or the one `make` makes
/// and keeps. `make` runs without the lock held (it may ask for another); if another
/// walk kept one meanwhile, that one wins.
fn once<S, V>(
    made: &std::sync::Mutex<Vec<Fetch>>,
    at: &'static std::panic::Location<'static>,
    source: S,
    make: impl FnOnce(S) -> V,
) -> V
where
    S: Clone + PartialEq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let known = |made: &[Fetch]| {
        made.iter().find_map(|(made_at, entry)| {
            (*made_at == at)
                .then(|| entry.downcast_ref::<(S, V)>())
                .flatten()
                .filter(|(s, _)| *s == source)
                .map(|(_, v)| v.clone())
        })
    };
    let lock = || made.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = known(&lock()) {
        return v;
    }
    let v = make(source.clone());
    let mut kept = lock();
    if let Some(first) = known(&kept) {
        return first;
    }
    kept.push((at, Box::new((source, v.clone()))));
    v
}

/// A fetch that every walk of the page awaits together.
pub type SharedFetch<T> = futures::future::Shared<futures::future::BoxFuture<'static, T>>;

use provision::store::UserWithProjects;

impl RequestMemo {
    /// The fetch of the resource made `at` for `source`: started the first time it is
    /// asked for in this request, shared by every later walk that asks again.
    pub fn fetch_once<S, T, Fut>(
        &self,
        at: &'static std::panic::Location<'static>,
        source: S,
        fetch: impl FnOnce(S) -> Fut,
    ) -> SharedFetch<T>
    where
        S: Clone + PartialEq + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        use futures::FutureExt;
        // (making a fetch may run code that asks for another)
        once(&self.fetches, at, source, |s| fetch(s).boxed().shared())
    }

    /// The resource made `at` for `source` in this request: made by `make` the first
    /// time, the same one for every later walk. Each resource made on the server sends
    /// its data with the page; one made on every walk sent the page's data up to three
    /// times (the browser hydrates with the first, made in the order it makes its own).
    pub fn resource_once<S, R>(
        &self,
        at: &'static std::panic::Location<'static>,
        source: S,
        make: impl FnOnce() -> R,
    ) -> R
    where
        S: Clone + PartialEq + Send + Sync + 'static,
        R: Clone + Send + Sync + 'static,
    {
        // (making a resource runs its first fetch)
        once(&self.resources, at, source, |_| make())
    }

    async fn read(&self, store: &Store, uid: &str) -> Result<Option<UserWithProjects>, AppError> {
        read_once(&self.user, uid, || store.user_with_projects(uid)).await
    }

    async fn user(&self, store: &Store, uid: &str) -> Result<Option<User>, AppError> {
        Ok(self.read(store, uid).await?.map(|(user, _)| user))
    }

    async fn projects(
        &self,
        store: &Store,
        uid: &str,
    ) -> Result<Vec<provision::domain::ProjectWithRole>, AppError> {
        Ok(self
            .read(store, uid)
            .await?
            .map(|(_, projects)| projects)
            .unwrap_or_default())
    }
}

/// `read()` for `uid`, at most once per request (a different user reads afresh).
async fn read_once<T, F, Fut>(
    cell: &tokio::sync::OnceCell<(String, T)>,
    uid: &str,
    read: F,
) -> Result<T, AppError>
where
    T: Clone,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = provision::Result<T>>,
{
    let (id, value) = cell
        .get_or_try_init(|| async { Ok::<_, AppError>((uid.to_string(), read().await?)) })
        .await?;
    if id == uid {
        Ok(value.clone())
    } else {
        Ok(read().await?)
    }
}

/// The request's memo (a fresh one when none was provided).
pub fn memo() -> RequestMemo {
    use_context::<RequestMemo>().unwrap_or_default()
}

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::Internal("no application state".into()))
}

/// Sets the response status (and Retry-After) for an error a server function returns.
pub fn set_error_status(err: &AppError) {
    if let Some(res) = use_context::<ResponseOptions>() {
        res.set_status(StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST));
        res.insert_header(
            http::HeaderName::from_static(ERROR_HEADER),
            HeaderValue::from_static("1"),
        );
        if let AppError::Throttled {
            retry_after_secs, ..
        } = err
        {
            res.insert_header(
                http::header::RETRY_AFTER,
                HeaderValue::from(*retry_after_secs),
            );
        }
    }
}

/// The client's address, for throttling and the audit log.
pub async fn client_addr() -> String {
    let hops = state().map(|s| s.config.forwarded_hops).unwrap_or(0);
    let parts = use_context::<http::request::Parts>();
    let forwarded = parts.as_ref().and_then(|p| {
        p.headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
    });
    let peer = match leptos_axum::extract::<ConnectInfo<SocketAddr>>().await {
        Ok(ConnectInfo(addr)) => Some(addr.ip()),
        Err(_) => None,
    };
    client_address(peer, forwarded, hops)
}

/// The client's address: with `hops` trusted proxies in front, the X-Forwarded-For
/// entry `hops` places from the right (each proxy appends the address it saw, so what
/// stands left of that is whatever the client sent); else the connection's peer. A
/// list shorter than `hops` was all appended by trusted proxies: its first entry.
pub fn client_address(
    peer: Option<std::net::IpAddr>,
    forwarded_for: Option<&str>,
    hops: usize,
) -> String {
    let peer = || peer.map_or_else(|| "unknown".to_string(), |p| p.to_string());
    if hops == 0 {
        return peer();
    }
    let Some(list) = forwarded_for else {
        return peer();
    };
    let entries: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let Some(chosen) = entries
        .len()
        .checked_sub(hops)
        .map_or(entries.first(), |i| entries.get(i))
    else {
        return peer();
    };
    match chosen.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => peer(),
    }
}

#[cfg(test)]
mod client_address_tests {
    use super::client_address;

    #[test]
    fn the_trusted_proxy_decides_not_the_client() {
        let peer = Some("127.0.0.1".parse().unwrap());
        // No trust: the peer, whatever the header says.
        assert_eq!(client_address(peer, Some("6.6.6.6"), 0), "127.0.0.1");
        // One proxy: the entry it appended (the last), not the client's claim before it.
        assert_eq!(
            client_address(peer, Some("6.6.6.6, 203.0.113.7"), 1),
            "203.0.113.7"
        );
        assert_eq!(client_address(peer, Some("203.0.113.7"), 1), "203.0.113.7");
        // Two proxies: the second from the right.
        assert_eq!(
            client_address(peer, Some("6.6.6.6, 203.0.113.7, 10.0.0.2"), 2),
            "203.0.113.7"
        );
        assert_eq!(client_address(peer, Some("203.0.113.7"), 2), "203.0.113.7");
        // Nothing usable: the peer.
        assert_eq!(client_address(peer, None, 1), "127.0.0.1");
        assert_eq!(client_address(peer, Some(" , "), 1), "127.0.0.1");
        assert_eq!(client_address(peer, Some("not-an-ip"), 1), "127.0.0.1");
        assert_eq!(client_address(None, None, 0), "unknown");
    }
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|_| AppError::Internal("no session layer".into()))
}

fn session_err(e: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %e, "session store");
    AppError::Internal("Session storage failed; try again.".into())
}

/// What a session says about its user; the console and the REST API both judge a
/// session by it.
pub struct SessionClaims {
    pub uid: String,
    pub auth_at: i64,
    pub epoch: i64,
}

impl SessionClaims {
    /// The session's claims, if a user signed in with it.
    pub async fn of(
        session: &Session,
    ) -> Result<Option<SessionClaims>, tower_sessions::session::Error> {
        let Some(uid) = session.get::<String>(SESSION_USER).await? else {
            return Ok(None);
        };
        Ok(Some(SessionClaims {
            uid,
            auth_at: session.get::<i64>(SESSION_AUTH_AT).await?.unwrap_or(0),
            epoch: session.get::<i64>(SESSION_EPOCH).await?.unwrap_or(0),
        }))
    }

    /// Whether the session still stands for `user`: the user is enabled, has not
    /// changed their password since (`session_epoch`), and the session is within its
    /// absolute lifetime.
    pub fn admit(&self, user: &User, now: i64, absolute_ms: i64) -> bool {
        user.id == self.uid
            && !user.disabled
            && user.session_epoch == self.epoch
            && now - self.auth_at <= absolute_ms
    }
}

/// The signed-in user, if the session holds a live one. A disabled user, a session
/// begun before the user's last password change, or one past its absolute lifetime is
/// signed out here, on the spot.
pub async fn current_user() -> Result<Option<(User, Session)>, AppError> {
    let session = session().await?;
    let Some(claims) = SessionClaims::of(&session).await.map_err(session_err)? else {
        return Ok(None);
    };
    let st = state()?;
    let user = memo().user(&st.store, &claims.uid).await?;
    let now = provision::now_ms();
    match user {
        Some(user) if claims.admit(&user, now, st.config.session_absolute_ms) => {
            touch(&session).await;
            Ok(Some((user, session)))
        }
        _ => {
            session.flush().await.map_err(session_err)?;
            Ok(None)
        }
    }
}

/// The acting user, or 401; 403 while they must still change a one-time password.
pub async fn require_actor() -> Result<(Actor, User, Session), AppError> {
    let (actor, user, session) = require_signed_in().await?;
    provision::accounts::require_own_password(&user)?;
    Ok((actor, user, session))
}

/// The acting user, or 401, even one who must still change a one-time password: for
/// that change itself.
pub async fn require_signed_in() -> Result<(Actor, User, Session), AppError> {
    let Some((user, session)) = current_user().await? else {
        return Err(AppError::from(provision::Error::Unauthenticated(
            "Sign in first.".into(),
        )));
    };
    let actor = Actor::new(&user, client_addr().await, Credential::Session);
    Ok((actor, user, session))
}

/// Starts an authenticated session: a new session id (no fixation), then the user.
pub async fn begin_session(session: &Session, user: &User) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_err)?;
    session.clear().await;
    session
        .insert(SESSION_USER, &user.id)
        .await
        .map_err(session_err)?;
    session
        .insert(SESSION_AUTH_AT, provision::now_ms())
        .await
        .map_err(session_err)?;
    session
        .insert(SESSION_EPOCH, user.session_epoch)
        .await
        .map_err(session_err)?;
    session
        .insert(SESSION_SEEN_AT, provision::now_ms())
        .await
        .map_err(session_err)?;
    Ok(())
}

pub async fn end_session(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_err)
}

pub async fn session_project(session: &Session) -> Result<Option<String>, AppError> {
    session
        .get::<String>(SESSION_PROJECT)
        .await
        .map_err(session_err)
}

pub async fn set_session_project(session: &Session, project_id: &str) -> Result<(), AppError> {
    session
        .insert(SESSION_PROJECT, project_id)
        .await
        .map_err(session_err)
}

/// The project the console works in: the one chosen in this session while the user is
/// still a member, else their first. With every project of theirs.
pub async fn current_project(
    user_id: &str,
    session: &Session,
) -> Result<
    (
        Option<provision::domain::ProjectWithRole>,
        Vec<provision::domain::ProjectWithRole>,
    ),
    AppError,
> {
    let projects = memo().projects(&state()?.store, user_id).await?;
    let chosen = session_project(session).await?;
    let current = projects
        .iter()
        .find(|p| Some(&p.project.id) == chosen.as_ref())
        .or(projects.first())
        .cloned();
    Ok((current, projects))
}

/// The lazy route (as `#[lazy_route]` names its chunk: `__<snake name>_route_view_<hash>`)
/// a path is served by, after the routes in `crate::App`.
pub fn lazy_route_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match segments.as_slice() {
        [""] => "home",
        ["signin"] => "sign_in",
        ["signup"] => "sign_up",
        ["clusters"] => "clusters",
        ["clusters", "new"] => "new_cluster",
        ["clusters", _] => "cluster",
        ["clusters", _, "workloads"] => "workloads",
        ["clusters", _, "delete"] => "delete_cluster",
        ["clusters", _, "nodegroups", _] => "node_group",
        ["clusters", _, "add-node-group"] => "add_node_group",
        ["operations", _] => "operation",
        ["project"] => "project",
        ["account"] => "account",
        ["admin"] => "admin",
        ["admin", "clusters"] => "admin_clusters",
        ["admin", "users"] => "admin_users",
        ["admin", "quotas"] => "admin_quotas",
        ["admin", "offer"] => "admin_offer",
        ["admin", "audit"] => "admin_audit",
        _ => return None,
    })
}

/// `<link rel=preload>`s for the WASM chunks of the page being rendered, from the split
/// manifest (`make site` writes it as `split-manifest.json`, not under the name Leptos
/// reads). Leptos' own preloads come only when the lazy route has already run by the
/// time it looks, which with `SsrMode::Async` it mostly has not: the browser then fetched
/// a page's chunks after the main WASM had started, and pages differed from one request
/// to the next. Each route's links are written once, as HTML, when first asked for (the
/// shell is never hydrated): as views they were a few percent of a page's CPU.
pub fn chunk_preloads(options: &LeptosOptions) -> impl IntoView {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static PRELOADS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let preloads = PRELOADS.get_or_init(|| {
        let path = std::path::Path::new(options.site_root.as_ref())
            .join(options.site_pkg_dir.as_ref())
            .join("split-manifest.json");
        let manifest: HashMap<String, Vec<String>> = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        manifest
            .into_iter()
            .filter_map(|(split, modules)| {
                let route = split.strip_prefix("__")?.split_once("_route_view_")?.0;
                Some((
                    route.to_string(),
                    preload_links(&options.site_pkg_dir, &modules),
                ))
            })
            .collect()
    });
    let html = use_context::<http::request::Parts>()
        .and_then(|parts| lazy_route_of(parts.uri.path()))
        .and_then(|route| preloads.get(route).copied())
        .unwrap_or_default();
    leptos::tachys::html::InertElement::new(html)
}

/// The links that preload a route's chunks (and the split loader), as HTML.
fn preload_links(pkg: &str, modules: &[String]) -> &'static str {
    if modules.is_empty() {
        return "";
    }
    let attr = |s: &str| {
        let mut out = String::new();
        crate::escape_html(s, &mut out);
        out
    };
    let mut html = format!(
        "<link rel=\"modulepreload\" href=\"/{}/__wasm_split.______________________.js\" crossorigin=\"anonymous\">",
        attr(pkg)
    );
    for m in modules {
        html.push_str(&format!(
            "<link rel=\"preload\" href=\"/{}/{}.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin=\"anonymous\">",
            attr(pkg),
            attr(m)
        ));
    }
    // Once per route for the life of the process.
    html.leak()
}

#[cfg(test)]
mod tests {
    use super::{lazy_route_of, RequestScope};
    use leptos::prelude::*;

    #[derive(Clone)]
    struct RequestMarker(u32);

    /// A resource made under an owner that a `Suspense` then disposes (it walks its
    /// children again while it waits) still fetches with the request's contexts.
    #[tokio::test]
    async fn a_fetch_outlives_the_owner_that_made_it() {
        let root = Owner::new_root(None);
        // request root → one pass of a Suspense's children → the page that made the
        // resource (owners hold their parents weakly).
        let (scope, pass, page) = root.with(|| {
            provide_context(RequestMarker(7));
            let pass = Owner::new();
            let page = pass.with(Owner::new);
            let scope = page.with(RequestScope::capture);
            (scope, pass, page)
        });
        let fetch = || async { use_context::<RequestMarker>().map(|m| m.0) };
        let unscoped = page.with(|| super::ScopedFuture::new(fetch()));
        let scoped = scope.run(fetch());
        // The next pass replaces this one.
        pass.cleanup();
        drop(pass);
        // What the fetches saw before: nothing (the server function answered "no
        // session layer"); with the request's scope: the request.
        assert_eq!(unscoped.await, None);
        assert_eq!(scoped.await, Some(7));
    }

    /// A page's walks share the first fetch of each resource (same place, same source);
    /// another source or another place fetches on its own.
    #[tokio::test]
    async fn walks_share_a_resource_fetch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let memo = super::RequestMemo::default();
        let fetched = std::sync::Arc::new(AtomicUsize::new(0));
        let fetch = |n: u32| {
            let fetched = fetched.clone();
            async move {
                fetched.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                n * 2
            }
        };
        let here = std::panic::Location::caller();
        let there = std::panic::Location::caller();
        let first = memo.fetch_once(here, 1u32, fetch);
        let again = memo.fetch_once(here, 1u32, fetch);
        let other_source = memo.fetch_once(here, 2u32, fetch);
        let other_place = memo.fetch_once(there, 1u32, fetch);
        assert_eq!(
            (
                first.await,
                again.await,
                other_source.await,
                other_place.await
            ),
            (2, 2, 4, 2)
        );
        assert_eq!(fetched.load(Ordering::SeqCst), 3);
    }

    /// A page's walks get the resource its first walk made (same place, same source);
    /// another source or another place makes its own.
    #[test]
    fn walks_share_a_resource() {
        let memo = super::RequestMemo::default();
        let made = std::cell::Cell::new(0u32);
        let make = || {
            made.set(made.get() + 1);
            made.get()
        };
        let here = std::panic::Location::caller();
        let there = std::panic::Location::caller();
        let first = memo.resource_once(here, "a".to_string(), make);
        let again = memo.resource_once(here, "a".to_string(), make);
        let other_source = memo.resource_once(here, "b".to_string(), make);
        let other_place = memo.resource_once(there, "a".to_string(), make);
        assert_eq!((first, again, other_source, other_place), (1, 1, 2, 3));
    }

    #[test]
    fn paths_map_to_their_lazy_routes() {
        assert_eq!(lazy_route_of("/clusters"), Some("clusters"));
        assert_eq!(lazy_route_of("/clusters/new"), Some("new_cluster"));
        assert_eq!(lazy_route_of("/clusters/abc"), Some("cluster"));
        assert_eq!(lazy_route_of("/clusters/abc/workloads"), Some("workloads"));
        assert_eq!(
            lazy_route_of("/clusters/abc/delete"),
            Some("delete_cluster")
        );
        assert_eq!(
            lazy_route_of("/clusters/abc/nodegroups/w"),
            Some("node_group")
        );
        assert_eq!(
            lazy_route_of("/clusters/abc/add-node-group"),
            Some("add_node_group")
        );
        assert_eq!(lazy_route_of("/operations/1"), Some("operation"));
        assert_eq!(lazy_route_of("/admin"), Some("admin"));
        assert_eq!(lazy_route_of("/admin/quotas"), Some("admin_quotas"));
        assert_eq!(lazy_route_of("/admin/audit"), Some("admin_audit"));
        assert_eq!(lazy_route_of("/signin"), Some("sign_in"));
        assert_eq!(lazy_route_of("/signup"), Some("sign_up"));
        assert_eq!(lazy_route_of("/"), Some("home"));
        assert_eq!(lazy_route_of("/nowhere"), None);
    }
}
