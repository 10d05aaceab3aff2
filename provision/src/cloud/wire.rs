//! Serde types for the OpenStack bodies the driver reads, kept apart from the domain
//! types the trait returns. Tolerant on purpose: every field a cloud may omit or send as
//! `null` is an `Option` or has a default, unknown fields are ignored, so a newer
//! microversion or another vendor's extra fields do not break the driver. Public so the
//! contract tests can parse the published API samples with exactly these types.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    Flavor, HealthMonitor, HostUsage, Listener, LoadBalancer, Member, Pool, Server, ServerGroup,
    Volume, VolumeAttachment,
};

/// `{"id": ...}` references inside Octavia bodies.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IdRef {
    pub id: String,
}

/// `<list>_links` entries; `rel: next` means there is another page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Link {
    #[serde(default)]
    pub href: String,
    #[serde(default)]
    pub rel: String,
}

/// Whether a page's links point at a next page.
pub fn has_next(links: &Option<Vec<Link>>) -> bool {
    links
        .as_ref()
        .is_some_and(|l| l.iter().any(|l| l.rel == "next"))
}

// ---------------------------------------------------------------- Keystone

/// The body of `POST /v3/auth/tokens` (the token itself is in `X-Subject-Token`).
#[derive(Clone, Debug, Deserialize)]
pub struct TokenBody {
    pub token: Token,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Token {
    pub expires_at: String,
    #[serde(default)]
    pub issued_at: Option<String>,
    #[serde(default)]
    pub project: Option<Project>,
    #[serde(default)]
    pub catalog: Option<Vec<CatalogEntry>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Project {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CatalogEntry {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Endpoint {
    pub interface: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub region_id: Option<String>,
    pub url: String,
}

/// `GET /v3/auth/catalog`.
#[derive(Clone, Debug, Deserialize)]
pub struct CatalogBody {
    pub catalog: Vec<CatalogEntry>,
}

impl Token {
    /// The public URL of the first service of any of `kinds` (in that order of
    /// preference), in `region` when one is given.
    pub fn endpoint(&self, kinds: &[&str], region: Option<&str>) -> Option<String> {
        let catalog = self.catalog.as_deref().unwrap_or_default();
        kinds.iter().find_map(|kind| {
            catalog
                .iter()
                .filter(|e| e.kind == *kind)
                .flat_map(|e| &e.endpoints)
                .find(|ep| {
                    ep.interface == "public"
                        && region.is_none_or(|r| {
                            ep.region.as_deref() == Some(r) || ep.region_id.as_deref() == Some(r)
                        })
                })
                .map(|ep| ep.url.trim_end_matches('/').to_string())
        })
    }
}

// ---------------------------------------------------------------- Nova

#[derive(Clone, Debug, Deserialize)]
pub struct FlavorsBody {
    pub flavors: Vec<WireFlavor>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireFlavor {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub vcpus: u32,
    #[serde(default)]
    pub ram: u64,
    #[serde(default)]
    pub disk: u64,
}

impl From<WireFlavor> for Flavor {
    fn from(f: WireFlavor) -> Self {
        Flavor {
            id: f.id,
            name: f.name,
            vcpus: f.vcpus,
            ram_mib: f.ram,
            disk_gib: f.disk,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct HypervisorsBody {
    pub hypervisors: Vec<WireHypervisor>,
}

/// Nova before 2.88 (the driver asks for 2.64), where usage is still reported.
#[derive(Clone, Debug, Deserialize)]
pub struct WireHypervisor {
    pub hypervisor_hostname: String,
    #[serde(default)]
    pub vcpus: Option<u64>,
    #[serde(default)]
    pub vcpus_used: Option<u64>,
    #[serde(default)]
    pub memory_mb: Option<u64>,
    #[serde(default)]
    pub memory_mb_used: Option<u64>,
}

impl From<WireHypervisor> for HostUsage {
    fn from(h: WireHypervisor) -> Self {
        HostUsage {
            name: h.hypervisor_hostname,
            vcpus_used: h.vcpus_used.unwrap_or_default(),
            vcpus: h.vcpus.unwrap_or_default(),
            ram_used_mib: h.memory_mb_used.unwrap_or_default(),
            ram_mib: h.memory_mb.unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerGroupBody {
    pub server_group: WireServerGroup,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerGroupsBody {
    pub server_groups: Vec<WireServerGroup>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireServerGroup {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// 2.64 and later.
    #[serde(default)]
    pub policy: Option<String>,
    /// Before 2.64.
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

impl From<WireServerGroup> for ServerGroup {
    fn from(g: WireServerGroup) -> Self {
        let policy = g
            .policy
            .or_else(|| g.policies.and_then(|p| p.into_iter().next()))
            .unwrap_or_default();
        ServerGroup {
            id: g.id,
            name: g.name.unwrap_or_default(),
            policy,
            members: g.members.unwrap_or_default(),
        }
    }
}

/// `POST /servers` answers with little more than the id.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerCreatedBody {
    pub server: Created,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Created {
    pub id: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerBody {
    pub server: WireServer,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServersBody {
    pub servers: Vec<WireServer>,
    #[serde(default)]
    pub servers_links: Option<Vec<Link>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireServer {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub addresses: Option<BTreeMap<String, Vec<WireAddress>>>,
    #[serde(rename = "OS-EXT-SRV-ATTR:host", default)]
    pub host: Option<String>,
    #[serde(default)]
    pub fault: Option<WireFault>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireAddress {
    pub addr: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireFault {
    #[serde(default)]
    pub message: Option<String>,
}

impl From<WireServer> for Server {
    fn from(s: WireServer) -> Self {
        Server {
            id: s.id,
            name: s.name.unwrap_or_default(),
            status: s.status.unwrap_or_default(),
            metadata: s.metadata.unwrap_or_default(),
            addresses: s
                .addresses
                .unwrap_or_default()
                .into_values()
                .flatten()
                .map(|a| a.addr)
                .collect(),
            host: s.host.filter(|h| !h.is_empty()),
            fault: s.fault.and_then(|f| f.message),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct AttachmentBody {
    #[serde(rename = "volumeAttachment")]
    pub attachment: WireAttachment,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AttachmentsBody {
    #[serde(rename = "volumeAttachments")]
    pub attachments: Vec<WireAttachment>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireAttachment {
    #[serde(rename = "serverId")]
    pub server_id: String,
    #[serde(rename = "volumeId")]
    pub volume_id: String,
    #[serde(default)]
    pub device: Option<String>,
}

impl From<WireAttachment> for VolumeAttachment {
    fn from(a: WireAttachment) -> Self {
        VolumeAttachment {
            server_id: a.server_id,
            volume_id: a.volume_id,
            device: a.device,
        }
    }
}

// ---------------------------------------------------------------- Glance

#[derive(Clone, Debug, Deserialize)]
pub struct ImagesBody {
    pub images: Vec<WireImage>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireImage {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

// ---------------------------------------------------------------- Neutron

#[derive(Clone, Debug, Deserialize)]
pub struct NetworksBody {
    pub networks: Vec<WireNetwork>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireNetwork {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub subnets: Option<Vec<String>>,
}

// ---------------------------------------------------------------- Cinder

#[derive(Clone, Debug, Deserialize)]
pub struct VolumeBody {
    pub volume: WireVolume,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VolumesBody {
    pub volumes: Vec<WireVolume>,
    #[serde(default)]
    pub volumes_links: Option<Vec<Link>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireVolume {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub volume_type: Option<String>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub attachments: Option<Vec<WireVolumeAttachment>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireVolumeAttachment {
    #[serde(default)]
    pub server_id: Option<String>,
}

impl From<WireVolume> for Volume {
    fn from(v: WireVolume) -> Self {
        Volume {
            id: v.id,
            name: v.name.unwrap_or_default(),
            status: v.status.unwrap_or_default(),
            size_gib: v.size.unwrap_or_default(),
            volume_type: v.volume_type,
            metadata: v.metadata.unwrap_or_default(),
            attached_to: v
                .attachments
                .unwrap_or_default()
                .into_iter()
                .filter_map(|a| a.server_id)
                .collect(),
        }
    }
}

// ---------------------------------------------------------------- Octavia

#[derive(Clone, Debug, Deserialize)]
pub struct LoadBalancerBody {
    pub loadbalancer: WireLoadBalancer,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LoadBalancersBody {
    pub loadbalancers: Vec<WireLoadBalancer>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireLoadBalancer {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub vip_address: Option<String>,
    #[serde(default)]
    pub provisioning_status: Option<String>,
    #[serde(default)]
    pub operating_status: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl From<WireLoadBalancer> for LoadBalancer {
    fn from(l: WireLoadBalancer) -> Self {
        LoadBalancer {
            id: l.id,
            name: l.name.unwrap_or_default(),
            vip_address: l.vip_address.filter(|a| !a.is_empty()),
            provisioning_status: l.provisioning_status.unwrap_or_default(),
            operating_status: l.operating_status.unwrap_or_default(),
            tags: l.tags.unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ListenerBody {
    pub listener: WireListener,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ListenersBody {
    pub listeners: Vec<WireListener>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireListener {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub protocol_port: Option<u16>,
    #[serde(default)]
    pub loadbalancers: Option<Vec<IdRef>>,
    #[serde(default)]
    pub provisioning_status: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl From<WireListener> for Listener {
    fn from(l: WireListener) -> Self {
        Listener {
            id: l.id,
            name: l.name.unwrap_or_default(),
            protocol: l.protocol.unwrap_or_default(),
            port: l.protocol_port.unwrap_or_default(),
            load_balancer_ids: ids(l.loadbalancers),
            provisioning_status: l.provisioning_status.unwrap_or_default(),
            tags: l.tags.unwrap_or_default(),
        }
    }
}

fn ids(refs: Option<Vec<IdRef>>) -> Vec<String> {
    refs.unwrap_or_default().into_iter().map(|r| r.id).collect()
}

#[derive(Clone, Debug, Deserialize)]
pub struct PoolBody {
    pub pool: WirePool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PoolsBody {
    pub pools: Vec<WirePool>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WirePool {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub lb_algorithm: Option<String>,
    #[serde(default)]
    pub listeners: Option<Vec<IdRef>>,
    #[serde(default)]
    pub healthmonitor_id: Option<String>,
    #[serde(default)]
    pub provisioning_status: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl From<WirePool> for Pool {
    fn from(p: WirePool) -> Self {
        Pool {
            id: p.id,
            name: p.name.unwrap_or_default(),
            protocol: p.protocol.unwrap_or_default(),
            lb_algorithm: p.lb_algorithm.unwrap_or_default(),
            listener_ids: ids(p.listeners),
            health_monitor_id: p.healthmonitor_id.filter(|h| !h.is_empty()),
            provisioning_status: p.provisioning_status.unwrap_or_default(),
            tags: p.tags.unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct MemberBody {
    pub member: WireMember,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MembersBody {
    pub members: Vec<WireMember>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireMember {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub protocol_port: Option<u16>,
    #[serde(default)]
    pub provisioning_status: Option<String>,
    #[serde(default)]
    pub operating_status: Option<String>,
}

impl From<WireMember> for Member {
    fn from(m: WireMember) -> Self {
        Member {
            id: m.id,
            name: m.name.unwrap_or_default(),
            address: m.address.unwrap_or_default(),
            port: m.protocol_port.unwrap_or_default(),
            provisioning_status: m.provisioning_status.unwrap_or_default(),
            operating_status: m.operating_status.unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct HealthMonitorBody {
    pub healthmonitor: WireHealthMonitor,
}

#[derive(Clone, Debug, Deserialize)]
pub struct HealthMonitorsBody {
    pub healthmonitors: Vec<WireHealthMonitor>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WireHealthMonitor {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub pools: Option<Vec<IdRef>>,
    #[serde(default)]
    pub delay: Option<u32>,
    #[serde(default)]
    pub timeout: Option<u32>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub provisioning_status: Option<String>,
}

impl From<WireHealthMonitor> for HealthMonitor {
    fn from(h: WireHealthMonitor) -> Self {
        HealthMonitor {
            id: h.id,
            name: h.name.unwrap_or_default(),
            kind: h.kind.unwrap_or_default(),
            pool_ids: ids(h.pools),
            delay_secs: h.delay.unwrap_or_default(),
            timeout_secs: h.timeout.unwrap_or_default(),
            max_retries: h.max_retries.unwrap_or_default(),
            provisioning_status: h.provisioning_status.unwrap_or_default(),
        }
    }
}
