//! Behaviour knobs: how long things take and which faults are injected. Set at start
//! from flags or [`crate::Config`], and changed at run time by an admin through
//! `GET`/`PUT /admin/behaviour`, so a test can make the cloud flaky mid-run.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, Service, KEYSTONE};
use crate::Cloud;

/// Latencies (seconds) and fault rates (0 to 1). Every field has a default, so a `PUT`
/// may carry only the fields it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// A new server stays BUILD this long.
    pub server_build_seconds: f64,
    /// A new volume stays `creating` this long.
    pub volume_seconds: f64,
    /// A new load balancer stays PENDING_CREATE this long.
    pub lb_seconds: f64,
    /// A change under a load balancer keeps it PENDING_UPDATE this long.
    pub lb_update_seconds: f64,
    /// Added to every API call (not Keystone's).
    pub api_latency_ms: u64,
    /// Share of API calls answered 500 or 503 without doing anything.
    pub error_rate: f64,
    /// Share of API calls that do their work but answer only after
    /// `timeout_seconds`, so the client gives up first and must retry idempotently.
    pub timeout_rate: f64,
    pub timeout_seconds: f64,
    /// Share of new servers that turn ERROR `server_error_after_seconds` after create.
    pub server_error_rate: f64,
    pub server_error_after_seconds: f64,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            server_build_seconds: 20.0,
            volume_seconds: 5.0,
            lb_seconds: 30.0,
            lb_update_seconds: 2.0,
            api_latency_ms: 0,
            error_rate: 0.0,
            timeout_rate: 0.0,
            timeout_seconds: 60.0,
            server_error_rate: 0.0,
            server_error_after_seconds: 0.0,
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 86_400.0))
}

/// Injected faults, as configured at start (latencies are [`crate::Config`]'s own
/// fields).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub api_latency_ms: u64,
    pub error_rate: f64,
    pub timeout_rate: f64,
    pub timeout_seconds: f64,
    pub server_error_rate: f64,
    pub server_error_after_seconds: f64,
}

impl Behaviour {
    /// The behaviour a cloud starts with.
    pub fn from_config(c: &crate::Config) -> Behaviour {
        let f = &c.faults;
        Behaviour {
            server_build_seconds: c.server_build_delay.as_secs_f64(),
            volume_seconds: c.volume_delay.as_secs_f64(),
            lb_seconds: c.lb_delay.as_secs_f64(),
            lb_update_seconds: c.lb_update_delay.as_secs_f64(),
            api_latency_ms: f.api_latency_ms,
            error_rate: f.error_rate,
            timeout_rate: f.timeout_rate,
            timeout_seconds: if f.timeout_seconds > 0.0 {
                f.timeout_seconds
            } else {
                60.0
            },
            server_error_rate: f.server_error_rate,
            server_error_after_seconds: f.server_error_after_seconds,
        }
    }

    pub fn server_build(&self) -> Duration {
        secs(self.server_build_seconds)
    }
    pub fn volume(&self) -> Duration {
        secs(self.volume_seconds)
    }
    pub fn lb_create(&self) -> Duration {
        secs(self.lb_seconds)
    }
    pub fn lb_update(&self) -> Duration {
        secs(self.lb_update_seconds)
    }

    /// Rejects rates outside 0..=1 and negative or absurd durations.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
            ("server_error_rate", self.server_error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        for (name, s) in [
            ("server_build_seconds", self.server_build_seconds),
            ("volume_seconds", self.volume_seconds),
            ("lb_seconds", self.lb_seconds),
            ("lb_update_seconds", self.lb_update_seconds),
            ("timeout_seconds", self.timeout_seconds),
            (
                "server_error_after_seconds",
                self.server_error_after_seconds,
            ),
        ] {
            if !(0.0..=86_400.0).contains(&s) {
                return Err(format!("{name} must be between 0 and 86400"));
            }
        }
        if self.api_latency_ms > 60_000 {
            return Err("api_latency_ms must be at most 60000".into());
        }
        Ok(())
    }

    /// When a server created now should fail, if the dice say it should.
    pub fn server_failure(&self) -> Option<Duration> {
        (self.server_error_rate > 0.0 && rand::thread_rng().gen_bool(self.server_error_rate))
            .then(|| secs(self.server_error_after_seconds))
    }
}

pub fn router() -> Router<Arc<Cloud>> {
    Router::new().route("/behaviour", axum::routing::get(show).put(update))
}

fn admin(cloud: &Cloud, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = authenticate(cloud, headers, KEYSTONE)?;
    if !token.admin {
        return Err(KEYSTONE.err(
            StatusCode::FORBIDDEN,
            "Only an admin may read or change the cloud's behaviour.",
        ));
    }
    Ok(())
}

async fn show(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
) -> Result<Json<Behaviour>, ApiError> {
    admin(&cloud, &headers)?;
    Ok(Json(cloud.behaviour()))
}

/// Merges the fields given into the current behaviour.
async fn update(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Behaviour>, ApiError> {
    admin(&cloud, &headers)?;
    let changes: serde_json::Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|e| KEYSTONE.bad(format!("Invalid request body: {e}")))?;
    let mut merged =
        serde_json::to_value(cloud.behaviour()).map_err(|e| KEYSTONE.bad(e.to_string()))?;
    if let Some(obj) = merged.as_object_mut() {
        obj.extend(changes);
    }
    let next: Behaviour = serde_json::from_value(merged)
        .map_err(|e| KEYSTONE.bad(format!("Invalid behaviour: {e}")))?;
    next.validate().map_err(|m| KEYSTONE.bad(m))?;
    cloud.set_behaviour(next.clone());
    tracing::info!(behaviour = ?next, "behaviour changed");
    Ok(Json(next))
}

/// The service a path belongs to, for the shape of an injected error.
fn service_of(path: &str) -> Option<Service> {
    let first = path.trim_start_matches('/').split('/').next()?;
    Some(match first {
        "compute" => Service::Compute,
        "volume" => Service::Volume,
        "image" => Service::Image,
        "network" => Service::Network,
        "load-balancer" => Service::LoadBalancer,
        _ => return None,
    })
}

/// Adds latency and injects faults into every service call except Keystone's and the
/// admin endpoint's.
pub async fn inject(State(cloud): State<Arc<Cloud>>, req: Request<Body>, next: Next) -> Response {
    let Some(service) = service_of(req.uri().path()) else {
        return next.run(req).await;
    };
    let b = cloud.behaviour();
    if b.api_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(b.api_latency_ms)).await;
    }
    let (fail, hang) = {
        let mut rng = rand::thread_rng();
        (
            b.error_rate > 0.0 && rng.gen_bool(b.error_rate),
            b.timeout_rate > 0.0 && rng.gen_bool(b.timeout_rate),
        )
    };
    if fail {
        let status = if rand::thread_rng().gen_bool(0.5) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return ApiError::new(
            service,
            status,
            "Injected fault: the service is unavailable, try again.",
        )
        .into_response();
    }
    let response = next.run(req).await;
    if hang {
        tokio::time::sleep(secs(b.timeout_seconds)).await;
    }
    response
}
