//! Every cluster answers kubectl: the cluster's servers boot what Shipyard gives them
//! (localcloud runs the Kubernetes API on each master and a simulated kubelet on each
//! worker), and real kubectl, with the kubeconfig Shipyard issues, reaches the API
//! through the cluster's load balancer VIP. Workers register Ready with the cluster's
//! version; a Deployment is scheduled over distinct nodes; the API keeps answering with
//! a master stopped; a deleted worker's node goes NotReady, then away.

use std::path::{Path, PathBuf};
use std::time::Duration;

use provision::clusters;
use provision::Store;
use serde_json::Value;

mod common;
use common::kubectl::*;
use common::*;

fn ready_nodes(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap_or_default();
    v["items"]
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
        .collect()
}

/// Runs scripts/kube-client-check.py with the venv's Python (the `kubernetes` package
/// from PyPI, installed by `make test-tools`).
fn python_client_check(config: &Path, nodes: usize) {
    let venv =
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/shipyard/venv");
    let python = venv.join("bin/python");
    let has_client = std::process::Command::new(&python)
        .args(["-c", "import kubernetes"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_client {
        // `make test` installs it; CI must never pass without running this.
        assert!(
            std::env::var_os("CI").is_none(),
            "the Python kubernetes client is not installed (make test-tools)"
        );
        eprintln!("skipping the Python client: not installed (run `make test-tools`)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kube-client-check.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(config)
        .arg(nodes.to_string())
        .env("HOME", config.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python kubernetes client: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
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
          requests: {cpu: 100m, memory: 64Mi}
";

both!(
    a_new_cluster_answers_kubectl_through_its_vip_and_follows_its_servers,
    |store: Store| async move {
        let e = env(store, |c| {
            c.node_timings = localcloud::guests::NodeTimings {
                heartbeat: Duration::from_secs(1),
                grace: Duration::from_secs(5),
            };
        })
        .await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            {
                let mut s = spec("kube", 3, 3);
                s.node_groups[0].labels =
                    [("example.com/team".to_string(), "web".to_string())].into();
                s.node_groups[0].taints = vec!["example.com/spot=true:PreferNoSchedule".into()];
                s
            },
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let cluster = e
            .store
            .cluster_get(&e.project, &started.cluster.id)
            .await
            .unwrap();
        assert_eq!(cluster.status, model::ClusterStatus::Active);
        let kc = clusters::kubeconfig(&e.store, &e.key, &e.actor, &cluster.id, None)
            .await
            .unwrap();
        let dir = provision::testdb::TempDir::new(&format!(
            "shipyard-kube-{}",
            &provision::new_id()[..8]
        ))
        .unwrap();
        let config = dir.0.join(&kc.file_name);
        std::fs::write(&config, &kc.yaml).unwrap();
        let (servers, ..) = inventory(e.cloud.as_ref(), &cluster.id).await;
        let mut workers: Vec<String> = servers
            .iter()
            .filter(|s| s.metadata["shipyard-role"] == "worker")
            .map(|s| s.name.clone())
            .collect();
        workers.sort();
        assert_eq!(workers.len(), 3);

        for k in kubectls() {
            // Every worker registers through the VIP and reports Ready with the
            // cluster's version, its address and the simulation marker.
            let (ok, out, err) = until(
                &k,
                &config,
                &["get", "nodes", "-o", "json"],
                60,
                |ok, out| ok && ready_nodes(out).len() == 3,
            )
            .await;
            assert!(ok, "{k:?} get nodes: {err}");
            let mut ready = ready_nodes(&out);
            ready.sort();
            assert_eq!(ready, workers, "{k:?}: {out}");
            let nodes: Value = serde_json::from_str(&out).unwrap();
            for n in nodes["items"].as_array().unwrap() {
                let info = &n["status"]["nodeInfo"];
                assert_eq!(info["kubeletVersion"], "v1.31.12");
                assert_eq!(info["containerRuntimeVersion"], "kubesim://simulated");
                assert_eq!(
                    n["metadata"]["annotations"]["kubesim.shipyard.io/simulated"],
                    "true"
                );
                let ip = n["status"]["addresses"][0]["address"].as_str().unwrap();
                assert!(ip.starts_with("127."), "{ip}");
                assert_eq!(
                    n["metadata"]["labels"]["shipyard.io/node-group"],
                    "default-worker"
                );
                // The group's labels and taints, as the kubelet registers them.
                assert_eq!(n["metadata"]["labels"]["example.com/team"], "web");
                assert_eq!(
                    n["spec"]["taints"],
                    serde_json::json!([{"key": "example.com/spot", "value": "true", "effect": "PreferNoSchedule"}])
                );
            }
            let (ok, out, err) = kubectl(&k, &config, &["get", "nodes"]);
            assert!(ok, "{err}");
            assert!(out.contains("STATUS") && out.contains("VERSION"), "{out}");
            assert_eq!(out.matches(" Ready ").count(), 3, "{out}");
            assert!(out.contains("v1.31.12"), "{out}");
        }

        // The Python kubernetes client, with the same kubeconfig.
        python_client_check(&config, 3);

        // A Deployment reaches Available, its pods spread over distinct nodes.
        let k = kubectls().pop().unwrap();
        let manifest = dir.0.join("web.yaml");
        std::fs::write(&manifest, DEPLOYMENT).unwrap();
        let (ok, _, err) = kubectl(&k, &config, &["apply", "-f", manifest.to_str().unwrap()]);
        assert!(ok, "apply: {err}");
        let (ok, out, err) = kubectl(
            &k,
            &config,
            &["rollout", "status", "deployment/web", "--timeout=60s"],
        );
        assert!(ok, "rollout status: {out} {err}");
        let (ok, out, err) = kubectl(&k, &config, &["get", "pods", "-o", "json"]);
        assert!(ok, "{err}");
        let pods: Value = serde_json::from_str(&out).unwrap();
        let mut on: Vec<&str> = pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["spec"]["nodeName"].as_str().unwrap())
            .collect();
        on.sort();
        on.dedup();
        assert_eq!(on.len(), 3, "three pods on three nodes: {out}");
        let (ok, out, _) = kubectl(&k, &config, &["get", "pods", "-o", "wide"]);
        assert!(
            ok && out.contains("NODE") && out.matches("Running").count() == 3,
            "{out}"
        );

        // The node group scaled up: the new worker registers; scaled back down: its
        // node goes.
        let scale = |n: u32| clusters::NodeGroupChange {
            node_count: Some(n),
            min_node_count: None,
            max_node_count: None,
            remove_nodes: Vec::new(),
        };
        for (count, want) in [(4u32, 4usize), (3, 3)] {
            clusters::scale(
                &e.store,
                &e.engine,
                e.cloud.as_ref(),
                &e.actor,
                &cluster.id,
                "default-worker",
                scale(count),
            )
            .await
            .unwrap();
            drain(&e.engine).await;
            let (ok, out, err) = until(
                &k,
                &config,
                &["get", "nodes", "-o", "json"],
                60,
                |ok, out| {
                    let v: Value = serde_json::from_str(out).unwrap_or_default();
                    ok && ready_nodes(out).len() == want
                        && v["items"].as_array().is_some_and(|i| i.len() == want)
                },
            )
            .await;
            assert!(
                ok && ready_nodes(&out).len() == want,
                "scaled to {count}: {out} {err}"
            );
        }

        // One master stopped: the API still answers through the VIP.
        let master = servers
            .iter()
            .find(|s| s.metadata["shipyard-role"] == "master")
            .unwrap();
        nova_action(&e, &master.id, serde_json::json!({"os-stop": null})).await;
        for _ in 0..5 {
            let (ok, _, err) = until(&k, &config, &["get", "nodes"], 30, |ok, _| ok).await;
            assert!(ok, "with one master stopped: {err}");
        }
        nova_action(&e, &master.id, serde_json::json!({"os-start": null})).await;

        // A worker's server deleted: its node goes NotReady, then is removed.
        let gone = servers
            .iter()
            .find(|s| s.metadata["shipyard-role"] == "worker")
            .unwrap();
        e.cloud.server_delete(&gone.id).await.unwrap();
        let (_, out, err) = until(
            &k,
            &config,
            &["get", "nodes", "-o", "json"],
            30,
            |ok, out| ok && !ready_nodes(out).contains(&gone.name),
        )
        .await;
        assert!(!ready_nodes(&out).contains(&gone.name), "{out} {err}");
        let (_, out, err) = until(
            &k,
            &config,
            &["get", "nodes", "-o", "name"],
            30,
            |ok, out| ok && !out.contains(&gone.name),
        )
        .await;
        assert!(!out.contains(&gone.name), "{out} {err}");
        assert_eq!(out.lines().count(), 2, "{out}");
        // Its pod is made again on a node that still exists.
        let (ok, out, err) = kubectl(
            &k,
            &config,
            &["rollout", "status", "deployment/web", "--timeout=60s"],
        );
        assert!(ok, "after the node went: {out} {err}");
    }
);

/// A second user of the environment's project, with `role`, and their kubeconfig.
async fn member_kubeconfig(
    e: &Env,
    cluster_id: &str,
    role: provision::domain::Role,
    dir: &Path,
) -> (provision::domain::Actor, PathBuf) {
    let email = format!(
        "{}-{}@example.com",
        role.as_str(),
        &provision::new_id()[..6]
    );
    let (user, _) = e
        .store
        .user_create_with_project(&email, "x", false, false)
        .await
        .unwrap();
    e.store
        .member_upsert(&e.project, &user.id, role)
        .await
        .unwrap();
    let actor = provision::domain::Actor {
        user_id: user.id,
        email: user.email,
        ..e.actor.clone()
    };
    let kc = clusters::kubeconfig(&e.store, &e.key, &actor, cluster_id, None)
        .await
        .unwrap();
    let file = dir.join(format!("{}.yaml", role.as_str()));
    std::fs::write(&file, &kc.yaml).unwrap();
    (actor, file)
}

both!(
    access_to_the_cluster_follows_project_membership_at_once,
    |store: Store| async move {
        use provision::domain::Role;
        let e = env(store, |_| {}).await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("access", 1, 1),
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let id = started.cluster.id.clone();
        let dir = provision::testdb::TempDir::new(&format!(
            "shipyard-access-{}",
            &provision::new_id()[..8]
        ))
        .unwrap();
        let kc = clusters::kubeconfig(&e.store, &e.key, &e.actor, &id, None)
            .await
            .unwrap();
        let owner = dir.0.join("owner.yaml");
        std::fs::write(&owner, &kc.yaml).unwrap();
        // The owner's certificate no longer names system:masters; the binding Shipyard
        // wrote makes them cluster-admin.
        assert!(!kc.yaml.contains("system:masters"));
        let (viewer, viewer_file) = member_kubeconfig(&e, &id, Role::Viewer, &dir.0).await;
        let (editor, editor_file) = member_kubeconfig(&e, &id, Role::Member, &dir.0).await;

        for k in kubectls() {
            let can = |file: &Path, args: &[&str]| {
                let mut a = vec!["auth", "can-i"];
                a.extend_from_slice(args);
                kubectl(&k, file, &a).1.trim().to_string()
            };
            assert_eq!(
                can(&owner, &["create", "clusterrolebindings"]),
                "yes",
                "{k:?}"
            );
            assert_eq!(
                can(&editor_file, &["create", "deployments"]),
                "yes",
                "{k:?}"
            );
            assert_eq!(
                can(&editor_file, &["create", "clusterrolebindings"]),
                "no",
                "{k:?}"
            );
            assert_eq!(can(&viewer_file, &["get", "pods"]), "yes", "{k:?}");
            assert_eq!(can(&viewer_file, &["create", "deployments"]), "no", "{k:?}");
            assert_eq!(can(&viewer_file, &["get", "secrets"]), "no", "{k:?}");
        }
        let k = kubectls().pop().unwrap();
        let (ok, _, err) = kubectl(&k, &viewer_file, &["get", "pods"]);
        assert!(ok, "a viewer reads: {err}");
        let (ok, _, err) = kubectl(&k, &viewer_file, &["create", "configmap", "v1"]);
        assert!(
            !ok && err.contains("forbidden"),
            "a viewer cannot create: {err}"
        );
        let (ok, _, err) = kubectl(&k, &editor_file, &["create", "configmap", "e1"]);
        assert!(ok, "a member creates: {err}");

        // Demoted: the change holds on the next request.
        e.store
            .member_upsert(&e.project, &editor.user_id, Role::Viewer)
            .await
            .unwrap();
        let (ok, _, err) = kubectl(&k, &editor_file, &["create", "configmap", "e2"]);
        assert!(!ok && err.contains("forbidden"), "{err}");

        // Removed: refused at once, long before the certificate expires.
        provision::projects::member_remove(&e.store, &e.actor, &e.project, &viewer.user_id)
            .await
            .unwrap();
        let (ok, _, err) = kubectl(&k, &viewer_file, &["get", "pods"]);
        assert!(
            !ok && err.contains("forbidden"),
            "a removed member still reads: {err}"
        );

        // Disabled: the same; enabled again: back.
        e.store
            .user_set_disabled(&editor.user_id, true)
            .await
            .unwrap();
        let (ok, _, err) = kubectl(&k, &editor_file, &["get", "pods"]);
        assert!(
            !ok && err.contains("forbidden"),
            "a disabled user still reads: {err}"
        );
        e.store
            .user_set_disabled(&editor.user_id, false)
            .await
            .unwrap();
        let (ok, _, err) = kubectl(&k, &editor_file, &["get", "pods"]);
        assert!(ok, "enabled again: {err}");
    }
);
