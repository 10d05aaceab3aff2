//! Auto-repair on a cluster Shipyard made: a worker whose server is put into ERROR
//! through Nova's admin action (`os-resetState`) is replaced by a `node.repair`
//! operation that says why, and `kubectl get nodes` comes back to as many Ready nodes;
//! with half the workers broken at once nothing is repaired, and the audit log says why;
//! a repair that fails before the old server goes deletes its new one, after, keeps it.
//! A master in ERROR is replaced while the other two keep etcd's quorum (the new one
//! serves the API under its own certificate and takes the old one's place in the API
//! pool); the only master of a cluster is not, and the hold says why.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use provision::cloud::{Cloud, Server};
use provision::clusters;
use provision::clusters::saga;
use provision::clusters::saga::cluster_metadata;
use provision::controllers::repair::RepairSettings;
use provision::controllers::{Controllers, CONTROLLER};
use provision::domain::AuditFilter;
use provision::ops::{OpState, OperationRow, SagaKind, Step, StepContext, StepDef, StepError};
use provision::Store;
use serde_json::Value;

mod common;
use common::kubectl::*;
use common::*;

fn ready_nodes(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap_or_default();
    let mut names: Vec<String> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .map(|n| n["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    names
}

/// Nova's admin action `os-resetState` (what `openstack server set --state error`
/// sends).
async fn reset_state(e: &Env, server_id: &str, state: &str) {
    nova_action(
        e,
        server_id,
        serde_json::json!({"os-resetState": {"state": state}}),
    )
    .await;
}

/// Auto-repair in seconds rather than minutes.
fn quick() -> RepairSettings {
    RepairSettings {
        not_ready_for: Duration::from_secs(5),
        unregistered_for: Duration::from_secs(30),
        every: Duration::from_secs(1),
        ..RepairSettings::default()
    }
}

/// A cluster of one master and `workers` workers, its kubeconfig, kubectl, and its
/// workers' servers once every node is Ready.
async fn cluster(e: &Env, name: &str, workers: u32) -> (String, PathBuf, PathBuf, Vec<Server>) {
    cluster_of(e, name, 1, workers, "worker").await
}

/// A cluster of `masters` masters and `workers` workers, its kubeconfig, kubectl, and
/// its servers of `role` once every node is Ready.
async fn cluster_of(
    e: &Env,
    name: &str,
    masters: u32,
    workers: u32,
    role: &str,
) -> (String, PathBuf, PathBuf, Vec<Server>) {
    let started = clusters::create(
        &e.store,
        &e.engine,
        &e.actor,
        &e.project,
        spec(name, masters, workers),
        &e.flavors,
    )
    .await
    .unwrap();
    drain(&e.engine).await;
    let id = started.cluster.id.clone();
    let kc = clusters::kubeconfig(&e.store, &e.key, &e.actor, &id, None)
        .await
        .unwrap();
    let config = e.dir.join(&kc.file_name);
    std::fs::write(&config, &kc.yaml).unwrap();
    let k = kubectls().pop().unwrap();
    let (_, out, err) = until(
        &k,
        &config,
        &["get", "nodes", "-o", "json"],
        60,
        |ok, out| ok && ready_nodes(out).len() == workers as usize,
    )
    .await;
    assert_eq!(ready_nodes(&out).len(), workers as usize, "{out} {err}");
    let mut servers: Vec<Server> = e
        .cloud
        .server_list(&cluster_metadata(&id))
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.metadata["shipyard-role"] == role)
        .collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    (id, k, config, servers)
}

fn controllers(e: &Env) -> tokio::task::JoinHandle<()> {
    Controllers {
        store: e.store.clone(),
        engine: e.engine.clone(),
        cloud: e.cloud.clone(),
        key: std::sync::Arc::new(e.key.clone()),
        autoscaler: Default::default(),
        repair: quick(),
    }
    .install()
}

async fn audit(store: &Store, action: &str) -> Vec<provision::domain::AuditEntry> {
    store
        .audit_list(&AuditFilter {
            action: Some(action.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn timings(c: &mut localcloud::Config) {
    c.node_timings = localcloud::guests::NodeTimings {
        heartbeat: Duration::from_secs(1),
        grace: Duration::from_secs(5),
    };
}

both!(
    an_error_worker_is_replaced_by_a_new_one,
    |store: Store| async move {
        let e = env(store, timings).await;
        let (id, k, config, workers) = cluster(&e, "rp", 3).await;
        let _engine = e.engine.spawn();
        let controllers = controllers(&e);
        let broken = workers[1].clone();
        reset_state(&e, &broken.id, "error").await;

        eventually("a node.repair operation ends", 120, || async {
            let ops = e.store.op_list_for(&id).await.unwrap();
            ops.iter()
                .any(|o| o.kind == "node.repair" && !o.state.unfinished())
        })
        .await;
        let op = e
            .store
            .op_list_for(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.kind == "node.repair")
            .unwrap();
        assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
        assert_eq!(op.requested_by, CONTROLLER);
        let reason = op.spec["reason"].as_str().unwrap().to_string();
        assert!(
            reason.starts_with(&format!("worker {} is ERROR in the cloud", broken.name)),
            "{reason}"
        );
        let events = e.store.op_events(&op.id).await.unwrap();
        assert!(
            events
                .iter()
                .any(|ev| ev.event == "started" && ev.detail.contains(&reason)),
            "the reason on the operation's page: {events:?}"
        );
        let requested = audit(&e.store, "node.repair").await;
        assert!(
            requested.iter().any(|a| a.object == broken.name
                && a.actor_email == CONTROLLER
                && a.detail.contains(&reason)),
            "{requested:?}"
        );

        // The old server is gone; a new one, the group's next, is ACTIVE in its place.
        let replacement = format!("{}-default-worker-3", &broken.name[..11]);
        let now: Vec<Server> = e.cloud.server_list(&cluster_metadata(&id)).await.unwrap();
        assert!(!now.iter().any(|s| s.id == broken.id), "{now:?}");
        let new = now
            .iter()
            .find(|s| s.name == replacement)
            .unwrap_or_else(|| panic!("{now:?}"));
        assert_eq!(new.status, "ACTIVE");
        assert_eq!(new.metadata["shipyard-node-group"], "default-worker");
        assert_eq!(
            now.iter()
                .filter(|s| s.metadata["shipyard-role"] == "worker")
                .count(),
            3
        );

        // kubectl: as many Ready nodes as before, the new one among them, the old one gone.
        let (_, out, err) = until(
            &k,
            &config,
            &["get", "nodes", "-o", "json"],
            60,
            |ok, out| ok && ready_nodes(out).len() == 3 && ready_nodes(out).contains(&replacement),
        )
        .await;
        let ready = ready_nodes(&out);
        assert_eq!(ready.len(), 3, "{out} {err}");
        assert!(ready.contains(&replacement), "{ready:?}");
        let (ok, out, err) = kubectl(&k, &config, &["get", "nodes", "-o", "name"]);
        assert!(ok && !out.contains(&broken.name), "{out} {err}");
        let (ok, out, _) = kubectl(&k, &config, &["get", "node", &replacement, "--show-labels"]);
        assert!(
            ok && out.contains("shipyard.io/node-group=default-worker"),
            "{out}"
        );

        // One repair an hour for three nodes: a second broken worker waits, and says so.
        reset_state(&e, &workers[0].id, "error").await;
        eventually("the hourly bound is said", 60, || async {
            audit(&e.store, "node.repair.hold")
                .await
                .iter()
                .any(|a| a.detail.contains("had 1 repair(s) in the last 1h"))
        })
        .await;
        let repairs = e
            .store
            .op_list_for(&id)
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind == "node.repair")
            .count();
        assert_eq!(repairs, 1);
        controllers.abort();
    }
);

both!(
    half_the_workers_broken_repairs_none_and_says_why,
    |store: Store| async move {
        let e = env(store, timings).await;
        let (id, _k, _config, workers) = cluster(&e, "sick", 4).await;
        let _engine = e.engine.spawn();
        reset_state(&e, &workers[0].id, "error").await;
        reset_state(&e, &workers[2].id, "error").await;
        let controllers = controllers(&e);

        eventually("the hold is in the audit log", 60, || async {
            !audit(&e.store, "node.repair.hold").await.is_empty()
        })
        .await;
        // Several passes later: still nothing repaired, and the hold said once.
        tokio::time::sleep(Duration::from_secs(8)).await;
        let holds = audit(&e.store, "node.repair.hold").await;
        assert_eq!(holds.len(), 1, "{holds:?}");
        let hold = &holds[0];
        assert_eq!(hold.actor_email, CONTROLLER);
        assert_eq!(hold.outcome, "denied");
        assert!(
        hold.detail.starts_with(&format!(
            "2 of 4 nodes are unready ({}, {}), more than 40 %: the cloud looks sick, not the nodes",
            workers[0].name, workers[2].name
        )),
        "{}",
        hold.detail
    );
        let ops = e.store.op_list_for(&id).await.unwrap();
        assert!(!ops.iter().any(|o| o.kind == "node.repair"), "{ops:?}");
        let cluster = e.store.cluster_by_id(&id).await.unwrap();
        assert!(
            cluster.status_reason.as_deref().is_some_and(
                |r| r.starts_with("Auto-repair is holding back: 2 of 4 nodes are unready")
            ),
            "the cluster page says it: {:?}",
            cluster.status_reason
        );
        let servers = e.cloud.server_list(&cluster_metadata(&id)).await.unwrap();
        assert_eq!(servers.iter().filter(|s| s.status == "ERROR").count(), 2);

        // One comes back: 1 of 4 is not sick; the other is repaired and the note goes.
        reset_state(&e, &workers[0].id, "active").await;
        eventually("the remaining broken worker is repaired", 120, || async {
            e.store
                .op_list_for(&id)
                .await
                .unwrap()
                .iter()
                .any(|o| o.kind == "node.repair" && o.state == OpState::Succeeded)
        })
        .await;
        let cluster = e.store.cluster_by_id(&id).await.unwrap();
        assert_eq!(cluster.status_reason, None);
        controllers.abort();
    }
);

both!(
    a_broken_master_is_replaced_while_etcd_keeps_quorum,
    |store: Store| async move {
        let e = env(store, timings).await;
        let (id, k, config, masters) = cluster_of(&e, "ha", 3, 1, "master").await;
        assert_eq!(masters.len(), 3);
        let _engine = e.engine.spawn();
        let controllers = controllers(&e);
        let broken = masters[1].clone();
        let p = &broken.name[..broken.name.len() - "-master-1".len()];
        reset_state(&e, &broken.id, "error").await;

        eventually("a master.repair operation ends", 180, || async {
            let ops = e.store.op_list_for(&id).await.unwrap();
            ops.iter()
                .any(|o| o.kind == "master.repair" && !o.state.unfinished())
        })
        .await;
        let ops = e.store.op_list_for(&id).await.unwrap();
        let op = ops.iter().find(|o| o.kind == "master.repair").unwrap();
        assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
        assert_eq!(op.requested_by, CONTROLLER);
        assert!(!ops.iter().any(|o| o.kind == "node.repair"), "{ops:?}");
        let reason = op.spec["reason"].as_str().unwrap().to_string();
        assert!(
            reason.starts_with(&format!("master {} is ERROR in the cloud", broken.name)),
            "{reason}"
        );
        assert!(
            audit(&e.store, "master.repair")
                .await
                .iter()
                .any(|a| a.object == broken.name && a.detail.contains(&reason)),
            "the audit log says why"
        );

        // The cloud: the broken master and its etcd volume are gone; the masters' next,
        // with an etcd volume of its own, in their place.
        let replacement = format!("{p}-master-3");
        let servers = e.cloud.server_list(&cluster_metadata(&id)).await.unwrap();
        assert!(!servers.iter().any(|s| s.id == broken.id), "{servers:?}");
        let now: Vec<&Server> = servers
            .iter()
            .filter(|s| s.metadata["shipyard-role"] == "master")
            .collect();
        let mut names: Vec<&str> = now.iter().map(|s| s.name.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                format!("{p}-master-0"),
                format!("{p}-master-2"),
                replacement.clone()
            ]
        );
        let new = now.iter().find(|s| s.name == replacement).unwrap();
        assert_eq!(new.status, "ACTIVE");
        let volumes = e.cloud.volume_list(&cluster_metadata(&id)).await.unwrap();
        let mut etcd: Vec<&str> = volumes
            .iter()
            .filter(|v| v.name.starts_with(&format!("{p}-etcd-")))
            .map(|v| v.name.as_str())
            .collect();
        etcd.sort();
        assert_eq!(
            etcd,
            [
                format!("{p}-etcd-0"),
                format!("{p}-etcd-2"),
                format!("{p}-etcd-3")
            ]
        );
        let new_etcd = volumes
            .iter()
            .find(|v| v.name == format!("{p}-etcd-3"))
            .unwrap();
        assert_eq!(new_etcd.attached_to, std::slice::from_ref(&new.id));

        // The API pool sends to the three healthy masters, the new one on its address.
        let pool = e
            .cloud
            .pool_list(&[saga::cluster_tag(&id)])
            .await
            .unwrap()
            .into_iter()
            .find(|pl| pl.name == format!("{p}-api-masters"))
            .unwrap();
        let members = e.cloud.member_list(&pool.id).await.unwrap();
        let mut in_pool: Vec<(String, String)> = members
            .iter()
            .map(|m| (m.name.clone(), m.address.clone()))
            .collect();
        in_pool.sort();
        let mut want: Vec<(String, String)> = now
            .iter()
            .map(|s| (s.name.clone(), s.addresses[0].clone()))
            .collect();
        want.sort();
        assert_eq!(in_pool, want);

        // kubectl through the VIP, and straight to the new master under its own name:
        // its certificate is for it, and it serves the cluster's nodes.
        let (_, out, err) = until(
            &k,
            &config,
            &["get", "nodes", "-o", "json"],
            60,
            |ok, out| ok && ready_nodes(out).len() == 1,
        )
        .await;
        assert_eq!(ready_nodes(&out).len(), 1, "{out} {err}");
        let direct = format!("--server=https://{}:6443", new.addresses[0]);
        let name = format!("--tls-server-name={replacement}");
        let (ok, out, err) = kubectl(&k, &config, &[&direct, &name, "get", "nodes", "-o", "json"]);
        assert!(ok && ready_nodes(&out).len() == 1, "{out} {err}");
        let wrong = format!("--tls-server-name={p}-master-0");
        let (ok, _, err) = kubectl(&k, &config, &[&direct, &wrong, "get", "nodes"]);
        assert!(!ok, "another master's name must not verify: {err}");
        controllers.abort();
    }
);

both!(
    the_only_master_is_not_replaced_and_the_hold_says_why,
    |store: Store| async move {
        let e = env(store, timings).await;
        let (id, _k, _config, masters) = cluster_of(&e, "solo", 1, 1, "master").await;
        let _engine = e.engine.spawn();
        reset_state(&e, &masters[0].id, "error").await;
        let controllers = controllers(&e);
        eventually("the hold is in the audit log", 60, || async {
            !audit(&e.store, "node.repair.hold").await.is_empty()
        })
        .await;
        let holds = audit(&e.store, "node.repair.hold").await;
        assert_eq!(holds.len(), 1, "{holds:?}");
        assert!(
            holds[0]
                .detail
                .starts_with(&format!("master {} is ERROR in the cloud", masters[0].name))
                && holds[0]
                    .detail
                    .contains("etcd has lost its quorum (0 of 1 masters healthy)"),
            "{}",
            holds[0].detail
        );
        let ops = e.store.op_list_for(&id).await.unwrap();
        assert!(!ops.iter().any(|o| o.kind == "master.repair"), "{ops:?}");
        let servers = e.cloud.server_list(&cluster_metadata(&id)).await.unwrap();
        assert_eq!(
            servers
                .iter()
                .filter(|s| s.metadata["shipyard-role"] == "master")
                .count(),
            1
        );
        let cluster = e.store.cluster_by_id(&id).await.unwrap();
        assert!(
            cluster
                .status_reason
                .as_deref()
                .is_some_and(|r| r.contains("etcd has lost its quorum")),
            "{:?}",
            cluster.status_reason
        );
        controllers.abort();
    }
);

/// Fails a step (by key prefix) after it ran, once armed.
#[derive(Clone, Default)]
struct FailAfter(Arc<Mutex<Option<String>>>);

impl FailAfter {
    fn arm(&self, prefix: Option<&str>) {
        *self.0.lock().unwrap() = prefix.map(str::to_string);
    }
}

struct FailingKind {
    inner: Arc<dyn SagaKind>,
    fail: FailAfter,
}

struct FailingStep {
    inner: Arc<dyn Step>,
    key: String,
    fail: FailAfter,
}

#[async_trait::async_trait]
impl SagaKind for FailingKind {
    fn steps(&self, spec: &Value) -> provision::Result<Vec<StepDef>> {
        Ok(self
            .inner
            .steps(spec)?
            .into_iter()
            .map(|d| StepDef {
                step: Arc::new(FailingStep {
                    inner: d.step.clone(),
                    key: d.key.clone(),
                    fail: self.fail.clone(),
                }),
                ..d
            })
            .collect())
    }
    fn unwinds(&self) -> bool {
        self.inner.unwinds()
    }
    fn summary(&self, spec: &Value) -> Option<String> {
        self.inner.summary(spec)
    }
    async fn succeeded(&self, op: &OperationRow) -> provision::Result<()> {
        self.inner.succeeded(op).await
    }
    async fn unwound(&self, op: &OperationRow) -> provision::Result<()> {
        self.inner.unwound(op).await
    }
}

#[async_trait::async_trait]
impl Step for FailingStep {
    async fn run(&self, cx: &StepContext) -> Result<Value, StepError> {
        let out = self.inner.run(cx).await?;
        let armed = self.fail.0.lock().unwrap().clone();
        if armed.is_some_and(|p| self.key.starts_with(&p)) {
            return Err(StepError::permanent(format!("injected after {}", self.key)));
        }
        Ok(out)
    }
    async fn undo(&self, cx: &StepContext, output: Option<&Value>) -> Result<(), StepError> {
        self.inner.undo(cx, output).await
    }
}

both!(
    a_failed_repair_keeps_one_worker_of_the_two,
    |store: Store| async move {
        let e = env(store, timings).await;
        let (id, _k, _config, workers) = cluster(&e, "fail", 3).await;
        let fail = FailAfter::default();
        let settings = saga::Settings {
            secret_key: Arc::new(e.key.clone()),
            ..test_settings()
        };
        let kinds = saga::kinds(&e.store, e.cloud.clone(), settings)
            .into_iter()
            .map(|(n, k)| {
                let k: Arc<dyn SagaKind> = Arc::new(FailingKind {
                    inner: k,
                    fail: fail.clone(),
                });
                (n, k)
            })
            .collect();
        let engine = engine_with(&e.store, kinds);
        let _engine = engine.spawn();
        let _controllers = Controllers {
            store: e.store.clone(),
            engine: engine.clone(),
            cloud: e.cloud.clone(),
            key: Arc::new(e.key.clone()),
            autoscaler: Default::default(),
            // Three repairs an hour for three workers, so that the second try may start.
            repair: RepairSettings {
                per_window_percent: 100,
                ..quick()
            },
        }
        .install();
        let broken = workers[2].clone();
        let replacement = format!("{}-default-worker-3", &broken.name[..11]);
        let repairs = || async {
            e.store
                .op_list_for(&id)
                .await
                .unwrap()
                .into_iter()
                .filter(|o| o.kind == "node.repair")
                .collect::<Vec<_>>()
        };

        // A failure before the old server goes: the new one is deleted, the old one stays.
        fail.arm(Some("ready-"));
        reset_state(&e, &broken.id, "error").await;
        eventually("the first repair is unwound", 120, || async {
            repairs()
                .await
                .first()
                .is_some_and(|o| !o.state.unfinished())
        })
        .await;
        let first = repairs().await.remove(0);
        assert_eq!(first.state, OpState::Unwound, "{:?}", first.error);
        let now = e.cloud.server_list(&cluster_metadata(&id)).await.unwrap();
        assert!(now.iter().any(|s| s.id == broken.id), "{now:?}");
        assert!(!now.iter().any(|s| s.name == replacement), "{now:?}");

        // A failure after it went: the new one stays, and nothing more is repaired.
        fail.arm(Some("node-"));
        eventually("the second repair is unwound", 120, || async {
            let ops = repairs().await;
            ops.len() == 2 && ops.iter().all(|o| !o.state.unfinished())
        })
        .await;
        fail.arm(None);
        let now = e.cloud.server_list(&cluster_metadata(&id)).await.unwrap();
        assert!(!now.iter().any(|s| s.id == broken.id), "{now:?}");
        let new = now
            .iter()
            .find(|s| s.name == replacement)
            .unwrap_or_else(|| panic!("{now:?}"));
        assert_eq!(new.status, "ACTIVE");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(repairs().await.len(), 2, "the cluster is healthy again");
    }
);
