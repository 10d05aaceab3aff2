//! Every cluster saga, with each step run twice and with a failure injected after each
//! step.

use std::sync::Arc;

use provision::clusters;
use provision::clusters::saga::{self, cluster_metadata, cluster_tag};
use provision::clusters::workloads::{claim_volume, service_lb};
use provision::ops::OpState;
use provision::Store;

use crate::both;
use crate::common::*;
use crate::support::*;

// ---- every saga: each step twice, and a failure after each step ---------------------

#[derive(Clone, Debug, Default, PartialEq)]
enum ChaosMode {
    #[default]
    Off,
    /// Every step runs twice (the second answer is the one recorded); undos too.
    Twice,
    /// This step does its work and then reports a permanent failure.
    FailAt(String),
}

#[derive(Clone, Default)]
struct Chaos(Arc<std::sync::Mutex<ChaosMode>>);

impl Chaos {
    fn set(&self, m: ChaosMode) {
        *self.0.lock().unwrap() = m;
    }
    fn get(&self) -> ChaosMode {
        self.0.lock().unwrap().clone()
    }
}

struct ChaosKind {
    inner: Arc<dyn provision::ops::SagaKind>,
    chaos: Chaos,
}

struct ChaosStep {
    inner: Arc<dyn provision::ops::Step>,
    key: String,
    chaos: Chaos,
}

#[async_trait::async_trait]
impl provision::ops::SagaKind for ChaosKind {
    fn steps(&self, spec: &serde_json::Value) -> provision::Result<Vec<provision::ops::StepDef>> {
        Ok(self
            .inner
            .steps(spec)?
            .into_iter()
            .map(|d| provision::ops::StepDef {
                step: Arc::new(ChaosStep {
                    inner: d.step.clone(),
                    key: d.key.clone(),
                    chaos: self.chaos.clone(),
                }),
                ..d
            })
            .collect())
    }
    fn unwinds(&self) -> bool {
        self.inner.unwinds()
    }
    async fn succeeded(&self, op: &provision::ops::OperationRow) -> provision::Result<()> {
        self.inner.succeeded(op).await
    }
    async fn unwound(&self, op: &provision::ops::OperationRow) -> provision::Result<()> {
        self.inner.unwound(op).await
    }
}

#[async_trait::async_trait]
impl provision::ops::Step for ChaosStep {
    async fn run(
        &self,
        cx: &provision::ops::StepContext,
    ) -> Result<serde_json::Value, provision::ops::StepError> {
        let out = self.inner.run(cx).await?;
        match self.chaos.get() {
            ChaosMode::Twice => self.inner.run(cx).await,
            ChaosMode::FailAt(k) if k == self.key => Err(provision::ops::StepError::permanent(
                format!("injected failure after {k} did its work"),
            )),
            _ => Ok(out),
        }
    }
    async fn undo(
        &self,
        cx: &provision::ops::StepContext,
        output: Option<&serde_json::Value>,
    ) -> Result<(), provision::ops::StepError> {
        self.inner.undo(cx, output).await?;
        // An undo is idempotent too: a second one finds nothing to do.
        self.inner.undo(cx, output).await
    }
}

async fn step_keys(store: &Store, op: &str) -> Vec<String> {
    store
        .op_steps(op)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.step)
        .collect()
}

async fn op_state(store: &Store, op: &str) -> OpState {
    let op = store.op_get(op).await.unwrap();
    op.state
}

both!(
    every_saga_survives_each_step_twice_and_a_failure_after_each_step,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let chaos = Chaos::default();
        let kinds = saga::kinds(&e.store, e.cloud.clone(), test_settings())
            .into_iter()
            .map(|(n, k)| {
                let k: Arc<dyn provision::ops::SagaKind> = Arc::new(ChaosKind {
                    inner: k,
                    chaos: chaos.clone(),
                });
                (n, k)
            })
            .collect();
        let engine = engine_with(&e.store, kinds);
        let cloud = e.cloud.as_ref();
        let (store, actor, project) = (&e.store, &e.actor, e.project.as_str());
        let create = |name: String| {
            let engine = engine.clone();
            let flavors = e.flavors.clone();
            async move {
                clusters::create(store, &engine, actor, project, spec(&name, 1, 1), &flavors)
                    .await
                    .unwrap()
            }
        };

        // Cluster create, every step twice: ACTIVE with exactly its resources.
        chaos.set(ChaosMode::Twice);
        let twice = create("twice".into()).await;
        drain(&engine).await;
        assert_eq!(
            op_state(store, &twice.operation.id).await,
            OpState::Succeeded
        );
        let id = twice.cluster.id.clone();
        let (servers, volumes, lbs, group) = inventory(cloud, &id).await;
        assert_eq!(
            (servers.len(), volumes.len(), lbs.len(), group),
            (2, 1, 1, true)
        );
        assert_eq!(volumes[0].attached_to.len(), 1);
        let pool = step_output(&e, &twice.operation.id, "api-pool").await;
        assert_eq!(
            cloud
                .member_list(pool["id"].as_str().unwrap())
                .await
                .unwrap()
                .len(),
            1
        );
        let create_keys = step_keys(store, &twice.operation.id).await;
        assert_eq!(create_keys.len(), 12, "{create_keys:?}");

        // Cluster create, a failure after each step: unwound, nothing left.
        for (i, key) in create_keys.iter().enumerate() {
            chaos.set(ChaosMode::FailAt(key.clone()));
            let s = create(format!("fail-{i}")).await;
            drain(&engine).await;
            assert_eq!(
                op_state(store, &s.operation.id).await,
                OpState::Unwound,
                "failure at {key}"
            );
            assert_empty(cloud, &s.cluster.id).await;
            assert!(
                provision::pki::ca_get(store, &s.cluster.id)
                    .await
                    .unwrap()
                    .is_none(),
                "CA left after {key}"
            );
            let c = store.cluster_get(project, &s.cluster.id).await.unwrap();
            assert_eq!(c.status, model::ClusterStatus::Failed);
            assert!(c.status_reason.unwrap().contains(key.as_str()));
            chaos.set(ChaosMode::Off);
            clusters::delete(store, &engine, actor, project, &s.cluster.id)
                .await
                .unwrap();
            drain(&engine).await;
        }

        // Scale up: twice gives exactly the target; a failure at each step unwinds.
        let workers = || async {
            cloud
                .server_list(&cluster_metadata(&id))
                .await
                .unwrap()
                .into_iter()
                .filter(|s| s.metadata["shipyard-role"] == "worker")
                .count()
        };
        let change = |n: u32| clusters::NodeGroupChange {
            node_count: Some(n),
            ..Default::default()
        };
        chaos.set(ChaosMode::Twice);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(3),
        )
        .await
        .unwrap()
        .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 3);
        chaos.set(ChaosMode::Off);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(1),
        )
        .await
        .unwrap()
        .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        chaos.set(ChaosMode::FailAt("nothing yet".into()));
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(2),
        )
        .await
        .unwrap()
        .unwrap();
        let key = step_keys(store, &op.id).await.remove(0);
        chaos.set(ChaosMode::FailAt(key.clone()));
        drain(&engine).await;
        assert_eq!(
            op_state(store, &op.id).await,
            OpState::Unwound,
            "failure at {key}"
        );
        assert_eq!(workers().await, 1);

        // Shrink: a failure stops it as failed; a retry finishes it.
        chaos.set(ChaosMode::Off);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(2),
        )
        .await
        .unwrap()
        .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(1),
        )
        .await
        .unwrap()
        .unwrap();
        let key = step_keys(store, &op.id).await.remove(0);
        chaos.set(ChaosMode::FailAt(key.clone()));
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Off);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        assert_eq!(store.node_groups_of(&id).await.unwrap()[0].node_count, 1);

        // Node group create: twice, exactly its workers; a failure at each step unwinds.
        let group = |name: &str| -> clusters::NodeGroupSpec {
            serde_json::from_value(
                serde_json::json!({"name": name, "flavor": "m1.small", "node_count": 2}),
            )
            .unwrap()
        };
        chaos.set(ChaosMode::Twice);
        let (_, op) =
            clusters::node_group_create(store, &engine, actor, &id, group("extra"), &e.flavors)
                .await
                .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 3);
        for key in step_keys(store, &op.id).await {
            let key = key.replace("extra", "flaky");
            chaos.set(ChaosMode::FailAt(key.clone()));
            let (_, op) =
                clusters::node_group_create(store, &engine, actor, &id, group("flaky"), &e.flavors)
                    .await
                    .unwrap();
            drain(&engine).await;
            assert_eq!(
                op_state(store, &op.id).await,
                OpState::Unwound,
                "failure at {key}"
            );
            assert_eq!(workers().await, 3);
            assert_eq!(store.node_groups_of(&id).await.unwrap().len(), 2);
        }
        // Node group delete: twice; and a failure at each step, then a retry.
        chaos.set(ChaosMode::Twice);
        let op = clusters::node_group_delete(store, &engine, cloud, actor, &id, "extra")
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        chaos.set(ChaosMode::Off);
        clusters::node_group_create(store, &engine, actor, &id, group("extra"), &e.flavors)
            .await
            .unwrap();
        drain(&engine).await;
        chaos.set(ChaosMode::FailAt("sweep".into()));
        let op = clusters::node_group_delete(store, &engine, cloud, actor, &id, "extra")
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Off);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        assert_eq!(store.node_groups_of(&id).await.unwrap().len(), 1);

        // The controllers' operations, submitted as they submit them. A service's load
        // balancer: each step twice makes one load balancer with one member; a failure
        // at any step stops it failed (nothing is undone: the controller tries again),
        // and the next ensure finishes it with no duplicate; removal twice and after a
        // failure.
        let worker = cloud
            .server_list(&cluster_metadata(&id))
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.metadata.get("shipyard-role").map(String::as_str) == Some("worker"))
            .unwrap();
        let member = service_lb::LbMember {
            name: worker.name.clone(),
            address: worker.addresses[0].clone(),
        };
        let svc = |name: &str| service_lb::ServiceRef {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        };
        let ensure = |name: &str| {
            serde_json::json!(service_lb::EnsureParams {
                cluster_id: id.clone(),
                service: svc(name),
                ports: vec![service_lb::LbPort {
                    port: 80,
                    node_port: 30080,
                }],
                members: vec![member.clone()],
                applied: "test".into(),
            })
        };
        let remove = |name: &str| {
            serde_json::json!(service_lb::RemoveParams {
                cluster_id: id.clone(),
                service: svc(name),
                deleting: true,
            })
        };
        let submit = |kind: &'static str, spec: serde_json::Value| {
            let engine = engine.clone();
            let (project, id, by) = (project.to_string(), id.clone(), actor.user_id.clone());
            async move {
                engine
                    .submit(provision::ops::NewOperation {
                        project_id: project,
                        kind: kind.into(),
                        target_id: id,
                        requested_by: by,
                        spec,
                    })
                    .await
                    .unwrap()
            }
        };
        let svc_lbs = |name: &str| {
            let tags = [cluster_tag(&id), service_lb::lb_name(&id, &svc(name))];
            async move { cloud.load_balancer_list(&tags).await.unwrap() }
        };
        let members = |name: &str| {
            let lb = service_lb::lb_name(&id, &svc(name));
            async move {
                let mut n = 0;
                for p in cloud.pool_list(&[lb]).await.unwrap() {
                    n += cloud.member_list(&p.id).await.unwrap().len();
                }
                n
            }
        };
        chaos.set(ChaosMode::Twice);
        let op = submit(service_lb::SERVICE_ENSURE, ensure("web")).await;
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(svc_lbs("web").await.len(), 1);
        assert_eq!(members("web").await, 1);
        for (i, key) in step_keys(store, &op.id).await.into_iter().enumerate() {
            let name = format!("flaky-{i}");
            chaos.set(ChaosMode::FailAt(key.clone()));
            let op = submit(service_lb::SERVICE_ENSURE, ensure(&name)).await;
            drain(&engine).await;
            assert_eq!(
                op_state(store, &op.id).await,
                OpState::Failed,
                "failure at {key}"
            );
            chaos.set(ChaosMode::Off);
            let op = submit(service_lb::SERVICE_ENSURE, ensure(&name)).await;
            drain(&engine).await;
            assert_eq!(op_state(store, &op.id).await, OpState::Succeeded, "{key}");
            assert_eq!(svc_lbs(&name).await.len(), 1, "after a failure at {key}");
            assert_eq!(members(&name).await, 1, "after a failure at {key}");
            submit(service_lb::SERVICE_REMOVE, remove(&name)).await;
            drain(&engine).await;
            assert!(svc_lbs(&name).await.is_empty());
        }
        chaos.set(ChaosMode::FailAt("load-balancer".into()));
        let op = submit(service_lb::SERVICE_REMOVE, remove("web")).await;
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Twice);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert!(svc_lbs("web").await.is_empty());

        // A claim's volume likewise (its PV is written into the cluster).
        let mark = cluster_metadata(&id);
        let pvs = |name: &str| {
            let name = format!("pvc-uid-{name}");
            let mark = &mark;
            async move {
                cloud
                    .volume_list(mark)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|v| v.name == name)
                    .count()
            }
        };
        let claim = |name: &str| claim_volume::ClaimRef {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        };
        let provision = |name: &str| {
            serde_json::json!(claim_volume::EnsureParams {
                cluster_id: id.clone(),
                claim: claim(name),
                size_gib: 1,
                volume_type: None,
                storage_class: "standard".into(),
                access_modes: vec!["ReadWriteOnce".into()],
                reclaim_policy: "Delete".into(),
            })
        };
        let reclaim = |name: &str| {
            serde_json::json!(claim_volume::RemoveParams {
                cluster_id: id.clone(),
                pv: claim(name).volume_name(),
                claim_uid: format!("uid-{name}"),
            })
        };
        chaos.set(ChaosMode::Twice);
        let op = submit(claim_volume::VOLUME_ENSURE, provision("data")).await;
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(pvs("data").await, 1);
        for key in step_keys(store, &op.id).await {
            chaos.set(ChaosMode::FailAt(key.clone()));
            let op = submit(claim_volume::VOLUME_ENSURE, provision("flaky")).await;
            drain(&engine).await;
            assert_eq!(op_state(store, &op.id).await, OpState::Failed, "{key}");
            chaos.set(ChaosMode::Off);
            submit(claim_volume::VOLUME_ENSURE, provision("flaky")).await;
            drain(&engine).await;
            assert_eq!(pvs("flaky").await, 1, "after a failure at {key}");
            submit(claim_volume::VOLUME_REMOVE, reclaim("flaky")).await;
            drain(&engine).await;
            assert_eq!(pvs("flaky").await, 0);
        }
        chaos.set(ChaosMode::FailAt("volume".into()));
        let op = submit(claim_volume::VOLUME_REMOVE, reclaim("data")).await;
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Twice);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(pvs("data").await, 0);

        // Cluster delete: twice; then a failure at each of its steps, then a retry.
        chaos.set(ChaosMode::Twice);
        let d = clusters::delete(store, &engine, actor, project, &id)
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &d.operation.id).await, OpState::Succeeded);
        assert_empty(cloud, &id).await;
        for key in step_keys(store, &d.operation.id).await {
            chaos.set(ChaosMode::Off);
            let c = create(format!("del-{key}")).await;
            drain(&engine).await;
            chaos.set(ChaosMode::FailAt(key.clone()));
            let d = clusters::delete(store, &engine, actor, project, &c.cluster.id)
                .await
                .unwrap();
            drain(&engine).await;
            assert_eq!(
                op_state(store, &d.operation.id).await,
                OpState::Failed,
                "failure at {key}"
            );
            assert_eq!(
                store
                    .cluster_get(project, &c.cluster.id)
                    .await
                    .unwrap()
                    .status,
                model::ClusterStatus::Deleting
            );
            chaos.set(ChaosMode::Off);
            engine.retry(&d.operation.id).await.unwrap();
            drain(&engine).await;
            assert_eq!(op_state(store, &d.operation.id).await, OpState::Succeeded);
            assert_empty(cloud, &c.cluster.id).await;
        }
    }
);
