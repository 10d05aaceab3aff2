//! `/clusters/{id}/events`: a cluster's progress as server-sent events, for the
//! console's cluster page while something runs.

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use model::ClusterId;
use provision::authz::Action;
use provision::clusters;
use provision::domain::Credential;
use serde_json::json;
use tower_sessions::Session;

use super::clusters::visible_cluster;
use super::{ApiResult, AppState, Caller};

/// How often an open stream asks again whether its caller may still see the cluster.
const STREAM_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the caller who opened a stream may still see `cluster_id`: the request's
/// credentials resolved again (a disabled user, a changed password, a revoked or expired
/// token fail here), its session still on record (signed out elsewhere), and the
/// cluster still in one of the caller's projects.
async fn still_allowed(state: &AppState, request: &http::request::Parts, cluster_id: &str) -> bool {
    use axum::extract::FromRequestParts;
    let mut parts = request.clone();
    let Ok(caller) = Caller::from_request_parts(&mut parts, state).await else {
        return false;
    };
    if matches!(caller.actor.credential, Credential::Session) {
        let Some(id) = parts.extensions.get::<Session>().and_then(|s| s.id()) else {
            return false;
        };
        let on_record = state
            .core
            .store
            .session_load(&id.to_string(), provision::now_ms())
            .await;
        if !matches!(on_record, Ok(Some(_))) {
            return false;
        }
    }
    clusters::cluster_for(&state.core.store, &caller.actor, cluster_id, Action::View)
        .await
        .is_ok()
}

/// The cluster's progress as server-sent events: one `message` event whenever its
/// status or an operation's state or step count changes (checked twice a second), for
/// at most ten minutes, until the cluster is deleted, or until its caller may no longer
/// see it (asked again every [`STREAM_RECHECK`]). Streams are capped per user and in
/// all ([`crate::live_streams`]). The console's cluster page listens while something
/// runs.
pub(super) async fn cluster_events(
    State(state): State<AppState>,
    axum::Extension(streams): axum::Extension<std::sync::Arc<crate::live_streams::LiveStreams>>,
    caller: Caller,
    Path(id): Path<ClusterId>,
    request: http::request::Parts,
) -> ApiResult<Response> {
    let cluster = visible_cluster(&state, &caller, &id, Action::View).await?;
    let permit = streams.open(&caller.user.id)?;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let follow = Follow {
        state,
        request,
        id: cluster.id,
        last: String::new(),
        first: true,
        gone: false,
        checked: std::time::Instant::now(),
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(follow, move |f| f.next(until));
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(5)))
        .into_response())
}

/// What a cluster's event stream carries from one poll to the next.
struct Follow {
    state: AppState,
    request: http::request::Parts,
    id: String,
    last: String,
    first: bool,
    gone: bool,
    checked: std::time::Instant,
    _permit: crate::live_streams::StreamPermit,
}

impl Follow {
    /// The next event: after the next change of what the cluster page follows, or
    /// `None` once the stream is over (deleted, out of time, or no longer allowed).
    async fn next(
        mut self,
        until: std::time::Instant,
    ) -> Option<(Result<Event, std::convert::Infallible>, Follow)> {
        let f = &mut self;
        loop {
            // The last event said the cluster is gone: nothing more will change.
            if f.gone {
                return None;
            }
            if !f.first || !f.last.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            if std::time::Instant::now() > until {
                return None;
            }
            if f.checked.elapsed() >= STREAM_RECHECK {
                if !still_allowed(&f.state, &f.request, &f.id).await {
                    return None;
                }
                f.checked = std::time::Instant::now();
            }
            let (status, now) = f.snapshot().await?;
            if now != f.last {
                f.gone = status == model::ClusterStatus::Deleted;
                f.first = false;
                f.last = now.clone();
                let event = Event::default().event("message").data(now);
                return Some((Ok(event), self));
            }
        }
    }

    /// What the page follows now, as the event's JSON: the cluster's status and its
    /// latest operations' progress. `None` when the cluster cannot be read (gone).
    async fn snapshot(&self) -> Option<(model::ClusterStatus, String)> {
        let store = &self.state.core.store;
        let status = store.cluster_by_id(&self.id).await.ok()?.status;
        let ops = store.op_list_for(&self.id).await.unwrap_or_default();
        let operations: Vec<_> = ops
            .iter()
            .take(5)
            .map(|o| {
                json!({
                    "id": o.id, "state": o.state.as_str(), "done": o.steps_done,
                    "total": o.steps_total,
                })
            })
            .collect();
        let now = json!({ "status": status, "operations": operations }).to_string();
        Some((status, now))
    }
}
