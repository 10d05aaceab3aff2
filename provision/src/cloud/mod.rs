//! The cloud driver: what a Kubernetes-cluster provisioner asks of a cloud, as one small
//! trait ([`Cloud`]) with plain owned types, so that sagas and reconcilers are written
//! once and run against localcloud in tests and against a real OpenStack in production.
//!
//! Every `*_create` is idempotent: it first looks for a resource with the same name and
//! owner metadata (servers, volumes) or tags (load balancers, listeners, pools) and
//! returns that instead of making a second one. Every delete treats "already gone" as
//! success. Errors say which call failed and carry the cloud's own message.

mod config;
mod error;
mod openstack;
pub mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

pub use config::{OpenStackConfig, RetryPolicy};
pub use error::{CloudError, ErrorKind};
pub use openstack::OpenStack;

/// Results of cloud calls.
pub type CloudResult<T> = std::result::Result<T, CloudError>;

/// Owner metadata or tags: key/value pairs a resource must all carry.
pub type Metadata = BTreeMap<String, String>;

/// A flavor on offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    pub disk_gib: u64,
}

/// One compute host's capacity and use (Nova hypervisors, admin only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUsage {
    pub name: String,
    pub vcpus_used: u64,
    pub vcpus: u64,
    pub ram_used_mib: u64,
    pub ram_mib: u64,
}

/// How a server group spreads its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupPolicy {
    /// Members never share a host; a member that cannot get its own host fails.
    AntiAffinity,
    /// Members share a host only when there is no other way.
    SoftAntiAffinity,
}

impl GroupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupPolicy::AntiAffinity => "anti-affinity",
            GroupPolicy::SoftAntiAffinity => "soft-anti-affinity",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    /// As the cloud reports it (`anti-affinity`, ...).
    pub policy: String,
    pub members: Vec<String>,
}

/// What to boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSpec {
    pub name: String,
    /// Flavor name or id.
    pub flavor: String,
    /// Image name or id.
    pub image: String,
    /// Owner metadata; also what makes a second create find the first server.
    pub metadata: Metadata,
    /// Server group id (scheduler hint).
    pub group: Option<String>,
    /// Network name or id; `None` lets the cloud choose.
    pub network: Option<String>,
    /// Boot from a new volume of this size made from the image, instead of local disk.
    pub boot_volume_gib: Option<u64>,
    /// What the server reads at boot (Nova's `user_data`, sent base64-encoded): a
    /// cluster node's bootstrap. It holds keys, so `Debug` leaves it out.
    pub user_data: Option<UserData>,
}

/// A server's boot data. Its `Debug` says only how long it is: it carries private keys.
#[derive(Clone, PartialEq, Eq)]
pub struct UserData(pub String);

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserData({} bytes)", self.0.len())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: String,
    pub name: String,
    /// Nova's status: `BUILD`, `ACTIVE`, `ERROR`, ...
    pub status: String,
    pub metadata: Metadata,
    /// Fixed and floating addresses, in the order the cloud lists them.
    pub addresses: Vec<String>,
    /// The compute host (visible to admins only).
    pub host: Option<String>,
    /// Why the server is in ERROR, in the cloud's words.
    pub fault: Option<String>,
}

/// What block storage to make.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub size_gib: u64,
    pub volume_type: Option<String>,
    pub metadata: Metadata,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    pub name: String,
    /// Cinder's status: `creating`, `available`, `in-use`, `error`, ...
    pub status: String,
    pub size_gib: u64,
    pub volume_type: Option<String>,
    pub metadata: Metadata,
    /// Ids of the servers it is attached to.
    pub attached_to: Vec<String>,
}

/// A volume attached to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeAttachment {
    pub server_id: String,
    pub volume_id: String,
    /// The device the hypervisor chose (`/dev/vdb`); a hint, not a promise.
    pub device: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    pub name: String,
    /// Owner tags; Octavia tags are plain strings (use `key=value`).
    pub tags: Vec<String>,
    pub vip_network_id: Option<String>,
    pub vip_subnet_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    pub id: String,
    pub name: String,
    pub vip_address: Option<String>,
    /// `PENDING_CREATE`, `ACTIVE`, `ERROR`, ...
    pub provisioning_status: String,
    pub operating_status: String,
    pub tags: Vec<String>,
}

/// A TCP listener on a load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    pub name: String,
    pub load_balancer_id: String,
    pub port: u16,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub id: String,
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub load_balancer_ids: Vec<String>,
    pub provisioning_status: String,
    pub tags: Vec<String>,
}

/// A round-robin TCP pool behind a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    pub listener_id: String,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub id: String,
    pub name: String,
    pub protocol: String,
    pub lb_algorithm: String,
    pub listener_ids: Vec<String>,
    pub health_monitor_id: Option<String>,
    pub provisioning_status: String,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    pub name: String,
    pub address: String,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub address: String,
    pub port: u16,
    pub provisioning_status: String,
    pub operating_status: String,
}

/// A TCP health check on a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthMonitorSpec {
    pub name: String,
    pub pool_id: String,
    pub delay_secs: u32,
    pub timeout_secs: u32,
    pub max_retries: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthMonitor {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub pool_ids: Vec<String>,
    pub delay_secs: u32,
    pub timeout_secs: u32,
    pub max_retries: u32,
    pub provisioning_status: String,
}

/// How long and how often to poll for a state: exponential backoff from `initial` up to
/// `max_interval`, giving up after `deadline` with a retryable error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitPolicy {
    pub initial: Duration,
    pub max_interval: Duration,
    pub deadline: Duration,
}

impl Default for WaitPolicy {
    /// Real clouds build a VM in about a minute; ten are allowed.
    fn default() -> Self {
        WaitPolicy {
            initial: Duration::from_secs(1),
            max_interval: Duration::from_secs(15),
            deadline: Duration::from_secs(600),
        }
    }
}

/// What one poll of a waited-for resource says.
enum Poll<T> {
    Ready(T),
    /// Not yet; the current state, for the time-out message.
    Pending(String),
}

/// Polls `check` until it is ready, fails permanently, or the deadline passes. Retryable
/// errors while polling (a 503, a dropped connection) do not end the wait.
async fn wait_for<T, F, Fut>(what: &str, policy: &WaitPolicy, mut check: F) -> CloudResult<T>
where
    F: FnMut() -> Fut + Send,
    Fut: std::future::Future<Output = CloudResult<Poll<T>>> + Send,
    T: Send,
{
    let start = tokio::time::Instant::now();
    let mut interval = policy.initial;
    loop {
        let last = match check().await {
            Ok(Poll::Ready(t)) => return Ok(t),
            Ok(Poll::Pending(state)) => state,
            Err(e) if e.retryable() => e.to_string(),
            Err(e) => return Err(e),
        };
        let elapsed = start.elapsed();
        if elapsed >= policy.deadline {
            return Err(CloudError::new(
                ErrorKind::Retryable,
                None,
                what,
                format!(
                    "timed out after {:.1}s (last: {last})",
                    elapsed.as_secs_f64()
                ),
            ));
        }
        let left = policy.deadline - elapsed;
        tokio::time::sleep(interval.min(left)).await;
        interval = (interval * 2).min(policy.max_interval.max(policy.initial));
    }
}

/// The cloud as the provisioner sees it. Object safe: use it as `Arc<dyn Cloud>`.
#[async_trait::async_trait]
pub trait Cloud: Send + Sync {
    // --- catalog ---
    async fn flavor_list(&self) -> CloudResult<Vec<Flavor>>;
    /// The id of the (active) image with this exact name; `NotFound` when there is none.
    async fn image_id(&self, name: &str) -> CloudResult<String>;
    /// The id of the network with this name (or this id).
    async fn network_id(&self, name_or_id: &str) -> CloudResult<String>;
    /// Capacity and use of every compute host (admin credentials needed).
    async fn host_usage(&self) -> CloudResult<Vec<HostUsage>>;

    // --- server groups ---
    async fn server_group_create(
        &self,
        name: &str,
        policy: GroupPolicy,
    ) -> CloudResult<ServerGroup>;
    async fn server_group_find(&self, name: &str) -> CloudResult<Option<ServerGroup>>;
    async fn server_group_delete(&self, id: &str) -> CloudResult<()>;

    // --- servers ---
    /// Starts building a server (or returns the one already made from this spec).
    async fn server_create(&self, spec: &ServerSpec) -> CloudResult<Server>;
    async fn server_get(&self, id: &str) -> CloudResult<Server>;
    /// Servers carrying every given metadata pair.
    async fn server_list(&self, metadata: &Metadata) -> CloudResult<Vec<Server>>;
    async fn server_delete(&self, id: &str) -> CloudResult<()>;
    /// Boots the server again from `image` with new user data (Nova's rebuild, 2.57+);
    /// its volumes stay attached. Wait for it with [`Cloud::wait_server_active`].
    async fn server_rebuild(&self, id: &str, image: &str, user_data: &UserData) -> CloudResult<()>;

    // --- volumes ---
    async fn volume_create(&self, spec: &VolumeSpec) -> CloudResult<Volume>;
    async fn volume_get(&self, id: &str) -> CloudResult<Volume>;
    async fn volume_list(&self, metadata: &Metadata) -> CloudResult<Vec<Volume>>;
    async fn volume_delete(&self, id: &str) -> CloudResult<()>;
    /// Grows a volume to `new_size_gib`; a volume already that big is left alone.
    async fn volume_extend(&self, id: &str, new_size_gib: u64) -> CloudResult<()>;
    async fn volume_attach(
        &self,
        server_id: &str,
        volume_id: &str,
    ) -> CloudResult<VolumeAttachment>;
    async fn volume_detach(&self, server_id: &str, volume_id: &str) -> CloudResult<()>;

    // --- load balancers ---
    async fn load_balancer_create(&self, spec: &LoadBalancerSpec) -> CloudResult<LoadBalancer>;
    async fn load_balancer_get(&self, id: &str) -> CloudResult<LoadBalancer>;
    /// Load balancers carrying every given tag.
    async fn load_balancer_list(&self, tags: &[String]) -> CloudResult<Vec<LoadBalancer>>;
    /// Deletes the load balancer with its listeners, pools, members and monitors.
    async fn load_balancer_delete(&self, id: &str) -> CloudResult<()>;
    async fn listener_create(&self, spec: &ListenerSpec) -> CloudResult<Listener>;
    /// Listeners carrying every given tag.
    async fn listener_list(&self, tags: &[String]) -> CloudResult<Vec<Listener>>;
    /// Deletes a listener (its pool goes first: [`Cloud::pool_delete`]); gone is done.
    async fn listener_delete(&self, id: &str) -> CloudResult<()>;
    async fn pool_create(&self, spec: &PoolSpec) -> CloudResult<Pool>;
    /// Deletes a pool with its members and health monitor; gone is done.
    async fn pool_delete(&self, id: &str) -> CloudResult<()>;
    /// Pools carrying every given tag.
    async fn pool_list(&self, tags: &[String]) -> CloudResult<Vec<Pool>>;
    async fn member_add(&self, pool_id: &str, spec: &MemberSpec) -> CloudResult<Member>;
    async fn member_remove(&self, pool_id: &str, member_id: &str) -> CloudResult<()>;
    async fn member_list(&self, pool_id: &str) -> CloudResult<Vec<Member>>;
    async fn health_monitor_create(&self, spec: &HealthMonitorSpec) -> CloudResult<HealthMonitor>;

    // --- waiting (provided) ---
    /// Waits until the server is ACTIVE. ERROR ends the wait with a permanent error
    /// carrying the server's fault message ("No valid host was found ...").
    async fn wait_server_active(&self, id: &str, policy: &WaitPolicy) -> CloudResult<Server> {
        let what = format!("wait for server {id} to be ACTIVE");
        wait_for(&what, policy, || async {
            let s = self.server_get(id).await?;
            match s.status.as_str() {
                "ACTIVE" => Ok(Poll::Ready(s)),
                "ERROR" => Err(CloudError::new(
                    ErrorKind::Permanent,
                    None,
                    &what,
                    format!(
                        "server {} is in ERROR: {}",
                        s.name,
                        s.fault.as_deref().unwrap_or("no fault message")
                    ),
                )),
                other => Ok(Poll::Pending(format!("status {other}"))),
            }
        })
        .await
    }

    /// Waits until the volume has `status` (`available`, `in-use`); any `error*` status
    /// ends the wait with a permanent error.
    async fn wait_volume_status(
        &self,
        id: &str,
        status: &str,
        policy: &WaitPolicy,
    ) -> CloudResult<Volume> {
        let what = format!("wait for volume {id} to be {status}");
        wait_for(&what, policy, || async {
            let v = self.volume_get(id).await?;
            if v.status == status {
                Ok(Poll::Ready(v))
            } else if v.status.starts_with("error") {
                Err(CloudError::new(
                    ErrorKind::Permanent,
                    None,
                    &what,
                    format!("volume {} is in {}", v.name, v.status),
                ))
            } else {
                Ok(Poll::Pending(format!("status {}", v.status)))
            }
        })
        .await
    }

    async fn wait_volume_available(&self, id: &str, policy: &WaitPolicy) -> CloudResult<Volume> {
        self.wait_volume_status(id, "available", policy).await
    }

    /// Waits until the load balancer is ACTIVE (Octavia refuses changes while it is
    /// PENDING_*); ERROR ends the wait with a permanent error.
    async fn wait_load_balancer_active(
        &self,
        id: &str,
        policy: &WaitPolicy,
    ) -> CloudResult<LoadBalancer> {
        let what = format!("wait for load balancer {id} to be ACTIVE");
        wait_for(&what, policy, || async {
            let lb = self.load_balancer_get(id).await?;
            match lb.provisioning_status.as_str() {
                "ACTIVE" => Ok(Poll::Ready(lb)),
                "ERROR" => Err(CloudError::new(
                    ErrorKind::Permanent,
                    None,
                    &what,
                    format!("load balancer {} is in ERROR", lb.name),
                )),
                other => Ok(Poll::Pending(format!("provisioning_status {other}"))),
            }
        })
        .await
    }
}

/// `Arc<C>` and `Box<C>` are clouds too (`C` may be `dyn Cloud`), so code generic over
/// `impl Cloud` takes a shared driver, and a wrapper can decorate any of them.
macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        #[async_trait::async_trait]
        impl<C: Cloud + ?Sized> Cloud for std::sync::Arc<C> {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret {
                (**self).$name($($arg),*).await
            })*
        }
        #[async_trait::async_trait]
        impl<C: Cloud + ?Sized> Cloud for Box<C> {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret {
                (**self).$name($($arg),*).await
            })*
        }
    };
}

delegate! {
    flavor_list() -> CloudResult<Vec<Flavor>>;
    image_id(name: &str) -> CloudResult<String>;
    network_id(name_or_id: &str) -> CloudResult<String>;
    host_usage() -> CloudResult<Vec<HostUsage>>;
    server_group_create(name: &str, policy: GroupPolicy) -> CloudResult<ServerGroup>;
    server_group_find(name: &str) -> CloudResult<Option<ServerGroup>>;
    server_group_delete(id: &str) -> CloudResult<()>;
    server_create(spec: &ServerSpec) -> CloudResult<Server>;
    server_get(id: &str) -> CloudResult<Server>;
    server_list(metadata: &Metadata) -> CloudResult<Vec<Server>>;
    server_delete(id: &str) -> CloudResult<()>;
    server_rebuild(id: &str, image: &str, user_data: &UserData) -> CloudResult<()>;
    volume_create(spec: &VolumeSpec) -> CloudResult<Volume>;
    volume_get(id: &str) -> CloudResult<Volume>;
    volume_list(metadata: &Metadata) -> CloudResult<Vec<Volume>>;
    volume_delete(id: &str) -> CloudResult<()>;
    volume_extend(id: &str, new_size_gib: u64) -> CloudResult<()>;
    volume_attach(server_id: &str, volume_id: &str) -> CloudResult<VolumeAttachment>;
    volume_detach(server_id: &str, volume_id: &str) -> CloudResult<()>;
    load_balancer_create(spec: &LoadBalancerSpec) -> CloudResult<LoadBalancer>;
    load_balancer_get(id: &str) -> CloudResult<LoadBalancer>;
    load_balancer_list(tags: &[String]) -> CloudResult<Vec<LoadBalancer>>;
    load_balancer_delete(id: &str) -> CloudResult<()>;
    listener_create(spec: &ListenerSpec) -> CloudResult<Listener>;
    listener_list(tags: &[String]) -> CloudResult<Vec<Listener>>;
    listener_delete(id: &str) -> CloudResult<()>;
    pool_create(spec: &PoolSpec) -> CloudResult<Pool>;
    pool_delete(id: &str) -> CloudResult<()>;
    pool_list(tags: &[String]) -> CloudResult<Vec<Pool>>;
    member_add(pool_id: &str, spec: &MemberSpec) -> CloudResult<Member>;
    member_remove(pool_id: &str, member_id: &str) -> CloudResult<()>;
    member_list(pool_id: &str) -> CloudResult<Vec<Member>>;
    health_monitor_create(spec: &HealthMonitorSpec) -> CloudResult<HealthMonitor>;
    wait_server_active(id: &str, policy: &WaitPolicy) -> CloudResult<Server>;
    wait_volume_status(id: &str, status: &str, policy: &WaitPolicy) -> CloudResult<Volume>;
    wait_volume_available(id: &str, policy: &WaitPolicy) -> CloudResult<Volume>;
    wait_load_balancer_active(id: &str, policy: &WaitPolicy) -> CloudResult<LoadBalancer>;
}

/// Whether `have` carries every pair of `want`.
pub(crate) fn has_all(have: &Metadata, want: &Metadata) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Whether `have` carries every tag of `want`.
pub(crate) fn has_tags(have: &[String], want: &[String]) -> bool {
    want.iter().all(|t| have.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wait_times_out_retryably_and_passes_ready_through() {
        let policy = WaitPolicy {
            initial: Duration::from_millis(10),
            max_interval: Duration::from_millis(40),
            deadline: Duration::from_millis(200),
        };
        let mut polls = 0;
        let e = wait_for::<(), _, _>("wait for x", &policy, || {
            polls += 1;
            async { Ok(Poll::Pending("status BUILD".into())) }
        })
        .await
        .expect_err("times out");
        assert!(e.retryable(), "{e}");
        assert!(e.message.contains("status BUILD"), "{e}");
        // 10 + 20 + 40 + 40 + 40 + 40 + 10 ms: backoff is bounded, the deadline kept.
        assert!((6..=9).contains(&polls), "{polls} polls");
        let ok = wait_for("wait for y", &policy, || async { Ok(Poll::Ready(7)) }).await;
        assert_eq!(ok.ok(), Some(7));
    }

    #[test]
    fn owner_matching() {
        let have: Metadata = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert!(has_all(&have, &[("a".into(), "1".into())].into()));
        assert!(!has_all(&have, &[("a".into(), "2".into())].into()));
        assert!(has_tags(&["x".into(), "y".into()], &["y".into()]));
        assert!(!has_tags(&["x".into()], &["y".into()]));
    }
}
