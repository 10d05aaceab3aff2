//! Real kubectl (every one on PATH) against the API server, over mTLS on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// (cert, key) PEM signed by `ca`.
fn leaf(ca: &Ca, cn: &str, org: Option<&str>, server: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    p.distinguished_name = dn;
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    if server {
        p.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    } else {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn kubeconfig(dir: &Path, server: &str, ca_pem: &str, (cert, key): &(String, String)) -> PathBuf {
    let file = dir.join(format!("kubeconfig-{}", cert.len() ^ key.len()));
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: https://{server}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: u\ncurrent-context: sim\n",
            b64(ca_pem),
            b64(cert),
            b64(key)
        ),
    )
    .unwrap();
    file
}

/// Every kubectl on PATH (Debian's and a current release, where the machine has both).
fn kubectls() -> Vec<PathBuf> {
    let mut seen = std::collections::BTreeSet::new();
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("kubectl"))
        .filter(|p| p.is_file())
        .filter(|p| seen.insert(std::fs::canonicalize(p).unwrap_or(p.clone())))
        .collect()
}

fn run(kubectl: &Path, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(config)
        .arg("--request-timeout=20s")
        .arg(
            std::env::var("KUBESIM_TEST_V")
                .map(|v| format!("-v={v}"))
                .unwrap_or("-v=0".into()),
        )
        .args(args)
        .env("HOME", config.parent().unwrap())
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An API server of `cluster_ca` with its store under `dir` (the same `dir`: the same
/// objects), and an admin's kubeconfig for it.
async fn started(dir: &Path, cluster_ca: &Ca) -> (kubesim::Running, PathBuf) {
    let serving = leaf(cluster_ca, "kube-apiserver", None, true);
    let running = kubesim::start(kubesim::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_pem: serving.0,
        key_pem: serving.1,
        ca_pem: cluster_ca.pem.clone(),
        kubernetes_version: "v1.31.12".into(),
        advertise: "127.0.0.1:6443".into(),
        store_file: Some(dir.join("objects.json")),
    })
    .await
    .unwrap();
    let admin = kubeconfig(
        dir,
        &running.addr.to_string(),
        &cluster_ca.pem,
        &leaf(
            cluster_ca,
            "kim@example.com",
            Some("shipyard:owners"),
            false,
        ),
    );
    (running, admin)
}

/// Polls `check` (bounded) until it holds; panics with `what` otherwise.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("never happened: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_roll_out_scale_and_schedule_by_requests() {
    let dir = std::env::temp_dir().join(format!("kubesim-rollout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (running, admin) = started(&dir, &ca("sim-ca")).await;
    let k = &kubectls()[0];
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
    let dir = std::env::temp_dir().join(format!("kubesim-apply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (running, admin) = started(&dir, &ca("sim-ca")).await;
    for (i, k) in kubectls().iter().enumerate() {
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

        // Discovery comes aggregated: one answer for /api and one for /apis, no request
        // per group (a fresh HOME, so nothing is cached).
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
        assert!(
            !log.contains("/apis/apps/v1?timeout"),
            "a request per group: {log}"
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
    assert!(
        !kubectls.is_empty(),
        "no kubectl on PATH (make test-tools installs one)"
    );
    let dir = std::env::temp_dir().join(format!("kubesim-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cluster_ca = ca("sim-ca");
    let (running, admin) = started(&dir, &cluster_ca).await;
    let server = running.addr.to_string();
    let foreign = ca("another-ca");
    let stranger = kubeconfig(
        &dir,
        &server,
        &cluster_ca.pem,
        &leaf(&foreign, "mallory@example.com", None, false),
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
        assert!(
            !ok && err.contains("unknown field \"spec.flavour\""),
            "{err}"
        );
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
