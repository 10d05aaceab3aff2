//! Node group autoscaling on a cluster Shipyard made, driven with real kubectl: a
//! Deployment larger than the cluster grows its autoscaled group up to the maximum and
//! no further (the rest stay Pending), scaling the Deployment down shrinks the group
//! back to the minimum once the (shortened) delays have passed, each change a normal
//! node group operation requested by the controller and audited with its plan; a
//! manual resize of an autoscaled group is refused; a node a stopped Shipyard left
//! marked for deletion is released.

use std::sync::Arc;
use std::time::Duration;

use provision::clusters::{self, Autoscaling, NodeGroupChange, RESIZE_REFUSED};
use provision::controllers::{autoscale, Autoscaler, Controllers, CONTROLLER};
use provision::domain::AuditFilter;
use provision::{Error, Intent, Provisioner, Store};
use serde_json::Value;

mod common;
use common::kubectl::*;
use common::*;

const GROUP: &str = "default-worker";

/// Five pods of 600m: one per m1.small node (1 vCPU).
const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 5
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 600m, memory: 256Mi}
";

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_default()
}

async fn count(store: &Store, id: &str) -> i64 {
    store.node_groups_of(id).await.unwrap()[0].node_count
}

/// (scheduled pods, Pending pods) of the Deployment.
fn pods(k: &std::path::Path, config: &std::path::Path) -> (usize, usize) {
    let (_, out, _) = kubectl(k, config, &["get", "pods", "-l", "app=web", "-o", "json"]);
    let items = json(&out)["items"].as_array().cloned().unwrap_or_default();
    let live: Vec<&Value> = items
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    let placed = live
        .iter()
        .filter(|p| p["spec"]["nodeName"].is_string())
        .count();
    (placed, live.len() - placed)
}

fn core(e: &Env) -> Provisioner {
    Provisioner {
        store: e.store.clone(),
        engine: e.engine.clone(),
        cloud: e.cloud.clone(),
        secret_key: Arc::new(e.key.clone()),
    }
}

fn autoscaling(enabled: bool, min: u32, max: u32) -> Autoscaling {
    Autoscaling {
        enabled,
        min_node_count: Some(min),
        max_node_count: Some(max),
    }
}

both!(
    a_deployment_grows_its_group_to_max_then_shrinks_it_back_to_min,
    |store: Store| async move {
        let e = env(store, fast_nodes).await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("auto", 1, 1),
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let id = started.cluster.id.clone();
        let ng = core(&e)
            .node_group_autoscale(
                &e.actor,
                &id.clone().into(),
                &GROUP.into(),
                &autoscaling(true, 1, 3),
            )
            .await
            .unwrap();
        assert!(ng.autoscale && ng.min_node_count == 1 && ng.max_node_count == 3);
        let _engine = e.engine.spawn();
        let controllers = Controllers {
            store: e.store.clone(),
            engine: e.engine.clone(),
            cloud: e.cloud.clone(),
            key: Arc::new(e.key.clone()),
            repair: Default::default(),
            autoscaler: Autoscaler::new(autoscale::Settings {
                unneeded: Duration::from_secs(3),
                delay_after_add: Duration::from_secs(5),
                backoff: Duration::from_secs(5),
                utilization: 0.5,
            }),
        }
        .install();
        let kc = clusters::kubeconfig(&e.store, &e.key, &e.actor, &id, None)
            .await
            .unwrap();
        let config = e.dir.join(&kc.file_name);
        std::fs::write(&config, &kc.yaml).unwrap();
        let k = kubectls().pop().unwrap();
        let nodes = |n: usize| {
            move |ok: bool, out: &str| {
                ok && json(out)["items"].as_array().is_some_and(|i| {
                    i.iter()
                        .filter(|n| {
                            n["status"]["conditions"].as_array().is_some_and(|c| {
                                c.iter()
                                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
                            })
                        })
                        .count()
                        == n
                })
            }
        };
        let (ok, out, err) =
            until(&k, &config, &["get", "nodes", "-o", "json"], 60, nodes(1)).await;
        assert!(nodes(1)(ok, &out), "one node: {out} {err}");

        // 1. Five pods of 600m on 1 vCPU nodes: the group grows to its maximum, 3.
        let file = e.dir.join("web.yaml");
        std::fs::write(&file, DEPLOYMENT).unwrap();
        let (ok, _, err) = kubectl(&k, &config, &["apply", "-f", file.to_str().unwrap()]);
        assert!(ok, "apply: {err}");
        eventually("the group grows to 3 and its nodes run 3 pods", 120, || {
            let (store, id) = (e.store.clone(), id.clone());
            let (k, config) = (k.clone(), config.clone());
            async move { count(&store, &id).await == 3 && pods(&k, &config) == (3, 2) }
        })
        .await;
        let (ok, out, _) = kubectl(&k, &config, &["get", "nodes", "-o", "json"]);
        assert!(nodes(3)(ok, &out), "three Ready nodes: {out}");
        // And no further: the two left over stay Pending.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(count(&e.store, &id).await, 3, "never above the maximum");
        assert_eq!(pods(&k, &config), (3, 2));
        let (ok, out, err) = kubectl(&k, &config, &["get", "pods", "-l", "app=web"]);
        assert!(ok && out.matches("Pending").count() == 2, "{out} {err}");
        let ops = e.store.op_list_for(&id).await.unwrap();
        let up: Vec<_> = ops
            .iter()
            .filter(|o| o.requested_by == CONTROLLER && o.kind == "nodegroup.scale")
            .collect();
        assert_eq!(
            up.len(),
            1,
            "one scale-up, by as many nodes as the pods needed: {ops:?}"
        );
        assert_eq!(up[0].spec["target"], 3);
        // A manual resize while it autoscales is refused; bounds may change.
        let resize = core(&e)
            .node_group_scale(
                &e.actor,
                &id.clone().into(),
                &GROUP.into(),
                NodeGroupChange {
                    node_count: Some(2),
                    ..Default::default()
                },
                Intent::Apply,
            )
            .await;
        match resize {
            Err(Error::Conflict(m)) => assert_eq!(m, RESIZE_REFUSED),
            other => panic!("{other:?}"),
        }

        // 2. One replica: the idle nodes go, one at a time, back to the minimum.
        let (ok, _, err) = kubectl(&k, &config, &["scale", "deployment", "web", "--replicas=1"]);
        assert!(ok, "scale: {err}");
        eventually("the group shrinks back to 1", 180, || {
            let (store, id) = (e.store.clone(), id.clone());
            async move { count(&store, &id).await == 1 }
        })
        .await;
        let (ok, out, err) = until(
            &k,
            &config,
            &["get", "nodes", "-o", "json"],
            60,
            |ok, out| ok && json(out)["items"].as_array().is_some_and(|i| i.len() == 1),
        )
        .await;
        assert!(
            ok && json(&out)["items"].as_array().unwrap().len() == 1,
            "{out} {err}"
        );
        let (_, out, _) = until(
            &k,
            &config,
            &["get", "pods", "-l", "app=web", "-o", "json"],
            60,
            |_, out| {
                json(out)["items"]
                    .as_array()
                    .is_some_and(|i| i.len() == 1 && i[0]["status"]["phase"] == "Running")
            },
        )
        .await;
        assert_eq!(
            json(&out)["items"].as_array().map(Vec::len),
            Some(1),
            "{out}"
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(count(&e.store, &id).await, 1, "never below the minimum");
        let ops = e.store.op_list_for(&id).await.unwrap();
        let down: Vec<_> = ops
            .iter()
            .filter(|o| o.requested_by == CONTROLLER && o.kind == "nodegroup.shrink")
            .collect();
        // The two emptied nodes go together (or one after the other, when they were
        // found empty a pass apart): two removed in all, by name.
        let removed: usize = down
            .iter()
            .map(|o| o.spec["remove"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(!down.is_empty() && down.len() <= 2, "{ops:?}");
        assert_eq!(removed, 2, "{ops:?}");
        let audit = e
            .store
            .audit_list(&AuditFilter {
                actor_email: Some(CONTROLLER.into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        let resizes: Vec<_> = audit
            .iter()
            .filter(|a| a.action == "node_group.autoscale_resize")
            .collect();
        assert_eq!(resizes.len(), 1 + down.len(), "{audit:?}");
        assert!(
            resizes.iter().all(|a| a.detail.contains("plan ")),
            "{resizes:?}"
        );
        controllers.abort();
    }
);

both!(
    a_manual_resize_of_an_autoscaled_group_is_refused,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("manual", 1, 2),
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let id: model::ClusterId = started.cluster.id.clone().into();
        let p = core(&e);
        let group: model::NodeGroupId = GROUP.into();
        // Bounds that do not hold the group are refused while it is not autoscaled.
        let off = p
            .node_group_autoscale(&e.actor, &id, &GROUP.into(), &autoscaling(false, 3, 4))
            .await;
        assert!(matches!(off, Err(Error::Invalid { .. })), "{off:?}");
        p.node_group_autoscale(&e.actor, &id, &GROUP.into(), &autoscaling(true, 1, 4))
            .await
            .unwrap();
        let resize = |n: u32, remove: Vec<String>| {
            p.node_group_scale(
                &e.actor,
                &id,
                &group,
                NodeGroupChange {
                    node_count: Some(n),
                    remove_nodes: remove,
                    ..Default::default()
                },
                Intent::Plan,
            )
        };
        for refused in [resize(3, vec![]).await, resize(1, vec!["x".into()]).await] {
            match refused {
                Err(Error::Conflict(m)) => assert_eq!(
                    m,
                    "Autoscaling is on for this node group; change its minimum and maximum, or turn autoscaling off to resize it by hand."
                ),
                other => panic!("{other:?}"),
            }
        }
        // New bounds are taken (the autoscaler brings the group into them).
        let bounds = p
            .node_group_scale(
                &e.actor,
                &id,
                &GROUP.into(),
                NodeGroupChange {
                    min_node_count: Some(3),
                    max_node_count: Some(5),
                    ..Default::default()
                },
                Intent::Apply,
            )
            .await
            .unwrap();
        assert!(
            matches!(bounds, provision::Outcome::Started(None)),
            "{bounds:?}"
        );
        let ng = &e.store.node_groups_of(&id).await.unwrap()[0];
        assert_eq!(
            (ng.node_count, ng.min_node_count, ng.max_node_count),
            (2, 3, 5)
        );
        // Off again (bounds holding the group): a resize by hand is taken.
        p.node_group_autoscale(&e.actor, &id, &GROUP.into(), &autoscaling(false, 1, 5))
            .await
            .unwrap();
        let op = resize(3, vec![]).await.unwrap();
        assert!(matches!(op, provision::Outcome::Planned(_)));
        let audit = e
            .store
            .audit_list(&AuditFilter {
                action: Some("node_group.autoscale".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 2, "{audit:?}");
    }
);

both!(
    a_node_left_marked_for_deletion_by_a_stopped_shipyard_is_released,
    |store: Store| async move {
        // Shipyard drained a node (cordon + cluster-autoscaler's taint) and stopped before
        // its scale-down started: the next autoscaler releases it. A node a person
        // cordoned stays cordoned.
        let e = env(store, fast_nodes).await;
        let id = active_cluster(&e, "stale", 1, 2).await;
        core(&e)
            .node_group_autoscale(
                &e.actor,
                &id.clone().into(),
                &GROUP.into(),
                &autoscaling(true, 1, 3),
            )
            .await
            .unwrap();
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
            |ok, out| ok && json(out)["items"].as_array().is_some_and(|i| i.len() == 2),
        )
        .await;
        let mut names: Vec<String> = json(&out)["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{out} {err}"))
            .iter()
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        let (stale, mine) = (&names[0], &names[1]);
        let mark = serde_json::json!({"spec": {"unschedulable": true, "taints": [
            {"key": "ToBeDeletedByClusterAutoscaler", "value": "1796600000", "effect": "NoSchedule"}]}});
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &[
                "patch",
                "node",
                stale,
                "--type=merge",
                "-p",
                &mark.to_string(),
            ],
        );
        assert!(ok, "{err}");
        let (ok, _, err) = kubectl(&k, &config, &["cordon", mine]);
        assert!(ok, "{err}");

        let _engine = e.engine.spawn();
        let controllers = Controllers {
            store: e.store.clone(),
            engine: e.engine.clone(),
            cloud: e.cloud.clone(),
            key: Arc::new(e.key.clone()),
            repair: Default::default(),
            // Nothing is unneeded for long enough to go during the test.
            autoscaler: Autoscaler::new(autoscale::Settings::default()),
        }
        .install();
        let node = |name: &str| {
            let (_, out, _) = kubectl(&k, &config, &["get", "node", name, "-o", "json"]);
            json(&out)
        };
        eventually("the stale mark is taken off", 60, || async {
            let n = node(stale);
            n["metadata"]["name"] == stale.as_str()
                && n["spec"]["unschedulable"].is_null()
                && n["spec"]["taints"].as_array().is_none_or(|t| t.is_empty())
        })
        .await;
        assert_eq!(
            node(mine)["spec"]["unschedulable"],
            true,
            "a person's cordon stays"
        );
        assert_eq!(count(&e.store, &id).await, 2, "nothing was scaled");
        controllers.abort();
    }
);
