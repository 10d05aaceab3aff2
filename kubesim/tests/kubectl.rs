//! Real kubectl (Debian's 1.20 and a current release) against the API server, over mTLS
//! on loopback, as an operator in `system:masters`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ca, eventually, kubeconfig, kubectls, leaf, minor, run, scratch, started};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_roll_out_scale_and_schedule_by_requests() {
    for (i, k) in kubectls().iter().enumerate() {
        eprintln!("rolling out with {k:?}");
        roll_out(k, &format!("rollout-{i}")).await;
    }
}

/// A rollout, scaling and scheduling with kubectl `k`, against a server of its own.
async fn roll_out(k: &Path, name: &str) {
    let dir = scratch(name);
    let (running, admin) = started(&dir, &ca("sim-ca")).await;
    // Three Ready nodes of 2 CPUs, as simulated kubelets register them.
    for i in 0..3 {
        let node = dir.join(format!("node-{i}.json"));
        std::fs::write(
            &node,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": format!("worker-{i}")},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": format!("127.10.0.{}", 10 + i)}],
                    "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                    "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                },
            })
            .to_string(),
        )
        .unwrap();
        let (ok, _, err) = run(k, &admin, &["create", "-f", node.to_str().unwrap()]);
        assert!(ok, "{err}");
    }
    let manifest = dir.join("web.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        resources:\n          requests: {cpu: \"1\", memory: 256Mi}\n",
    )
    .unwrap();
    let (ok, _, err) = run(k, &admin, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(
        k,
        &admin,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(ok, "rollout status: {out} {err}");
    assert!(out.contains("successfully rolled out"), "{out}");

    // Three Running pods, on three nodes (each node's least-loaded first).
    let pods = |admin: &Path| -> Vec<serde_json::Value> {
        let (ok, out, err) = run(k, admin, &["get", "pods", "-l", "app=web", "-o", "json"]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let now = pods(&admin);
    assert_eq!(now.len(), 3);
    let nodes: std::collections::BTreeSet<&str> = now
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap())
        .collect();
    assert_eq!(nodes.len(), 3, "spread: {nodes:?}");
    for p in &now {
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(
            p["metadata"]["annotations"][kubesim::kubelet::SIMULATED],
            "true"
        );
    }
    let (ok, out, _) = run(k, &admin, &["get", "pods", "-o", "wide"]);
    assert!(
        ok && out
            .lines()
            .filter(|l| l.contains("1/1") && l.contains("Running"))
            .count()
            == 3,
        "{out}"
    );

    // Scaled to 7 against 6 CPUs: six run, one waits, said so in the scheduler's words.
    let (ok, _, err) = run(k, &admin, &["scale", "deployment", "web", "--replicas=7"]);
    assert!(ok, "kubectl scale: {err}");
    eventually("six pods running and one pending", || {
        let all = pods(&admin);
        let running = all
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        all.len() == 7 && running == 6
    });
    let waiting = pods(&admin)
        .into_iter()
        .find(|p| p["status"]["phase"] == "Pending")
        .unwrap();
    let condition = &waiting["status"]["conditions"][0];
    assert_eq!(condition["reason"], "Unschedulable", "{waiting}");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("3 Insufficient cpu"),
        "{condition}"
    );

    // Nothing runs, and kubectl is told so rather than shown made-up output.
    let pod = now[0]["metadata"]["name"].as_str().unwrap().to_string();
    for args in [
        vec!["logs", pod.as_str()],
        vec!["exec", pod.as_str(), "--", "true"],
    ] {
        let (ok, _, err) = run(k, &admin, &args);
        assert!(!ok && err.contains("simulated node"), "{args:?}: {err}");
    }

    // Back to 2; then the deployment goes and takes its pods with it.
    let (ok, _, err) = run(k, &admin, &["scale", "deployment", "web", "--replicas=2"]);
    assert!(ok, "{err}");
    eventually("two pods", || pods(&admin).len() == 2);
    let (ok, _, err) = run(k, &admin, &["delete", "deployment", "web"]);
    assert!(ok, "{err}");
    eventually("no pods and no replica sets", || {
        let (_, out, _) = run(k, &admin, &["get", "replicasets", "-o", "name"]);
        pods(&admin).is_empty() && out.trim().is_empty()
    });
    running.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_patches_and_deletes_namespaced_objects() {
    let dir = scratch("apply");
    let (running, admin) = started(&dir, &ca("sim-ca")).await;
    for (i, k) in kubectls().iter().enumerate() {
        let minor = minor(k);
        let ns = format!("team-{i}");
        let manifest = |replicas: u32, image: &str| {
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n\
                 apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  mode: fast\n---\n\
                 apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n        ports:\n        - containerPort: 80\n"
            )
        };
        let file = dir.join(format!("app-{i}.yaml"));
        std::fs::write(&file, manifest(2, "nginx:1.27")).unwrap();
        let f = file.to_str().unwrap();
        let (ok, out, err) = run(k, &admin, &["apply", "-f", f]);
        assert!(ok, "{k:?} apply: {err}");
        assert!(out.contains("deployment.apps/web created"), "{out}");
        // Applied again with a change: kubectl sends a strategic merge patch.
        std::fs::write(&file, manifest(3, "nginx:1.28")).unwrap();
        let (ok, out, err) = run(k, &admin, &["apply", "-f", f]);
        assert!(ok, "{k:?} apply again: {err}");
        assert!(out.contains("deployment.apps/web configured"), "{out}");
        assert!(out.contains("configmap/settings unchanged"), "{out}");
        let (ok, out, err) = run(
            k,
            &admin,
            &["get", "deployment", "web", "-n", &ns, "-o", "json"],
        );
        assert!(ok, "{err}");
        let d: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(d["spec"]["replicas"], 3);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:1.28");
        assert_eq!(c["ports"][0]["containerPort"], 80, "{c}");

        // Merge and JSON patches, server-side apply, a dry run that stores nothing.
        let (ok, _, err) = run(
            k,
            &admin,
            &[
                "patch",
                "configmap",
                "settings",
                "-n",
                &ns,
                "--type=merge",
                "-p",
                r#"{"data":{"mode":"slow","extra":"1"}}"#,
            ],
        );
        assert!(ok, "{err}");
        let (ok, _, err) = run(
            k,
            &admin,
            &[
                "patch",
                "configmap",
                "settings",
                "-n",
                &ns,
                "--type=json",
                "-p",
                r#"[{"op":"remove","path":"/data/extra"}]"#,
            ],
        );
        assert!(ok, "{err}");
        let (ok, out, _) = run(
            k,
            &admin,
            &[
                "get",
                "configmap",
                "settings",
                "-n",
                &ns,
                "-o",
                "jsonpath={.data}",
            ],
        );
        assert!(
            ok && out.contains("slow") && !out.contains("extra"),
            "{out}"
        );
        let sa = dir.join(format!("sa-{i}.yaml"));
        std::fs::write(&sa, format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: {ns}\n")).unwrap();
        let (ok, _, err) = run(
            k,
            &admin,
            &["apply", "--server-side", "-f", sa.to_str().unwrap()],
        );
        assert!(ok, "{k:?} server-side apply: {err}");
        let (ok, _, err) = run(
            k,
            &admin,
            &[
                "create",
                "configmap",
                "ghost",
                "-n",
                &ns,
                "--dry-run=server",
            ],
        );
        assert!(ok, "{err}");
        let (ok, _, err) = run(k, &admin, &["get", "configmap", "ghost", "-n", &ns]);
        assert!(!ok && err.contains("not found"), "{err}");
        let (ok, out, err) = run(k, &admin, &["get", "configmaps", "-A"]);
        assert!(ok, "{err}");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&ns) && l.contains("settings")),
            "{out}"
        );

        // The columns kubectl prints come from the server's Tables.
        let (ok, out, err) = run(k, &admin, &["get", "deployments,configmaps", "-n", &ns]);
        assert!(ok, "{err}");
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l[..] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]),
            "{out}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.len() == 5 && l[..4] == ["deployment.apps/web", "0/3", "3", "0"]),
            "{out}"
        );
        assert!(
            lines.iter().any(|l| l[..] == ["NAME", "DATA", "AGE"]),
            "{out}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.len() == 3 && l[..2] == ["configmap/settings", "1"]),
            "{out}"
        );

        // A namespace that does not exist takes nothing; deleting one takes its objects.
        let (ok, _, err) = run(k, &admin, &["create", "configmap", "x", "-n", "nowhere"]);
        assert!(!ok && err.contains("not found"), "{err}");
        let (ok, _, err) = run(k, &admin, &["delete", "namespace", &ns]);
        assert!(ok, "{err}");
        let (ok, out, _) = run(k, &admin, &["get", "deployments", "-A", "-o", "name"]);
        assert!(ok && !out.contains("web"), "{out}");
        // A watch sees what happens after it starts (`get -w`, a label selector).
        let watch_ns = format!("watched-{i}");
        let (ok, _, err) = run(k, &admin, &["create", "namespace", &watch_ns]);
        assert!(ok, "{err}");
        let mut watcher = Command::new(k)
            .args([
                "--kubeconfig",
                admin.to_str().unwrap(),
                "get",
                "configmaps",
                "-n",
                &watch_ns,
                "-w",
                "-o",
                "name",
                "-l",
                "watched=yes",
            ])
            .env("HOME", admin.parent().unwrap())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let seen = seen.clone();
            let stdout = watcher.stdout.take().unwrap();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                {
                    seen.lock().unwrap().push_str(&(line + "\n"));
                }
            })
        };
        for (name, label) in [("unseen", "no"), ("seen", "yes")] {
            let (ok, _, err) = run(k, &admin, &["create", "configmap", name, "-n", &watch_ns]);
            assert!(ok, "{err}");
            let (ok, _, err) = run(
                k,
                &admin,
                &[
                    "label",
                    "configmap",
                    name,
                    "-n",
                    &watch_ns,
                    &format!("watched={label}"),
                ],
            );
            assert!(ok, "{err}");
        }
        // Until the watch has shown it (bounded), then the one that does not match is
        // known not to come: it changed first.
        for _ in 0..200 {
            if seen.lock().unwrap().contains("configmap/seen") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        watcher.kill().unwrap();
        let _ = watcher.wait();
        let _ = reader.join();
        let seen = seen.lock().unwrap().clone();
        assert!(seen.contains("configmap/seen"), "the watch saw: {seen}");
        assert!(!seen.contains("unseen"), "{seen}");

        // Discovery comes aggregated to kubectl ≥ 1.26: one answer for /api and one for
        // /apis, no request per group (a fresh HOME, so nothing is cached); an older one
        // asks each group.
        let home = dir.join(format!("home-{i}"));
        std::fs::create_dir_all(&home).unwrap();
        let out = Command::new(k)
            .args([
                "--kubeconfig",
                admin.to_str().unwrap(),
                "get",
                "deployments",
                "-A",
                "-v=6",
            ])
            .env("HOME", &home)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert!(
            log.contains("/apis?timeout") || log.contains("/apis 200"),
            "{log}"
        );
        assert_eq!(
            log.contains("/apis/apps/v1?timeout"),
            minor < 26,
            "{k:?}: a request per group only from kubectl before 1.26: {log}"
        );

        // What is not served says so.
        let (ok, _, err) = run(k, &admin, &["get", "cronjobs"]);
        assert!(
            !ok && err.contains("the server doesn't have a resource type"),
            "{err}"
        );
    }
    running.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_and_writes_namespaces_and_nodes_over_mtls() {
    let kubectls = kubectls();
    let dir = scratch("kubectl");
    let cluster_ca = ca("sim-ca");
    let (running, admin) = started(&dir, &cluster_ca).await;
    let server = running.addr.to_string();
    let foreign = ca("another-ca");
    let stranger = kubeconfig(
        &dir,
        "stranger",
        &server,
        &cluster_ca.pem,
        &leaf(&foreign, "mallory@example.com", &["system:masters"], false),
    );

    for (i, k) in kubectls.iter().enumerate() {
        let (ok, out, err) = run(k, &admin, &["version", "-o", "json"]);
        assert!(ok, "{k:?} version: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["serverVersion"]["gitVersion"], "v1.31.12", "{out}");

        let (ok, out, err) = run(k, &admin, &["get", "namespaces"]);
        assert!(ok, "{k:?} get ns: {err}");
        assert!(out.starts_with("NAME"), "{out}");
        for ns in ["default", "kube-system", "kube-node-lease", "kube-public"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(ns) && l.contains("Active")),
                "{ns}: {out}"
            );
        }

        let name = format!("demo-{i}");
        let (ok, _, err) = run(k, &admin, &["create", "namespace", &name]);
        assert!(ok, "{k:?} create ns: {err}");
        let (ok, _, err) = run(k, &admin, &["create", "namespace", &name]);
        assert!(
            !ok && err.contains("AlreadyExists") || err.contains("already exists"),
            "{err}"
        );
        let (ok, out, err) = run(k, &admin, &["get", "namespace", &name, "-o", "json"]);
        assert!(ok, "{err}");
        let ns: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(ns["metadata"]["name"], name.as_str());
        assert_eq!(ns["metadata"]["uid"].as_str().unwrap().len(), 36);

        // A node as a kubelet registers it: the columns kubectl prints.
        let node = dir.join(format!("node-{i}.json"));
        std::fs::write(
            &node,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": format!("worker-{i}"), "labels": {"node-role.kubernetes.io/worker": ""}},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": "127.10.0.7"}],
                    "nodeInfo": {"kubeletVersion": "v1.31.12", "containerRuntimeVersion": "shipyard-simulated://1",
                        "osImage": "simulated", "kernelVersion": "none", "architecture": "amd64", "bootID": "", "machineID": "",
                        "kubeProxyVersion": "", "operatingSystem": "linux", "systemUUID": ""},
                },
            })
            .to_string(),
        )
        .unwrap();
        let (ok, _, err) = run(k, &admin, &["create", "-f", node.to_str().unwrap()]);
        assert!(ok, "{k:?} create node: {err}");
        // kubectl leaves validation to the server, which refuses a field a Node lacks.
        let bogus = dir.join(format!("bogus-{i}.json"));
        std::fs::write(
            &bogus,
            serde_json::json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": format!("bogus-{i}")}, "spec": {"flavour": "x"}})
            .to_string(),
        )
        .unwrap();
        let (ok, _, err) = run(k, &admin, &["create", "-f", bogus.to_str().unwrap()]);
        if minor(k) >= 25 {
            assert!(
                !ok && err.contains("unknown field \"spec.flavour\""),
                "{err}"
            );
        } else {
            // An older kubectl validates against /openapi/v2 itself, finds no schema
            // there and asks for no validation: the Node is made without the field.
            assert!(ok, "{k:?}: {err}");
            let (ok, out, err) = run(
                k,
                &admin,
                &["get", "node", &format!("bogus-{i}"), "-o", "json"],
            );
            assert!(ok, "{err}");
            let made: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(made["spec"].get("flavour").is_none(), "{made}");
            let (ok, _, err) = run(k, &admin, &["delete", "node", &format!("bogus-{i}")]);
            assert!(ok, "{err}");
        }
        let (ok, out, err) = run(k, &admin, &["get", "nodes", "-o", "wide"]);
        assert!(ok, "{k:?} get nodes: {err}");
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            &header[..6],
            ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"],
            "{out}"
        );
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("worker-{i}")))
            .unwrap_or_else(|| panic!("{out}"));
        for cell in [
            "Ready",
            "worker",
            "v1.31.12",
            "127.10.0.7",
            "shipyard-simulated://1",
        ] {
            assert!(row.contains(cell), "{cell}: {row}");
        }
        let (ok, _, err) = run(k, &admin, &["delete", "namespace", &name]);
        assert!(ok, "{k:?} delete ns: {err}");
        let (ok, _, err) = run(k, &admin, &["get", "namespace", &name]);
        assert!(!ok && err.contains("not found"), "{err}");

        // A client certificate of another CA is refused at the handshake.
        let (ok, _, err) = run(k, &stranger, &["get", "namespaces"]);
        assert!(!ok, "a foreign certificate was let in");
        assert!(!err.is_empty());
    }

    // The objects survive a restart.
    running.stop();
    let (again, admin) = started(&dir, &cluster_ca).await;
    let (ok, out, err) = run(&kubectls[0], &admin, &["get", "nodes", "-o", "name"]);
    assert!(ok, "{err}");
    assert!(out.contains("node/worker-0"), "{out}");
    again.stop();
    let _ = std::fs::remove_dir_all(dir);
}
