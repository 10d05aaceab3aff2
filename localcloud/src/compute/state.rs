//! Nova's state: the flavors on offer, servers placed on hosts, server groups, and
//! what each host and project uses.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::errors::{ApiError, NOVA};
use crate::identity::state::Token;
use crate::{Cloud, HostConfig};

use super::placement::{HostUsage, Policy};

/// A flavor on offer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    pub disk_gib: u64,
}

pub struct Compute {
    pub flavors: Vec<Flavor>,
    pub servers: Servers,
}

impl Compute {
    /// The usual m1 set, and the configured hosts.
    pub fn new(config: &crate::Config) -> Compute {
        let f = |id: &str, name: &str, vcpus, ram_mib, disk_gib| Flavor {
            id: id.into(),
            name: name.into(),
            vcpus,
            ram_mib,
            disk_gib,
        };
        Compute {
            flavors: vec![
                f("1", "m1.tiny", 1, 512, 1),
                f("2", "m1.small", 1, 2048, 20),
                f("3", "m1.medium", 2, 4096, 40),
                f("4", "m1.large", 4, 8192, 80),
                f("5", "m1.xlarge", 8, 16384, 160),
            ],
            servers: Servers::new(config.hosts.clone()),
        }
    }
}

pub const NAME_MAX: usize = 255;
pub(crate) const NO_VALID_HOST: &str =
    "No valid host was found. There are not enough hosts available.";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub flavor: Flavor,
    pub image_id: String,
    pub metadata: BTreeMap<String, String>,
    pub host: Option<String>,
    pub group: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub active_at: OffsetDateTime,
    pub fault: Option<String>,
    pub address: String,
    /// When an injected fault turns this server ERROR.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub fails_at: Option<OffsetDateTime>,
    /// Plugged in through Neutron ports; false for servers saved before ports existed,
    /// which get a port for `address` at start.
    #[serde(default)]
    pub ported: bool,
    /// What the server was given to read at boot (Nova's `user_data`, decoded). Never
    /// shown back: a cluster node's holds its private key.
    #[serde(default)]
    pub user_data: Option<String>,
    /// Stopped with `os-stop` (SHUTOFF) until `os-start`.
    #[serde(default)]
    pub stopped: bool,
    /// Rebuilt: REBUILD (not BUILD) until `active_at`.
    #[serde(default)]
    pub rebuilt: bool,
}

pub(crate) const INJECTED_FAULT: &str = "Injected fault: the instance failed on its hypervisor.";

impl Server {
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.fault.is_some() || self.fails_at.is_some_and(|t| now >= t) {
            "ERROR"
        } else if self.stopped {
            "SHUTOFF"
        } else if now >= self.active_at {
            "ACTIVE"
        } else if self.rebuilt {
            "REBUILD"
        } else {
            "BUILD"
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub policy: Policy,
    pub project_id: String,
    pub user_id: String,
    pub members: Vec<String>,
}

/// Compute state: servers, groups and the hosts they sit on.
pub struct Servers {
    pub(crate) hosts: Vec<HostConfig>,
    pub(crate) state: Mutex<State_>,
}

/// The saved form of compute state (see [`crate::common::persist`]).
#[derive(Default, Serialize, Deserialize)]
pub struct State_ {
    pub(crate) servers: BTreeMap<String, Server>,
    pub(crate) groups: BTreeMap<String, ServerGroup>,
    /// Unused since addresses come from ports; kept so older saved state loads.
    pub(crate) next_address: u32,
    pub(crate) version: u64,
}

impl State_ {
    /// Marks a change and returns what to save.
    pub(crate) fn changed(&mut self) -> (u64, String) {
        self.version += 1;
        crate::common::persist::snapshot(self, self.version)
    }
}

pub(crate) async fn save(cloud: &Cloud, (version, body): (u64, String)) {
    cloud.persist.save("compute", version, &body).await;
}

impl Servers {
    pub fn new(hosts: Vec<HostConfig>) -> Servers {
        Servers {
            hosts,
            state: Mutex::new(State_::default()),
        }
    }

    /// Restores saved state at start.
    pub fn restore(&self, saved: State_) {
        if let Ok(mut state) = self.state.lock() {
            *state = saved;
        }
    }

    pub(crate) fn lock(&self) -> Result<std::sync::MutexGuard<'_, State_>, ApiError> {
        self.state
            .lock()
            .map_err(|_| NOVA.err(StatusCode::INTERNAL_SERVER_ERROR, "compute state poisoned"))
    }

    /// Whether server `id` exists in `project_id` (Cinder's `os-attach` asks).
    pub fn in_project(&self, id: &str, project_id: &str) -> bool {
        self.state
            .lock()
            .map(|st| {
                st.servers
                    .get(id)
                    .is_some_and(|s| s.project_id == project_id)
            })
            .unwrap_or(false)
    }

    /// `(instances, cores, RAM MiB, server groups)` a project holds, for quota views.
    pub fn project_usage(&self, project_id: &str) -> (u64, u64, u64, u64) {
        self.state
            .lock()
            .map(|st| usage_of(&st, project_id))
            .unwrap_or_default()
    }

    /// `(server id, project, fixed address)` of placed servers saved before ports
    /// existed, so that they can be given theirs at start.
    pub fn addressed(&self) -> Vec<(String, String, String)> {
        self.state
            .lock()
            .map(|st| {
                st.servers
                    .values()
                    .filter(|s| !s.ported && s.host.is_some() && !s.address.is_empty())
                    .map(|s| (s.id.clone(), s.project_id.clone(), s.address.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each host's capacity and use.
    pub fn usage(&self) -> Vec<HostUsage> {
        self.state
            .lock()
            .map(|st| self.usage_in(&st))
            .unwrap_or_default()
    }

    pub(crate) fn usage_in(&self, state: &State_) -> Vec<HostUsage> {
        self.hosts
            .iter()
            .map(|h| {
                let on = || {
                    state
                        .servers
                        .values()
                        .filter(|s| s.host.as_deref() == Some(h.name.as_str()))
                };
                HostUsage {
                    name: h.name.clone(),
                    vcpus: h.vcpus,
                    ram_mib: h.ram_mib,
                    vcpus_used: on().map(|s| s.flavor.vcpus as u64).sum(),
                    ram_used_mib: on().map(|s| s.flavor.ram_mib).sum(),
                }
            })
            .collect()
    }
}

/// `(instances, cores, RAM MiB, server groups)` of a project; servers in ERROR count,
/// as in Nova.
pub(crate) fn usage_of(state: &State_, project_id: &str) -> (u64, u64, u64, u64) {
    let (n, c, r) = state
        .servers
        .values()
        .filter(|s| s.project_id == project_id)
        .fold((0, 0, 0), |(n, c, r), s| {
            (n + 1, c + s.flavor.vcpus as u64, r + s.flavor.ram_mib)
        });
    let groups = state
        .groups
        .values()
        .filter(|g| g.project_id == project_id)
        .count() as u64;
    (n, c, r, groups)
}

pub(crate) fn visible<'a>(
    state: &'a State_,
    token: &Token,
    id: &str,
) -> Result<&'a Server, ApiError> {
    state
        .servers
        .get(id)
        .filter(|s| s.project_id == token.project_id)
        .ok_or_else(|| {
            NOVA.err(
                StatusCode::NOT_FOUND,
                format!("Instance {id} could not be found."),
            )
        })
}
