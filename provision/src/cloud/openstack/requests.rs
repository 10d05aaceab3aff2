//! Sending one call: the token, a time-out, retries with jittered backoff for what may
//! be retried, and a create retried as "look up, then create".

use std::future::Future;

use reqwest::Method;
use serde_json::Value;

use super::*;

impl OpenStack {
    /// Runs `op` until it succeeds, fails in a way `mode` does not retry, or the retry
    /// policy's attempts are used up.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        call: &str,
        mode: Retry,
        mut op: F,
    ) -> CloudResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        let policy = self.config.retry;
        let mut retry = 0;
        loop {
            match op().await {
                Ok(t) => return Ok(t),
                Err(e) if retry + 1 < policy.max_attempts.max(1) && mode.allows(&e) => {
                    let pause = policy.backoff(retry);
                    tracing::warn!(call, error = %e, retry, ?pause, "retrying a cloud call");
                    tokio::time::sleep(pause).await;
                    retry += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One HTTP exchange (renewing the token once on a 401), its body on 2xx.
    pub(super) async fn once(
        &self,
        service: Service,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        call: &str,
    ) -> CloudResult<Vec<u8>> {
        let mut session = self.session().await?;
        let mut renewed = false;
        loop {
            let url = format!("{}{path}", session.endpoint(service, call)?);
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("X-Auth-Token", &session.token)
                .header("Accept", "application/json");
            if service == Service::Compute {
                req = req
                    .header("X-OpenStack-Nova-API-Version", NOVA_MICROVERSION)
                    .header(
                        "OpenStack-API-Version",
                        format!("compute {NOVA_MICROVERSION}"),
                    );
            }
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req
                .send()
                .await
                .map_err(|e| CloudError::from_transport(&e, call))?;
            let status = res.status().as_u16();
            let bytes = res
                .bytes()
                .await
                .map_err(|e| CloudError::from_transport(&e, call))?;
            tracing::debug!(call, %method, url, status, "cloud call");
            if status == 401 && !renewed {
                renewed = true;
                session = self.renew(&session.token).await?;
                continue;
            }
            if (200..300).contains(&status) {
                return Ok(bytes.to_vec());
            }
            return Err(CloudError::from_response(status, &bytes, call));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exchange(
        &self,
        service: Service,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        call: &str,
        mode: Retry,
    ) -> CloudResult<Vec<u8>> {
        self.retrying(call, mode, || {
            self.once(service, &method, path, query, body, call)
        })
        .await
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        service: Service,
        path: &str,
        query: &[(&str, String)],
        call: &str,
    ) -> CloudResult<T> {
        let bytes = self
            .exchange(
                service,
                Method::GET,
                path,
                query,
                None,
                call,
                Retry::Idempotent,
            )
            .await?;
        parse(&bytes, call)
    }

    /// A POST that creates; the caller retries it through [`Self::create`].
    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        service: Service,
        path: &str,
        body: &Value,
        call: &str,
    ) -> CloudResult<T> {
        let bytes = self
            .exchange(
                service,
                Method::POST,
                path,
                &[],
                Some(body),
                call,
                Retry::Never,
            )
            .await?;
        parse(&bytes, call)
    }

    /// A DELETE; a resource that is already gone counts as deleted.
    pub(super) async fn delete(&self, service: Service, path: &str, call: &str) -> CloudResult<()> {
        match self
            .exchange(
                service,
                Method::DELETE,
                path,
                &[],
                None,
                call,
                Retry::Idempotent,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Find-or-create (or check-then-act), retried as a whole: each attempt looks first,
    /// so a create whose answer was lost is found rather than made twice.
    pub(super) async fn create<T, Find, FindFut, Make, MakeFut>(
        &self,
        call: &str,
        mut find: Find,
        mut make: Make,
    ) -> CloudResult<T>
    where
        Find: FnMut() -> FindFut,
        FindFut: Future<Output = CloudResult<Option<T>>>,
        Make: FnMut() -> MakeFut,
        MakeFut: Future<Output = CloudResult<T>>,
    {
        self.retrying(call, Retry::Idempotent, || {
            let found = find();
            let made = make();
            async move {
                match found.await? {
                    Some(t) => Ok(t),
                    None => made.await,
                }
            }
        })
        .await
    }
}
