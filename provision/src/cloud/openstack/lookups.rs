//! What the calls look up before acting: a flavor, image or network by name or id,
//! and every page of a server, volume or load balancer listing.

use super::*;

impl OpenStack {
    pub(super) async fn flavor_ref(&self, flavor: &str, call: &str) -> CloudResult<String> {
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

    pub(super) async fn image_ref(&self, image: &str) -> CloudResult<String> {
        if looks_like_uuid(image) {
            return Ok(image.to_string());
        }
        self.image_id(image).await
    }

    pub(super) async fn network_ref(&self, network: &str, call: &str) -> CloudResult<String> {
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
    pub(super) async fn servers_detail(&self, name: Option<&str>) -> CloudResult<Vec<Server>> {
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

    pub(super) async fn volumes_detail(&self, name: Option<&str>) -> CloudResult<Vec<Volume>> {
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
    pub(super) fn lb_query(name: Option<&str>, tags: &[String]) -> Vec<(&'static str, String)> {
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
