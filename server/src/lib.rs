//! The `shipyard` server: configuration, start-up, routes, sessions and background
//! housekeeping around the console (`app`) and the core (`provision`).

pub mod api_v1;
pub mod config;
pub mod live_streams;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod session_store;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::ssr::{AppState, WebConfig};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use leptos::prelude::*;
use leptos_axum::{
    generate_route_list, handle_server_fns_with_context, AxumRouteListing, LeptosRoutes,
};
use provision::Store;
use tower::ServiceBuilder;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use config::{CloudMode, Config, LogFormat};

/// Largest request body accepted (forms and server function calls are small).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a running server holds.
pub struct Server {
    pub router: Router,
    pub store: Store,
    /// The embedded cloud, when Shipyard runs its own.
    pub localcloud: Option<localcloud::Running>,
    /// Runs operations; its workers are started by [`Server::start_workers`].
    pub engine: provision::ops::Engine,
    pub cloud: Arc<dyn provision::cloud::Cloud>,
}

impl Server {
    /// Starts the operation workers (which also resume what a previous run left).
    pub fn start_workers(&self) -> tokio::task::JoinHandle<()> {
        self.engine.spawn()
    }
}

/// The driver for the configured cloud: the embedded localcloud's admin, or OS_CLOUD /
/// OS_AUTH_URL. Connecting authenticates, so bad credentials stop the start.
pub async fn connect_cloud(
    localcloud: Option<&localcloud::Running>,
) -> anyhow::Result<Arc<dyn provision::cloud::Cloud>> {
    use provision::cloud::{OpenStack, OpenStackConfig};
    let config = match localcloud {
        Some(running) => {
            let admin = running.admin();
            OpenStackConfig::new(
                admin.auth_url,
                admin.username,
                admin.password,
                admin.project,
            )
        }
        None => OpenStackConfig::from_environment()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .ok_or_else(|| anyhow::anyhow!("--cloud openstack needs OS_CLOUD or OS_AUTH_URL"))?,
    };
    let cloud = OpenStack::connect(config)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to the cloud: {e}"))?;
    Ok(Arc::new(cloud))
}

/// Starts the embedded localcloud in `<data-dir>/localcloud`, unless a real OpenStack
/// is configured.
pub async fn start_cloud(config: &Config) -> anyhow::Result<Option<localcloud::Running>> {
    if config.cloud_mode() != CloudMode::Embedded {
        tracing::info!("provisioning on the OpenStack cloud named by OS_CLOUD / OS_AUTH_URL");
        return Ok(None);
    }
    let dir = config.data_dir.join("localcloud");
    let mut lc = localcloud::Config::new(config.localcloud_listen, &dir);
    lc.vip_range = config.localcloud_vip_range;
    lc.subnet = config.localcloud_subnet;
    if config.localcloud_instant {
        lc.server_build_delay = Duration::ZERO;
        lc.volume_delay = Duration::ZERO;
        lc.lb_delay = Duration::ZERO;
        lc.lb_update_delay = Duration::ZERO;
    }
    let running = localcloud::start(lc).await.with_context(|| {
        format!(
            "starting the embedded localcloud on {}",
            config.localcloud_listen
        )
    })?;
    println!(
        "Embedded localcloud (OpenStack APIs) at {url}; try:\n    OS_CLIENT_CONFIG_FILE={yaml} OS_CLOUD=localcloud openstack server list",
        url = running.url,
        yaml = dir.join("clouds.yaml").display()
    );
    Ok(Some(running))
}

/// Connects the database (applying migrations), makes sure an admin exists and builds
/// the router. Prints first-start sign-in instructions.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    let store = Store::connect(&config.database_url())
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("opening the database")?;
    if let Some((email, generated)) = provision::accounts::ensure_admin(
        &store,
        &config.admin_email,
        config.admin_password.as_deref(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))
    .context("creating the first admin")?
    {
        match generated {
            Some(password) => println!(
                "\nFirst start: sign in as {email} with this one-time password (shown only now):\n\n    {password}\n\nYou will be asked to choose your own password.\n"
            ),
            None => println!("\nFirst start: admin account {email} created with the password from SHIPYARD_ADMIN_PASSWORD.\n"),
        }
    }
    let localcloud = start_cloud(config).await?;
    let cloud = connect_cloud(localcloud.as_ref()).await?;
    let secret_key = Arc::new(
        provision::pki::SecretKey::from_env_or_file(&config.data_dir)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
            .context("loading the secret key that seals cluster CA keys")?,
    );
    // Who may use each cluster follows project membership, from now on.
    provision::clusters::access::ClusterAccess::new(store.clone(), secret_key.clone()).install();
    let mut settings = provision::clusters::saga::Settings {
        secret_key: secret_key.clone(),
        ..Default::default()
    };
    if localcloud.is_none() {
        if let Ok(network) = std::env::var("SHIPYARD_NETWORK") {
            settings.network = network;
        }
    }
    let engine = provision::clusters::saga::register(
        provision::ops::Engine::builder(
            store.clone(),
            provision::ops::EngineConfig {
                lease: Duration::from_secs(config.operation_lease_seconds.clamp(2, 3600)),
                ..provision::ops::EngineConfig::default()
            },
        ),
        &store,
        cloud.clone(),
        settings,
    )
    .build();
    // Services of type LoadBalancer, volume claims and autoscaled node groups in every
    // cluster, from now on.
    provision::controllers::Controllers {
        store: store.clone(),
        engine: engine.clone(),
        cloud: cloud.clone(),
        key: secret_key.clone(),
        repair: config.repair(),
        autoscaler: provision::controllers::Autoscaler::new(
            provision::controllers::autoscale::Settings {
                unneeded: Duration::from_secs(config.autoscale_unneeded_seconds),
                delay_after_add: Duration::from_secs(config.autoscale_delay_after_add_seconds),
                backoff: Duration::from_secs(config.autoscale_backoff_seconds),
                utilization: config.autoscale_utilization.clamp(0.0, 1.0),
            },
        ),
    }
    .install();
    let state = AppState {
        core: provision::Provisioner {
            store: store.clone(),
            engine: engine.clone(),
            cloud: cloud.clone(),
            secret_key,
        },
        config: Arc::new(WebConfig {
            forwarded_hops: config.forwarded_hops(),
            session_absolute_ms: config.session_absolute_hours.max(1) * 3_600_000,
            signups_per_address: config.signups_per_address_per_hour.max(1),
        }),
        handoff: Default::default(),
    };
    let streams =
        live_streams::LiveStreams::new(config.live_streams_per_user, config.live_streams_total);
    let router = router(config, state, streams);
    Ok(Server {
        router,
        store,
        localcloud,
        engine,
        cloud,
    })
}

/// The whole HTTP surface.
pub fn router(config: &Config, state: AppState, streams: Arc<live_streams::LiveStreams>) -> Router {
    let store = state.store.clone();
    let leptos_options = LeptosOptions::builder()
        .output_name("shipyard")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build();
    let pkg = format!("/{}", leptos_options.site_pkg_dir);
    let pkg_dir = config.site_root.join(leptos_options.site_pkg_dir.as_ref());
    let routes = console_routes();
    let api_paths = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect::<Vec<_>>();
    let metrics = metrics::Metrics::new(api_paths);

    let sessions = SessionManagerLayer::new(session_store::DbSessionStore(store.clone()))
        .with_name("shipyard_session")
        .with_secure(config.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            config.session_idle_minutes.max(1),
        )));

    let api_router = api_v1::router(state.clone(), streams).layer(sessions.clone());
    let fn_state = state.clone();
    let page_state = state.clone();
    let leptos_router = Router::new()
        .route(
            "/api/{*fn_name}",
            get(server_fn_handler)
                .post(server_fn_handler)
                .with_state(fn_state),
        )
        .leptos_routes_with_context(
            &leptos_options,
            routes,
            move || {
                provide_context(page_state.clone());
                provide_context(app::ssr::RequestMemo::default());
            },
            {
                let options = leptos_options.clone();
                move || app::shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler(app::shell))
        .with_state(leptos_options)
        .layer(axum::middleware::from_fn(middleware::server_fn_answers))
        .layer(sessions);

    // The WASM, its chunks, the JS glue and the CSS: files, served without the session
    // layer (a page preloads 40-80 of them; through it, each would read the session from
    // the database). A missing file is a plain 404.
    let assets = Router::new().nest_service(&pkg, tower_http::services::ServeDir::new(pkg_dir));

    let ops = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz).with_state(store))
        .route(
            "/metrics",
            get(metrics::endpoint).with_state(metrics.clone()),
        );

    ops.merge(api_router)
        .merge(assets)
        .merge(leptos_router)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    metrics,
                    metrics::track,
                ))
                .layer(axum::middleware::from_fn({
                    let hsts = config.secure_cookies;
                    move |req, next| middleware::security_headers(hsts, req, next)
                }))
                .layer(axum::middleware::from_fn(middleware::csrf))
                .layer(axum::middleware::from_fn(|req, next| {
                    middleware::body_limit(BODY_LIMIT, req, next)
                })),
        )
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    handle_server_fns_with_context(
        move || {
            provide_context(state.clone());
            provide_context(app::ssr::RequestMemo::default());
        },
        req,
    )
    .await
}

async fn readyz(State(store): State<Store>) -> impl IntoResponse {
    match store.readiness().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => {
            tracing::warn!(error = ?e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {}\n", e.external_message()),
            )
        }
    }
}

/// Periodic housekeeping: expired sessions, old login failures and sign-up attempts.
pub fn spawn_housekeeping(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let now = provision::now_ms();
            if let Err(e) = store.session_delete_expired(now).await {
                tracing::warn!(error = ?e, "deleting expired sessions");
            }
            if let Err(e) = store
                .login_failures_prune(now - provision::accounts::THROTTLE_WINDOW_MS)
                .await
            {
                tracing::warn!(error = ?e, "pruning login failures");
            }
            if let Err(e) = store
                .signup_attempts_prune(now - provision::accounts::SIGNUP_WINDOW_MS)
                .await
            {
                tracing::warn!(error = ?e, "pruning sign-up attempts");
            }
        }
    })
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    // No Nagle: a streamed body (static files) would otherwise wait for delayed ACKs.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // axum waits for the signal in a task of its own; `dropped` ends that task too when
    // this future is dropped instead (a test aborting its server), not only on a signal.
    let (_alive, dropped) = tokio::sync::oneshot::channel::<()>();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = dropped => {}
        }
    })
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The console's routes, worked out once per process. Leptos works them out by rendering
/// the app with resource loads suppressed through a flag for the whole process
/// (`leptos::server::SuppressResourceLoad`): a resource of any page that starts loading on
/// another thread meanwhile waits forever, and that page's answer never comes. One server
/// per process does this before it serves; tests build servers while others serve.
fn console_routes() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}
