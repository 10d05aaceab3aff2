//! The [`Cloud`] driver for OpenStack over reqwest: Keystone v3 password tokens scoped
//! to a project, endpoints from the token's catalog, Nova (microversion 2.64), Cinder
//! v3, Glance v2, Neutron v2.0 and Octavia v2.
//!
//! Every request has a time-out; a token is renewed before it expires and once on a 401;
//! retryable errors are retried with bounded, jittered exponential backoff. A create is
//! retried as "look up, then create", never as a blind second POST, so a create whose
//! answer was lost does not make a duplicate.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::wire;
use super::*;

/// The Nova microversion the driver speaks: server groups with a single `policy`, and
/// hypervisor usage still reported (dropped in 2.88).
const NOVA_MICROVERSION: &str = "2.64";
/// Page size for server and volume lists.
/// How many times a paged listing starts over after losing its marker.
const MAX_LIST_RESTARTS: u32 = 5;

/// "marker [..] not found": the item a page ended with was deleted meanwhile.
fn marker_gone(e: &CloudError) -> bool {
    e.status == Some(400) && e.message.to_ascii_lowercase().contains("marker")
}

/// The services the driver calls, each found in the catalog by type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Compute,
    Volume,
    Image,
    Network,
    LoadBalancer,
}

impl Service {
    /// Catalog types, in order of preference.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            Service::Compute => &["compute"],
            Service::Volume => &["block-storage", "volumev3", "volume"],
            Service::Image => &["image"],
            Service::Network => &["network"],
            Service::LoadBalancer => &["load-balancer"],
        }
    }
}

/// When a failed call may be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// Reads and deletes: any retryable error.
    Idempotent,
    /// Creates and actions: the caller retries them as "look up, then act again".
    Never,
}

impl Retry {
    fn allows(self, e: &CloudError) -> bool {
        match self {
            Retry::Idempotent => e.retryable(),
            Retry::Never => false,
        }
    }
}

/// A token and the endpoints that came with it.
#[derive(Clone, Debug)]
struct Session {
    token: String,
    refresh_at: Instant,
    endpoints: Vec<(Service, String)>,
}

impl Session {
    fn endpoint(&self, service: Service, call: &str) -> CloudResult<&str> {
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

/// An OpenStack project, reached with one user's password.
pub struct OpenStack {
    http: reqwest::Client,
    config: OpenStackConfig,
    session: tokio::sync::Mutex<Option<Session>>,
    tokens_issued: AtomicU64,
}

impl std::fmt::Debug for OpenStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStack")
            .field("auth_url", &self.config.auth_url)
            .field("username", &self.config.username)
            .field("project_name", &self.config.project_name)
            .finish_non_exhaustive()
    }
}

impl OpenStack {
    /// Authenticates once, so that wrong credentials or an unreachable cloud show at
    /// start-up rather than at the first cluster.
    pub async fn connect(config: OpenStackConfig) -> CloudResult<OpenStack> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| CloudError::unexpected("build the HTTP client", e.to_string()))?;
        let cloud = OpenStack {
            http,
            config,
            session: tokio::sync::Mutex::new(None),
            tokens_issued: AtomicU64::new(0),
        };
        cloud.session().await?;
        Ok(cloud)
    }

    /// How many tokens this client has obtained (1 after connecting; more after renewals).
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }

    fn auth_url(&self) -> String {
        let url = self.config.auth_url.trim_end_matches('/');
        if url.ends_with("/v3") {
            url.to_string()
        } else {
            format!("{url}/v3")
        }
    }

    /// The current session, renewed first when its token is about to expire.
    async fn session(&self) -> CloudResult<Session> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| Instant::now() < s.refresh_at) {
            return Ok(s.clone());
        }
        let fresh = self.authenticate().await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// A new session after `stale` was refused, unless another call already renewed it.
    async fn renew(&self, stale: &str) -> CloudResult<Session> {
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

    /// Runs `op` until it succeeds, fails in a way `mode` does not retry, or the retry
    /// policy's attempts are used up.
    async fn retrying<T, F, Fut>(&self, call: &str, mode: Retry, mut op: F) -> CloudResult<T>
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
    async fn once(
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
    async fn exchange(
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

    async fn get<T: DeserializeOwned>(
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
    async fn post<T: DeserializeOwned>(
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
    async fn delete(&self, service: Service, path: &str, call: &str) -> CloudResult<()> {
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
    async fn create<T, Find, FindFut, Make, MakeFut>(
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

    async fn flavor_ref(&self, flavor: &str, call: &str) -> CloudResult<String> {
        self.flavor_list()
            .await?
            .into_iter()
            .find(|f| f.id == flavor || f.name == flavor)
            .map(|f| f.id)
            .ok_or_else(|| {
                CloudError::new(
                    ErrorKind::Permanent,
                    None,
                    call,
                    format!("flavor {flavor:?} is not offered by this cloud"),
                )
            })
    }

    async fn image_ref(&self, image: &str) -> CloudResult<String> {
        if looks_like_uuid(image) {
            return Ok(image.to_string());
        }
        self.image_id(image).await
    }

    async fn network_ref(&self, network: &str, call: &str) -> CloudResult<String> {
        let body: wire::NetworksBody = self
            .get(
                Service::Network,
                "/v2.0/networks",
                &[("name", network.to_string())],
                &format!("find network {network}"),
            )
            .await?;
        if let Some(n) = body
            .networks
            .into_iter()
            .find(|n| n.name.as_deref() == Some(network))
        {
            return Ok(n.id);
        }
        if looks_like_uuid(network) {
            return Ok(network.to_string());
        }
        Err(CloudError::new(
            ErrorKind::NotFound,
            None,
            call,
            format!("there is no network named {network:?}"),
        ))
    }

    /// All servers (optionally those whose name contains `name`), page by page. When the
    /// last item of a page is deleted before the next page is asked for, the cloud no
    /// longer knows the marker (400): the listing starts over.
    async fn servers_detail(&self, name: Option<&str>) -> CloudResult<Vec<Server>> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        let mut restarts = 0;
        loop {
            let mut query = vec![("limit", self.config.page_size.max(1).to_string())];
            // Nova reads `name` as a regular expression; pass only names that mean
            // themselves, and match exactly below either way.
            if let Some(n) = name.filter(|n| {
                n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }) {
                query.push(("name", n.to_string()));
            }
            if let Some(m) = &marker {
                query.push(("marker", m.clone()));
            }
            let page: wire::ServersBody = match self
                .get(Service::Compute, "/servers/detail", &query, "list servers")
                .await
            {
                Err(e) if marker_gone(&e) && restarts < MAX_LIST_RESTARTS => {
                    restarts += 1;
                    (all, marker) = (Vec::new(), None);
                    continue;
                }
                other => other?,
            };
            let more = wire::has_next(&page.servers_links);
            marker = page.servers.last().map(|s| s.id.clone());
            all.extend(page.servers.into_iter().map(Server::from));
            if !more || marker.is_none() {
                return Ok(all);
            }
        }
    }

    async fn volumes_detail(&self, name: Option<&str>) -> CloudResult<Vec<Volume>> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        let mut restarts = 0;
        loop {
            let mut query = vec![("limit", self.config.page_size.max(1).to_string())];
            if let Some(n) = name {
                query.push(("name", n.to_string()));
            }
            if let Some(m) = &marker {
                query.push(("marker", m.clone()));
            }
            let page: wire::VolumesBody = match self
                .get(Service::Volume, "/volumes/detail", &query, "list volumes")
                .await
            {
                Err(e) if marker_gone(&e) && restarts < MAX_LIST_RESTARTS => {
                    restarts += 1;
                    (all, marker) = (Vec::new(), None);
                    continue;
                }
                other => other?,
            };
            let more = wire::has_next(&page.volumes_links);
            marker = page.volumes.last().map(|v| v.id.clone());
            all.extend(page.volumes.into_iter().map(Volume::from));
            if !more || marker.is_none() {
                return Ok(all);
            }
        }
    }

    /// Octavia's list filters: `name` and all of `tags`.
    fn lb_query(name: Option<&str>, tags: &[String]) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(n) = name {
            q.push(("name", n.to_string()));
        }
        if !tags.is_empty() {
            q.push(("tags", tags.join(",")));
        }
        q
    }
}

#[async_trait::async_trait]
impl Cloud for OpenStack {
    async fn flavor_list(&self) -> CloudResult<Vec<Flavor>> {
        let body: wire::FlavorsBody = self
            .get(Service::Compute, "/flavors/detail", &[], "list flavors")
            .await?;
        Ok(body.flavors.into_iter().map(Flavor::from).collect())
    }

    async fn image_id(&self, name: &str) -> CloudResult<String> {
        let call = format!("find image {name}");
        let body: wire::ImagesBody = self
            .get(
                Service::Image,
                "/v2/images",
                &[("name", name.to_string())],
                &call,
            )
            .await?;
        let mut named: Vec<wire::WireImage> = body
            .images
            .into_iter()
            .filter(|i| i.name.as_deref() == Some(name))
            .collect();
        // An active image before one still uploading.
        named.sort_by_key(|i| i.status.as_deref() != Some("active"));
        named.into_iter().next().map(|i| i.id).ok_or_else(|| {
            CloudError::new(
                ErrorKind::NotFound,
                None,
                call,
                format!("there is no image named {name:?}"),
            )
        })
    }

    async fn network_id(&self, name_or_id: &str) -> CloudResult<String> {
        self.network_ref(name_or_id, &format!("find network {name_or_id}"))
            .await
    }

    async fn host_usage(&self) -> CloudResult<Vec<HostUsage>> {
        let body: wire::HypervisorsBody = self
            .get(
                Service::Compute,
                "/os-hypervisors/detail",
                &[],
                "list hypervisors",
            )
            .await?;
        Ok(body.hypervisors.into_iter().map(HostUsage::from).collect())
    }

    async fn server_group_create(
        &self,
        name: &str,
        policy: GroupPolicy,
    ) -> CloudResult<ServerGroup> {
        let call = format!("create server group {name}");
        let body = json!({"server_group": {"name": name, "policy": policy.as_str()}});
        self.create(
            &call,
            || self.server_group_find(name),
            || async {
                let made: wire::ServerGroupBody = self
                    .post(Service::Compute, "/os-server-groups", &body, &call)
                    .await?;
                Ok(made.server_group.into())
            },
        )
        .await
    }

    async fn server_group_find(&self, name: &str) -> CloudResult<Option<ServerGroup>> {
        let body: wire::ServerGroupsBody = self
            .get(
                Service::Compute,
                "/os-server-groups",
                &[("limit", "1000".into())],
                &format!("find server group {name}"),
            )
            .await?;
        Ok(body
            .server_groups
            .into_iter()
            .map(ServerGroup::from)
            .find(|g| g.name == name))
    }

    async fn server_group_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::Compute,
            &format!("/os-server-groups/{id}"),
            &format!("delete server group {id}"),
        )
        .await
    }

    async fn server_create(&self, spec: &ServerSpec) -> CloudResult<Server> {
        let call = format!("create server {}", spec.name);
        let flavor = self.flavor_ref(&spec.flavor, &call).await?;
        let image = self.image_ref(&spec.image).await?;
        let networks = match &spec.network {
            Some(n) => json!([{"uuid": self.network_ref(n, &call).await?}]),
            None => json!("auto"),
        };
        let mut server = json!({
            "name": spec.name,
            "flavorRef": flavor,
            "metadata": spec.metadata,
            "networks": networks,
        });
        match spec.boot_volume_gib {
            Some(size) => {
                server["block_device_mapping_v2"] = json!([{
                    "boot_index": 0,
                    "uuid": image,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_size": size,
                    "delete_on_termination": true,
                }]);
            }
            None => server["imageRef"] = json!(image),
        }
        if let Some(data) = &spec.user_data {
            use base64::Engine as _;
            server["user_data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(data.0.as_bytes()));
        }
        let mut body = json!({ "server": server });
        if let Some(g) = &spec.group {
            body["OS-SCH-HNT:scheduler_hints"] = json!({ "group": g });
        }
        let find = || async {
            Ok(self
                .servers_detail(Some(&spec.name))
                .await?
                .into_iter()
                .find(|s| s.name == spec.name && has_all(&s.metadata, &spec.metadata)))
        };
        self.create(&call, find, || async {
            let made: wire::ServerCreatedBody = self
                .post(Service::Compute, "/servers", &body, &call)
                .await?;
            self.server_get(&made.server.id).await
        })
        .await
    }

    async fn server_get(&self, id: &str) -> CloudResult<Server> {
        let body: wire::ServerBody = self
            .get(
                Service::Compute,
                &format!("/servers/{id}"),
                &[],
                &format!("show server {id}"),
            )
            .await?;
        Ok(body.server.into())
    }

    async fn server_list(&self, metadata: &Metadata) -> CloudResult<Vec<Server>> {
        Ok(self
            .servers_detail(None)
            .await?
            .into_iter()
            .filter(|s| has_all(&s.metadata, metadata))
            .collect())
    }

    async fn server_rebuild(&self, id: &str, image: &str, user_data: &UserData) -> CloudResult<()> {
        use base64::Engine as _;
        let call = format!("rebuild server {id}");
        let image = self.image_ref(image).await?;
        let body = json!({"rebuild": {
            "imageRef": image,
            "user_data": base64::engine::general_purpose::STANDARD.encode(user_data.0.as_bytes()),
        }});
        // Not retried here: a rebuild done twice only boots the server once more, and the
        // step that asks for it is retried as a whole.
        self.exchange(
            Service::Compute,
            Method::POST,
            &format!("/servers/{id}/action"),
            &[],
            Some(&body),
            &call,
            Retry::Never,
        )
        .await
        .map(|_| ())
    }

    async fn server_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::Compute,
            &format!("/servers/{id}"),
            &format!("delete server {id}"),
        )
        .await
    }

    async fn volume_create(&self, spec: &VolumeSpec) -> CloudResult<Volume> {
        let call = format!("create volume {}", spec.name);
        let mut volume = json!({
            "name": spec.name,
            "size": spec.size_gib,
            "metadata": spec.metadata,
        });
        if let Some(t) = &spec.volume_type {
            volume["volume_type"] = json!(t);
        }
        let body = json!({ "volume": volume });
        let find = || async {
            Ok(self
                .volumes_detail(Some(&spec.name))
                .await?
                .into_iter()
                .find(|v| v.name == spec.name && has_all(&v.metadata, &spec.metadata)))
        };
        self.create(&call, find, || async {
            let made: wire::VolumeBody =
                self.post(Service::Volume, "/volumes", &body, &call).await?;
            Ok(made.volume.into())
        })
        .await
    }

    async fn volume_get(&self, id: &str) -> CloudResult<Volume> {
        let body: wire::VolumeBody = self
            .get(
                Service::Volume,
                &format!("/volumes/{id}"),
                &[],
                &format!("show volume {id}"),
            )
            .await?;
        Ok(body.volume.into())
    }

    async fn volume_list(&self, metadata: &Metadata) -> CloudResult<Vec<Volume>> {
        Ok(self
            .volumes_detail(None)
            .await?
            .into_iter()
            .filter(|v| has_all(&v.metadata, metadata))
            .collect())
    }

    async fn volume_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::Volume,
            &format!("/volumes/{id}"),
            &format!("delete volume {id}"),
        )
        .await
    }

    async fn volume_extend(&self, id: &str, new_size_gib: u64) -> CloudResult<()> {
        let call = format!("extend volume {id} to {new_size_gib} GiB");
        let path = format!("/volumes/{id}/action");
        let body = json!({"os-extend": {"new_size": new_size_gib}});
        // Retried as "look, then act", like a create: a lost answer does not extend twice.
        let done =
            || async { Ok((self.volume_get(id).await?.size_gib >= new_size_gib).then_some(())) };
        self.create(&call, done, || async {
            self.exchange(
                Service::Volume,
                Method::POST,
                &path,
                &[],
                Some(&body),
                &call,
                Retry::Never,
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn volume_attach(
        &self,
        server_id: &str,
        volume_id: &str,
    ) -> CloudResult<VolumeAttachment> {
        let call = format!("attach volume {volume_id} to server {server_id}");
        let path = format!("/servers/{server_id}/os-volume_attachments");
        let body = json!({"volumeAttachment": {"volumeId": volume_id}});
        let find = || async {
            let list: wire::AttachmentsBody = self.get(Service::Compute, &path, &[], &call).await?;
            Ok(list
                .attachments
                .into_iter()
                .find(|a| a.volume_id == volume_id)
                .map(VolumeAttachment::from))
        };
        self.create(&call, find, || async {
            let made: wire::AttachmentBody =
                self.post(Service::Compute, &path, &body, &call).await?;
            Ok(made.attachment.into())
        })
        .await
    }

    async fn volume_detach(&self, server_id: &str, volume_id: &str) -> CloudResult<()> {
        self.delete(
            Service::Compute,
            &format!("/servers/{server_id}/os-volume_attachments/{volume_id}"),
            &format!("detach volume {volume_id} from server {server_id}"),
        )
        .await
    }

    async fn load_balancer_create(&self, spec: &LoadBalancerSpec) -> CloudResult<LoadBalancer> {
        let call = format!("create load balancer {}", spec.name);
        let mut lb = json!({"name": spec.name, "tags": spec.tags});
        if let Some(n) = &spec.vip_network_id {
            lb["vip_network_id"] = json!(n);
        }
        if let Some(s) = &spec.vip_subnet_id {
            lb["vip_subnet_id"] = json!(s);
        }
        let body = json!({ "loadbalancer": lb });
        let find = || async {
            let list: wire::LoadBalancersBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/loadbalancers",
                    &Self::lb_query(Some(&spec.name), &spec.tags),
                    &call,
                )
                .await?;
            Ok(list
                .loadbalancers
                .into_iter()
                .map(LoadBalancer::from)
                .find(|l| l.name == spec.name && has_tags(&l.tags, &spec.tags)))
        };
        self.create(&call, find, || async {
            let made: wire::LoadBalancerBody = self
                .post(
                    Service::LoadBalancer,
                    "/v2/lbaas/loadbalancers",
                    &body,
                    &call,
                )
                .await?;
            Ok(made.loadbalancer.into())
        })
        .await
    }

    async fn load_balancer_get(&self, id: &str) -> CloudResult<LoadBalancer> {
        let body: wire::LoadBalancerBody = self
            .get(
                Service::LoadBalancer,
                &format!("/v2/lbaas/loadbalancers/{id}"),
                &[],
                &format!("show load balancer {id}"),
            )
            .await?;
        Ok(body.loadbalancer.into())
    }

    async fn load_balancer_list(&self, tags: &[String]) -> CloudResult<Vec<LoadBalancer>> {
        let body: wire::LoadBalancersBody = self
            .get(
                Service::LoadBalancer,
                "/v2/lbaas/loadbalancers",
                &Self::lb_query(None, tags),
                "list load balancers",
            )
            .await?;
        Ok(body
            .loadbalancers
            .into_iter()
            .map(LoadBalancer::from)
            .filter(|l| has_tags(&l.tags, tags))
            .collect())
    }

    async fn load_balancer_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::LoadBalancer,
            &format!("/v2/lbaas/loadbalancers/{id}?cascade=true"),
            &format!("delete load balancer {id}"),
        )
        .await
    }

    async fn listener_create(&self, spec: &ListenerSpec) -> CloudResult<Listener> {
        let call = format!("create listener {}", spec.name);
        let body = json!({"listener": {
            "name": spec.name,
            "protocol": "TCP",
            "protocol_port": spec.port,
            "loadbalancer_id": spec.load_balancer_id,
            "tags": spec.tags,
        }});
        let find = || async {
            let list: wire::ListenersBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/listeners",
                    &Self::lb_query(Some(&spec.name), &spec.tags),
                    &call,
                )
                .await?;
            Ok(list.listeners.into_iter().map(Listener::from).find(|l| {
                l.name == spec.name
                    && has_tags(&l.tags, &spec.tags)
                    && l.load_balancer_ids.contains(&spec.load_balancer_id)
            }))
        };
        self.create(&call, find, || async {
            let made: wire::ListenerBody = self
                .post(Service::LoadBalancer, "/v2/lbaas/listeners", &body, &call)
                .await?;
            Ok(made.listener.into())
        })
        .await
    }

    async fn pool_list(&self, tags: &[String]) -> CloudResult<Vec<Pool>> {
        let body: wire::PoolsBody = self
            .get(
                Service::LoadBalancer,
                "/v2/lbaas/pools",
                &Self::lb_query(None, tags),
                "list pools",
            )
            .await?;
        Ok(body
            .pools
            .into_iter()
            .map(Pool::from)
            .filter(|p| has_tags(&p.tags, tags))
            .collect())
    }

    async fn pool_create(&self, spec: &PoolSpec) -> CloudResult<Pool> {
        let call = format!("create pool {}", spec.name);
        let body = json!({"pool": {
            "name": spec.name,
            "listener_id": spec.listener_id,
            "protocol": "TCP",
            "lb_algorithm": "ROUND_ROBIN",
            "tags": spec.tags,
        }});
        let find = || async {
            let list: wire::PoolsBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/pools",
                    &Self::lb_query(Some(&spec.name), &spec.tags),
                    &call,
                )
                .await?;
            Ok(list.pools.into_iter().map(Pool::from).find(|p| {
                p.name == spec.name
                    && has_tags(&p.tags, &spec.tags)
                    && p.listener_ids.contains(&spec.listener_id)
            }))
        };
        self.create(&call, find, || async {
            let made: wire::PoolBody = self
                .post(Service::LoadBalancer, "/v2/lbaas/pools", &body, &call)
                .await?;
            Ok(made.pool.into())
        })
        .await
    }

    async fn member_add(&self, pool_id: &str, spec: &MemberSpec) -> CloudResult<Member> {
        let call = format!("add member {} to pool {pool_id}", spec.name);
        let path = format!("/v2/lbaas/pools/{pool_id}/members");
        let body = json!({"member": {
            "name": spec.name,
            "address": spec.address,
            "protocol_port": spec.port,
        }});
        // Octavia refuses a second member with the same address and port.
        let find = || async {
            Ok(self
                .member_list(pool_id)
                .await?
                .into_iter()
                .find(|m| m.address == spec.address && m.port == spec.port))
        };
        self.create(&call, find, || async {
            let made: wire::MemberBody = self
                .post(Service::LoadBalancer, &path, &body, &call)
                .await?;
            Ok(made.member.into())
        })
        .await
    }

    async fn member_remove(&self, pool_id: &str, member_id: &str) -> CloudResult<()> {
        self.delete(
            Service::LoadBalancer,
            &format!("/v2/lbaas/pools/{pool_id}/members/{member_id}"),
            &format!("remove member {member_id} from pool {pool_id}"),
        )
        .await
    }

    async fn member_list(&self, pool_id: &str) -> CloudResult<Vec<Member>> {
        let body: wire::MembersBody = self
            .get(
                Service::LoadBalancer,
                &format!("/v2/lbaas/pools/{pool_id}/members"),
                &[],
                &format!("list members of pool {pool_id}"),
            )
            .await?;
        Ok(body.members.into_iter().map(Member::from).collect())
    }

    async fn health_monitor_create(&self, spec: &HealthMonitorSpec) -> CloudResult<HealthMonitor> {
        let call = format!("create health monitor {}", spec.name);
        let body = json!({"healthmonitor": {
            "name": spec.name,
            "pool_id": spec.pool_id,
            "type": "TCP",
            "delay": spec.delay_secs,
            "timeout": spec.timeout_secs,
            "max_retries": spec.max_retries,
        }});
        let find = || async {
            let list: wire::HealthMonitorsBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/healthmonitors",
                    &Self::lb_query(Some(&spec.name), &[]),
                    &call,
                )
                .await?;
            Ok(list
                .healthmonitors
                .into_iter()
                .map(HealthMonitor::from)
                .find(|h| h.name == spec.name && h.pool_ids.contains(&spec.pool_id)))
        };
        self.create(&call, find, || async {
            let made: wire::HealthMonitorBody = self
                .post(
                    Service::LoadBalancer,
                    "/v2/lbaas/healthmonitors",
                    &body,
                    &call,
                )
                .await?;
            Ok(made.healthmonitor.into())
        })
        .await
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8], call: &str) -> CloudResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| CloudError::unexpected(call, format!("unreadable answer: {e}")))
}

/// Strips a version suffix some catalogs put on endpoints the driver adds itself.
fn normalize_endpoint(service: Service, url: String) -> String {
    let strip: &[&str] = match service {
        Service::Image => &["/v2", "/v2.0"],
        Service::Network => &["/v2.0"],
        Service::LoadBalancer => &["/v2", "/v2.0"],
        Service::Compute | Service::Volume => &[],
    };
    for s in strip {
        if let Some(base) = url.strip_suffix(s) {
            return base.to_string();
        }
    }
    url
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

fn looks_like_uuid(s: &str) -> bool {
    let hex = |c: char| c.is_ascii_hexdigit();
    (s.len() == 36 && s.chars().all(|c| hex(c) || c == '-') && s.matches('-').count() == 4)
        || (s.len() == 32 && s.chars().all(hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_modes() {
        let e = |status, msg: &str| CloudError::from_response(status, msg.as_bytes(), "c");
        assert!(Retry::Idempotent.allows(&e(500, "x")));
        assert!(!Retry::Never.allows(&e(503, "x")));
        assert!(!Retry::Idempotent.allows(&e(400, "x")));
    }

    #[test]
    fn endpoints_and_ids() {
        assert_eq!(
            normalize_endpoint(Service::Network, "http://n:9696/v2.0".into()),
            "http://n:9696"
        );
        assert_eq!(
            normalize_endpoint(Service::Compute, "http://c/v2.1".into()),
            "http://c/v2.1"
        );
        assert!(looks_like_uuid("70a599e0-31e7-49b7-b260-868f441e862b"));
        assert!(!looks_like_uuid("ubuntu-22.04-k8s-v1.33"));
    }

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
