//! Signing in to Keystone: a password token scoped to the project, its catalog's
//! endpoints, and renewing it before it expires or once on a 401.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

/// A token and the endpoints that came with it.
#[derive(Clone, Debug)]
pub(super) struct Session {
    pub(super) token: String,
    pub(super) refresh_at: Instant,
    pub(super) endpoints: Vec<(Service, String)>,
}

impl Session {
    pub(super) fn endpoint(&self, service: Service, call: &str) -> CloudResult<&str> {
        self.endpoints
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, url)| url.as_str())
            .ok_or_else(|| {
                CloudError::unexpected(
                    call,
                    format!(
                        "the service catalog has no public {} endpoint",
                        service.kinds()[0]
                    ),
                )
            })
    }
}

impl OpenStack {
    fn auth_url(&self) -> String {
        let url = self.config.auth_url.trim_end_matches('/');
        if url.ends_with("/v3") {
            url.to_string()
        } else {
            format!("{url}/v3")
        }
    }

    /// The current session, renewed first when its token is about to expire.
    pub(super) async fn session(&self) -> CloudResult<Session> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| Instant::now() < s.refresh_at) {
            return Ok(s.clone());
        }
        let fresh = self.authenticate().await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// A new session after `stale` was refused, unless another call already renewed it.
    pub(super) async fn renew(&self, stale: &str) -> CloudResult<Session> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| s.token != stale) {
            return Ok(s.clone());
        }
        let fresh = self.authenticate().await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    async fn authenticate(&self) -> CloudResult<Session> {
        let call = format!(
            "authenticate {} to project {}",
            self.config.username,
            self.config
                .project_id
                .as_deref()
                .unwrap_or(&self.config.project_name)
        );
        self.retrying(&call, Retry::Idempotent, || self.authenticate_once(&call))
            .await
    }

    async fn authenticate_once(&self, call: &str) -> CloudResult<Session> {
        let c = &self.config;
        let project = match &c.project_id {
            Some(id) => json!({"id": id}),
            None => json!({"name": c.project_name, "domain": {"name": c.project_domain_name}}),
        };
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password,
            }}},
            "scope": {"project": project},
        }});
        let started = Instant::now();
        let res = self
            .http
            .post(format!("{}/auth/tokens", self.auth_url()))
            .json(&body)
            .send()
            .await
            .map_err(|e| CloudError::from_transport(&e, call))?;
        let status = res.status().as_u16();
        let token = res
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = res
            .bytes()
            .await
            .map_err(|e| CloudError::from_transport(&e, call))?;
        if !(200..300).contains(&status) {
            return Err(CloudError::from_response(status, &bytes, call));
        }
        let token = token
            .ok_or_else(|| CloudError::unexpected(call, "Keystone sent no X-Subject-Token"))?;
        let body: wire::TokenBody = parse(&bytes, call)?;
        let region = c.region.as_deref();
        let endpoints = [
            Service::Compute,
            Service::Volume,
            Service::Image,
            Service::Network,
            Service::LoadBalancer,
        ]
        .into_iter()
        .filter_map(|s| {
            let url = body.token.endpoint(s.kinds(), region)?;
            Some((s, normalize_endpoint(s, url)))
        })
        .collect();
        let lifetime = token_lifetime(&body.token);
        let early = self.config.token_refresh_margin.min(lifetime / 2);
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(call, ?lifetime, "new OpenStack token");
        Ok(Session {
            token,
            refresh_at: started + lifetime.saturating_sub(early),
            endpoints,
        })
    }
}

/// How long a token lives, by Keystone's own clock (issued to expiry), so that clock
/// skew between here and Keystone does not matter. An hour when the times are unreadable.
fn token_lifetime(token: &wire::Token) -> Duration {
    use time::format_description::well_known::Rfc3339;
    let parse = |s: &str| time::OffsetDateTime::parse(s, &Rfc3339).ok();
    let expires = parse(&token.expires_at);
    let issued = token
        .issued_at
        .as_deref()
        .and_then(parse)
        .or_else(|| Some(time::OffsetDateTime::now_utc()));
    match (issued, expires) {
        (Some(i), Some(e)) => Duration::try_from(e - i).unwrap_or(Duration::ZERO),
        _ => Duration::from_secs(3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetime_by_keystones_clock() {
        let t = wire::Token {
            expires_at: "2015-11-07T02:58:43.578887Z".into(),
            issued_at: Some("2015-11-07T01:58:43.578929Z".into()),
            project: None,
            catalog: None,
        };
        let l = token_lifetime(&t);
        assert!(
            l > Duration::from_secs(3599) && l <= Duration::from_secs(3600),
            "{l:?}"
        );
    }
}
