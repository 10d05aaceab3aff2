//! The network side of load balancers: each listener of a live load balancer binds
//! `<vip>:<protocol_port>` on loopback and forwards every TCP connection to one of its
//! pool's healthy members, round robin; health monitors really connect to members.
//! Both dial only through [`crate::egress::connect`], the gate that keeps every
//! connection inside this cloud's own loopback subnets.
//!
//! [`reconcile`] makes the bound sockets match the state. Handlers call it after every
//! change (so a listener reported ACTIVE is already bound) and a background loop calls
//! it a few times a second (timed transitions, probes, rebinding after a restart).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::loadbalancers::state::{release_vip, Busy, LbState, Pending};
use crate::Cloud;

/// How often the background loop runs.
pub const TICK: Duration = Duration::from_millis(200);
/// How long forwarding waits for a member to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Buffer per direction of a forwarded connection (where splice(2) is not available).
#[cfg(not(target_os = "linux"))]
const COPY_BUFFER: usize = 64 * 1024;

struct Bound {
    addr: SocketAddr,
    task: AbortHandle,
}

/// A member's health as probes saw it.
#[derive(Clone, Copy)]
struct Health {
    status: &'static str,
    ok: u32,
    failed: u32,
}

#[derive(Default)]
struct Inner {
    bound: HashMap<String, Bound>,
    bind_errors: HashMap<String, String>,
    health: HashMap<String, Health>,
    last_probe: HashMap<String, Instant>,
    rr: HashMap<String, usize>,
}

#[derive(Default)]
pub struct Net {
    inner: Mutex<Inner>,
    reconciling: tokio::sync::Mutex<()>,
}

impl Net {
    /// A member's operating status under a health monitor: OFFLINE until first probed.
    pub fn health(&self, member_id: &str) -> &'static str {
        self.inner
            .lock()
            .ok()
            .and_then(|i| i.health.get(member_id).map(|h| h.status))
            .unwrap_or("OFFLINE")
    }

    /// Why a listener could not bind, if it could not.
    pub fn bind_error(&self, listener_id: &str) -> Option<String> {
        self.inner
            .lock()
            .ok()
            .and_then(|i| i.bind_errors.get(listener_id).cloned())
    }

    /// Listener id → bound `vip:port`.
    pub fn bound(&self) -> HashMap<String, String> {
        self.inner
            .lock()
            .map(|i| {
                i.bound
                    .iter()
                    .map(|(k, b)| (k.clone(), b.addr.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Closes every listening socket (on stop, so that a restart can bind again).
    pub fn shutdown(&self, state: &LbState) {
        if let Ok(mut i) = self.inner.lock() {
            for (_, b) in i.bound.drain() {
                b.task.abort();
            }
        }
        for lb in state.loadbalancers.values() {
            release_vip(lb.vip_address);
        }
    }

    /// Members a new connection on `listener_id` may go to, in round-robin order:
    /// enabled, and ONLINE when the pool has a health monitor; backups only when no
    /// other member qualifies.
    fn targets(&self, st: &LbState, listener_id: &str) -> Vec<SocketAddr> {
        let Some(pool_id) = st
            .listeners
            .get(listener_id)
            .and_then(|l| l.default_pool_id.clone())
        else {
            return Vec::new();
        };
        let Some(pool) = st.pools.get(&pool_id).filter(|p| p.c.admin_state_up) else {
            return Vec::new();
        };
        let monitored = st
            .monitor_of(&pool.c.id)
            .is_some_and(|h| h.c.admin_state_up);
        let Ok(mut inner) = self.inner.lock() else {
            return Vec::new();
        };
        let eligible = |backup: bool| -> Vec<SocketAddr> {
            st.members_of(&pool_id)
                .filter(|m| m.c.admin_state_up && m.backup == backup)
                .filter(|m| {
                    !monitored
                        || inner
                            .health
                            .get(&m.c.id)
                            .is_some_and(|h| h.status == "ONLINE")
                })
                .map(|m| SocketAddr::from((m.address, m.protocol_port)))
                .collect()
        };
        let mut members = eligible(false);
        if members.is_empty() {
            members = eligible(true);
        }
        if members.is_empty() {
            return members;
        }
        let next = inner.rr.entry(listener_id.to_string()).or_insert(0);
        let start = *next % members.len();
        *next = next.wrapping_add(1);
        members.rotate_left(start);
        members
    }

    fn record_probe(&self, member_id: &str, ok: bool, rise: u32, fall: u32) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let h = inner.health.entry(member_id.to_string()).or_insert(Health {
            status: "OFFLINE",
            ok: 0,
            failed: 0,
        });
        let first = h.status == "OFFLINE";
        if ok {
            h.ok += 1;
            h.failed = 0;
            if first || h.ok >= rise {
                h.status = "ONLINE";
            }
        } else {
            h.failed += 1;
            h.ok = 0;
            if first || h.failed >= fall {
                h.status = "ERROR";
            }
        }
    }
}

/// Makes bound listeners match the state and starts due health probes.
pub async fn reconcile(cloud: &Arc<Cloud>) {
    let net = &cloud.lbnet;
    let _one_at_a_time = net.reconciling.lock().await;
    let now = OffsetDateTime::now_utc();
    // Lock order everywhere: `state`, then `inner` (handlers read health while holding
    // the state); never the other way round.
    let (wanted, probes, live) = {
        let Ok(st) = cloud.lbs.state.lock() else {
            return;
        };
        let live: HashSet<String> = st.members.keys().cloned().collect();
        (wanted_listeners(&st, now), due_probes(net, &st), live)
    };
    for probe in probes {
        let cloud = Arc::downgrade(cloud);
        tokio::spawn(async move {
            let Some(c) = cloud.upgrade() else { return };
            let ok = crate::egress::connect(&c, probe.addr, probe.timeout)
                .await
                .is_ok();
            drop(c);
            if let Some(cloud) = cloud.upgrade() {
                cloud
                    .lbnet
                    .record_probe(&probe.member_id, ok, probe.rise, probe.fall);
            }
        });
    }
    // Unbind what is no longer wanted (or moved).
    let to_bind: Vec<(String, SocketAddr)> = {
        let Ok(mut inner) = net.inner.lock() else {
            return;
        };
        inner.bound.retain(|id, b| {
            let keep = wanted.get(id) == Some(&b.addr);
            if !keep {
                b.task.abort();
            }
            keep
        });
        inner.bind_errors.retain(|id, _| wanted.contains_key(id));
        inner.health.retain(|id, _| live.contains(id));
        wanted
            .iter()
            .filter(|(id, _)| !inner.bound.contains_key(*id))
            .map(|(id, a)| (id.clone(), *a))
            .collect()
    };
    for (id, addr) in to_bind {
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                let task = tokio::spawn(serve(listener, Arc::downgrade(cloud), id.clone()));
                if let Ok(mut inner) = net.inner.lock() {
                    inner.bind_errors.remove(&id);
                    inner.bound.insert(
                        id,
                        Bound {
                            addr,
                            task: task.abort_handle(),
                        },
                    );
                }
            }
            Err(e) => {
                if let Ok(mut inner) = net.inner.lock() {
                    if !inner.bind_errors.contains_key(&id) {
                        tracing::warn!(listener = %id, %addr, error = %e, "listener cannot bind");
                    }
                    inner.bind_errors.insert(id, e.to_string());
                }
            }
        }
    }
}

/// Listener id → address, for listeners that should be serving now: the listener and
/// its load balancer exist, are enabled, and are neither being created nor deleted.
fn wanted_listeners(st: &LbState, now: OffsetDateTime) -> HashMap<String, SocketAddr> {
    let settled = |busy: &Option<Busy>| {
        !busy
            .as_ref()
            .is_some_and(|b| now < b.until && b.kind != Pending::Update)
    };
    st.listeners
        .values()
        .filter(|l| l.c.admin_state_up && settled(&l.c.busy))
        .filter_map(|l| {
            let lb = st.loadbalancers.get(&l.loadbalancer_id)?;
            let deleting =
                lb.c.busy
                    .as_ref()
                    .is_some_and(|b| b.kind == Pending::Delete);
            (lb.c.admin_state_up && settled(&lb.c.busy) && !deleting).then(|| {
                (
                    l.c.id.clone(),
                    SocketAddr::from((lb.vip_address, l.protocol_port)),
                )
            })
        })
        .collect()
}

struct Probe {
    member_id: String,
    addr: SocketAddr,
    timeout: Duration,
    rise: u32,
    fall: u32,
}

/// Probes of the members of every monitored pool whose monitor delay has passed.
fn due_probes(net: &Net, st: &LbState) -> Vec<Probe> {
    let Ok(mut inner) = net.inner.lock() else {
        return Vec::new();
    };
    let now = Instant::now();
    let mut probes = Vec::new();
    for hm in st.monitors.values().filter(|h| h.c.admin_state_up) {
        let due = inner
            .last_probe
            .get(&hm.c.id)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(hm.delay));
        let unprobed = st
            .members_of(&hm.pool_id)
            .any(|m| !inner.health.contains_key(&m.c.id));
        if !due && !unprobed {
            continue;
        }
        inner.last_probe.insert(hm.c.id.clone(), now);
        for m in st.members_of(&hm.pool_id).filter(|m| m.c.admin_state_up) {
            probes.push(Probe {
                member_id: m.c.id.clone(),
                addr: SocketAddr::from((
                    m.monitor_address.unwrap_or(m.address),
                    m.monitor_port.unwrap_or(m.protocol_port),
                )),
                timeout: Duration::from_secs(hm.timeout),
                rise: hm.max_retries,
                fall: hm.max_retries_down,
            });
        }
    }
    probes
}

/// Accepts on one listener and forwards each connection.
async fn serve(listener: TcpListener, cloud: Weak<Cloud>, listener_id: String) {
    loop {
        let inbound = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accept");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(c) = cloud.upgrade() else {
            return;
        };
        let targets = c
            .lbs
            .state
            .lock()
            .map(|st| c.lbnet.targets(&st, &listener_id))
            .unwrap_or_default();
        tokio::spawn(forward(c, inbound, targets));
    }
}

/// Connects to the first member that answers (and that the gate lets it dial) and
/// copies both ways until both sides have closed. With no member to go to, the client's
/// connection is closed.
#[cfg_attr(target_os = "linux", allow(unused_mut))]
async fn forward(cloud: Arc<Cloud>, mut inbound: TcpStream, targets: Vec<SocketAddr>) {
    let _ = inbound.set_nodelay(true);
    for addr in targets {
        let dialled = crate::egress::connect(&cloud, addr, CONNECT_TIMEOUT).await;
        #[cfg_attr(target_os = "linux", allow(unused_mut))]
        if let Ok(mut outbound) = dialled {
            drop(cloud);
            let _ = outbound.set_nodelay(true);
            #[cfg(target_os = "linux")]
            let _ = splice::both_ways(&inbound, &outbound).await;
            #[cfg(not(target_os = "linux"))]
            let _ = tokio::io::copy_bidirectional_with_sizes(
                &mut inbound,
                &mut outbound,
                COPY_BUFFER,
                COPY_BUFFER,
            )
            .await;
            return;
        }
    }
}

/// Zero-copy forwarding on Linux: bytes move socket → pipe → socket inside the kernel
/// with splice(2), so the proxy costs little more than a direct connection.
#[cfg(target_os = "linux")]
mod splice {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    use tokio::io::Interest;
    use tokio::net::TcpStream;

    const CHUNK: usize = 1 << 20;

    struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
    }

    fn pipe() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into the array we pass; we own them after.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // A bigger pipe moves more per call; failure only means the default size.
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
        Ok(Pipe { read, write })
    }

    fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
        // SAFETY: plain descriptors, no offsets (null), both stay open for the call.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Moves everything from `src` to `dst`; at end of stream shuts down `dst`'s write
    /// side, as a TCP proxy passes on a half-close.
    async fn one_way(src: &TcpStream, dst: &TcpStream) -> io::Result<u64> {
        let pipe = pipe()?;
        let mut total = 0;
        loop {
            let n = loop {
                src.readable().await?;
                match src.try_io(Interest::READABLE, || {
                    splice(src.as_raw_fd(), pipe.write.as_raw_fd(), CHUNK)
                }) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                // SAFETY: shutdown on a descriptor the stream keeps open.
                unsafe { libc::shutdown(dst.as_raw_fd(), libc::SHUT_WR) };
                return Ok(total);
            }
            let mut left = n;
            while left > 0 {
                dst.writable().await?;
                match dst.try_io(Interest::WRITABLE, || {
                    splice(pipe.read.as_raw_fd(), dst.as_raw_fd(), left)
                }) {
                    Ok(m) => left -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
            total += n as u64;
        }
    }

    /// Both directions at once. An error on either side ends both (the connections
    /// close when the caller drops them); a clean end of one side waits for the other.
    pub async fn both_ways(a: &TcpStream, b: &TcpStream) -> io::Result<()> {
        let up = one_way(a, b);
        let down = one_way(b, a);
        tokio::pin!(up, down);
        tokio::select! {
            r = &mut up => { r?; down.await?; }
            r = &mut down => { r?; up.await?; }
        }
        Ok(())
    }
}
