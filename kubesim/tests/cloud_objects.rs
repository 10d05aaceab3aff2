//! What a cloud controller and a volume provisioner, as external clients, get from the
//! API (as from kube-apiserver and kube-controller-manager), driven by real kubectl
//! (Debian's 1.20 and a current release) and plain HTTPS: Services' cluster IPs and node
//! ports, their `status` subresource, finalizers holding a deleted object, and
//! claims bound to the volumes a provisioner makes.

mod common;

use std::path::Path;

use common::{ca, eventually, kubectls, leaf, minor, run, scratch, started, user, Ca};
use serde_json::{json, Value};

fn ok(k: &Path, config: &Path, args: &[&str]) -> String {
    let (ok, out, err) = run(k, config, args);
    assert!(ok, "{k:?} {args:?}: {out} {err}");
    out
}

fn refused(k: &Path, config: &Path, args: &[&str], message: &str) {
    let (ok, out, err) = run(k, config, args);
    assert!(!ok, "{k:?} {args:?} succeeded: {out}");
    assert!(
        err.contains(message),
        "{k:?} {args:?}: wanted {message:?}, got: {err}"
    );
}

fn object(k: &Path, config: &Path, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&ok(k, config, &all)).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let f = dir.join(name);
    std::fs::write(&f, text).unwrap();
    f.to_str().unwrap().to_string()
}

/// A client of the API with `user`'s certificate.
fn https(cluster_ca: &Ca, user: &(String, String)) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(cluster_ca.pem.as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(format!("{}{}", user.0, user.1).as_bytes()).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_get_node_ports_a_status_and_finalizers() {
    for (i, k) in kubectls().iter().enumerate() {
        eprintln!("services with {k:?}");
        services(k, &format!("cloud-svc-{i}")).await;
    }
}

async fn services(k: &Path, name: &str) {
    let dir = scratch(name);
    let cluster_ca = ca("sim-ca");
    let (running, admin) = started(&dir, &cluster_ca).await;
    let newest = minor(k) >= 24;
    ok(k, &admin, &["create", "deployment", "web", "--image=nginx"]);
    ok(
        k,
        &admin,
        &[
            "expose",
            "deployment",
            "web",
            "--type=LoadBalancer",
            "--port=80",
            "--target-port=8080",
        ],
    );
    let svc = object(k, &admin, &["svc", "web"]);
    let spec = &svc["spec"];
    let node_port = spec["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&node_port), "{svc}");
    let cluster_ip = spec["clusterIP"].as_str().unwrap().to_string();
    assert!(cluster_ip.starts_with("10.96."), "{svc}");
    assert_eq!(spec["clusterIPs"], json!([cluster_ip]));
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 8080);
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    let table = ok(k, &admin, &["get", "svc", "web"]);
    assert!(table.contains("<pending>"), "{table}");
    assert!(table.contains(&format!("80:{node_port}/TCP")), "{table}");

    // The same node port for another service is refused; another cluster IP is given.
    let other = |port: i64| {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: other\nspec:\n  type: NodePort\n  selector: {{app: other}}\n  ports:\n  - port: 81\n    nodePort: {port}\n")
    };
    let taken = write(&dir, "other.yaml", &other(node_port));
    refused(
        k,
        &admin,
        &["create", "-f", &taken],
        &format!("The Service \"other\" is invalid: spec.ports[0].nodePort: Invalid value: {node_port}: provided port is already allocated"),
    );

    // apply and replace without the node port or cluster IP keep them.
    let manifest = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: {tier: front}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n";
    let applied = write(&dir, "web.yaml", manifest);
    ok(k, &admin, &["apply", "-f", &applied]);
    let svc = object(k, &admin, &["svc", "web"]);
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], node_port, "{svc}");
    assert_eq!(svc["metadata"]["labels"]["tier"], "front");
    ok(k, &admin, &["replace", "-f", &applied]);
    let svc = object(k, &admin, &["svc", "web"]);
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], node_port, "{svc}");
    assert_eq!(svc["spec"]["clusterIP"], cluster_ip.as_str());

    // The load balancer's address, written through the status subresource.
    let kim = leaf(&cluster_ca, "kim@example.com", &["system:masters"], false);
    let base = format!(
        "https://{}/api/v1/namespaces/default/services/web",
        running.addr
    );
    let client = https(&cluster_ca, &kim);
    if newest {
        ok(
            k,
            &admin,
            &[
                "patch",
                "svc",
                "web",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.9"}]}}}"#,
            ],
        );
    } else {
        let mut current: Value = client
            .get(format!("{base}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        current["status"]["loadBalancer"]["ingress"] = json!([{"ip": "127.0.0.9"}]);
        current["spec"]["type"] = json!("ClusterIP"); // ignored: only the status changes
        let put = client
            .put(format!("{base}/status"))
            .json(&current)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    }
    let table = ok(k, &admin, &["get", "svc", "web"]);
    assert!(
        table.contains("127.0.0.9") && !table.contains("<pending>"),
        "{table}"
    );
    // Writes of the main resource keep it, and cannot set it.
    ok(k, &admin, &["label", "svc", "web", "checked=yes"]);
    ok(k, &admin, &["replace", "-f", &applied]);
    ok(
        k,
        &admin,
        &[
            "patch",
            "svc",
            "web",
            "--type=merge",
            "-p",
            r#"{"status":{"loadBalancer":{"ingress":[{"ip":"1.2.3.4"}]}}}"#,
        ],
    );
    let svc = object(k, &admin, &["svc", "web"]);
    assert_eq!(
        svc["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "127.0.0.9"}]),
        "{svc}"
    );
    assert_eq!(svc["spec"]["type"], "LoadBalancer");
    // A status patch over HTTPS, of every patch type.
    for (ty, body) in [
        (
            "application/merge-patch+json",
            r#"{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.10"}]}}}"#,
        ),
        (
            "application/strategic-merge-patch+json",
            r#"{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.11"}]}}}"#,
        ),
        (
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/status/loadBalancer/ingress","value":[{"ip":"127.0.0.9"}]}]"#,
        ),
    ] {
        let r = client
            .patch(format!("{base}/status"))
            .header("content-type", ty)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{ty}");
    }
    let svc = object(k, &admin, &["svc", "web"]);
    assert_eq!(
        svc["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "127.0.0.9"}]),
        "{svc}"
    );

    // `edit` may change services, not their status.
    let eddie = user(&dir, &running, &cluster_ca, "eddie@example.com", &[]);
    ok(
        k,
        &admin,
        &[
            "create",
            "rolebinding",
            "eddie-edits",
            "--clusterrole=edit",
            "--user=eddie@example.com",
        ],
    );
    let can_i = |config: &Path| {
        run(
            k,
            config,
            &["auth", "can-i", "patch", "services", "--subresource=status"],
        )
        .1
    };
    assert_eq!(can_i(&admin).trim(), "yes");
    assert!(can_i(&eddie).trim().starts_with("no"));
    assert_eq!(
        run(k, &eddie, &["auth", "can-i", "patch", "services"])
            .1
            .trim(),
        "yes"
    );
    let eddie_cert = leaf(&cluster_ca, "eddie@example.com", &[], false);
    let r = https(&cluster_ca, &eddie_cert)
        .patch(format!("{base}/status"))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"status":{"loadBalancer":{"ingress":[{"ip":"6.6.6.6"}]}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    if newest {
        refused(
            k,
            &eddie,
            &[
                "patch",
                "svc",
                "web",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{}}"#,
            ],
            "cannot patch resource \"services/status\"",
        );
    }

    // Back to ClusterIP: the node port goes, and is free again.
    ok(
        k,
        &admin,
        &[
            "patch",
            "svc",
            "web",
            "-p",
            r#"{"spec":{"type":"ClusterIP"}}"#,
        ],
    );
    let svc = object(k, &admin, &["svc", "web"]);
    assert!(svc["spec"]["ports"][0].get("nodePort").is_none(), "{svc}");
    assert!(svc["spec"].get("externalTrafficPolicy").is_none(), "{svc}");
    assert_eq!(svc["spec"]["clusterIP"], cluster_ip.as_str());
    ok(k, &admin, &["create", "-f", &taken]);
    let other_svc = object(k, &admin, &["svc", "other"]);
    assert_eq!(other_svc["spec"]["ports"][0]["nodePort"], node_port);
    assert_ne!(other_svc["spec"]["clusterIP"], cluster_ip.as_str());
    // A cluster IP cannot change.
    refused(
        k,
        &admin,
        &[
            "patch",
            "svc",
            "web",
            "-p",
            r#"{"spec":{"clusterIP":"10.96.0.77"}}"#,
        ],
        "may not change once set",
    );

    // A finalizer holds the deleted service until it is removed; a watch sees both.
    ok(
        k,
        &admin,
        &[
            "patch",
            "svc",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
    );
    let events = dir.join("watch.json");
    let mut watch = std::process::Command::new(k)
        .arg("--kubeconfig")
        .arg(&admin)
        .args([
            "get",
            "svc",
            "web",
            "-w",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .env("HOME", &dir)
        .stdout(std::fs::File::create(&events).unwrap())
        .spawn()
        .unwrap();
    let seen = || std::fs::read_to_string(&events).unwrap_or_default();
    eventually("the watch starts", || seen().contains("ADDED"));
    ok(k, &admin, &["delete", "svc", "web", "--wait=false"]);
    let held = object(k, &admin, &["svc", "web"]);
    let stamp = held["metadata"]["deletionTimestamp"].clone();
    assert!(stamp.is_string(), "{held}");
    assert_eq!(held["metadata"]["deletionGracePeriodSeconds"], 0);
    ok(k, &admin, &["delete", "svc", "web", "--wait=false"]);
    assert_eq!(
        object(k, &admin, &["svc", "web"])["metadata"]["deletionTimestamp"],
        stamp
    );
    refused(
        k,
        &admin,
        &[
            "patch",
            "svc",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}"#,
        ],
        "no new finalizers can be added if the object is being deleted",
    );
    ok(
        k,
        &admin,
        &[
            "patch",
            "svc",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ],
    );
    refused(k, &admin, &["get", "svc", "web"], "not found");
    eventually("the watch sees the deletion", || seen().contains("DELETED"));
    let text = seen();
    let modified = text.find("\"MODIFIED\"").unwrap();
    assert!(modified < text.find("\"DELETED\"").unwrap(), "{text}");
    let _ = watch.kill();
    let _ = watch.wait();
    running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_bind_to_provisioned_volumes_and_are_protected() {
    for (i, k) in kubectls().iter().enumerate() {
        eprintln!("storage with {k:?}");
        storage(k, &format!("cloud-storage-{i}")).await;
    }
}

async fn storage(k: &Path, name: &str) {
    let dir = scratch(name);
    let (running, admin) = started(&dir, &ca("sim-ca")).await;
    let class = write(
        &dir,
        "class.yaml",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: standard\n  annotations:\n    storageclass.kubernetes.io/is-default-class: \"true\"\nprovisioner: cinder.csi.openstack.org\nallowVolumeExpansion: true\nreclaimPolicy: Delete\nvolumeBindingMode: Immediate\n",
    );
    ok(k, &admin, &["apply", "-f", &class]);
    let table = ok(k, &admin, &["get", "storageclass"]);
    assert!(
        table.contains("standard (default)") && table.contains("cinder.csi.openstack.org"),
        "{table}"
    );

    let claim = write(
        &dir,
        "claim.yaml",
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n",
    );
    ok(k, &admin, &["apply", "-f", &claim]);
    let pvc = object(k, &admin, &["pvc", "data"]);
    assert_eq!(pvc["spec"]["storageClassName"], "standard", "{pvc}");
    assert_eq!(pvc["status"]["phase"], "Pending");
    assert!(pvc["metadata"]["finalizers"]
        .to_string()
        .contains("kubernetes.io/pvc-protection"));
    eventually("the provisioner is asked", || {
        object(k, &admin, &["pvc", "data"])["metadata"]["annotations"]
            ["volume.kubernetes.io/storage-provisioner"]
            == "cinder.csi.openstack.org"
    });
    // A pod of an unbound claim waits.
    let pod = write(
        &dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: db\nspec:\n  containers:\n  - name: db\n    image: postgres\n  volumes:\n  - name: data\n    persistentVolumeClaim: {claimName: data}\n",
    );
    ok(k, &admin, &["apply", "-f", &pod]);
    eventually("the pod waits for its claim", || {
        object(k, &admin, &["pod", "db"])["status"]["conditions"]
            .to_string()
            .contains("pod has unbound immediate PersistentVolumeClaims")
    });

    // The provisioner's volume, with a claimRef to the claim: both are bound.
    let uid = pvc["metadata"]["uid"].as_str().unwrap();
    let pv_name = format!("pvc-{uid}");
    let volume = write(
        &dir,
        "volume.json",
        &json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "cinder.csi.openstack.org"}},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "default", "name": "data", "uid": uid},
                "csi": {"driver": "cinder.csi.openstack.org", "volumeHandle": "c0ffee", "fsType": "ext4"}},
        })
        .to_string(),
    );
    ok(k, &admin, &["create", "-f", &volume]);
    eventually("the claim is bound", || {
        let t = ok(k, &admin, &["get", "pvc", "data"]);
        t.contains("Bound") && t.contains(&pv_name) && t.contains("RWO") && t.contains("standard")
    });
    let pvc = object(k, &admin, &["pvc", "data"]);
    assert_eq!(pvc["spec"]["volumeName"], pv_name.as_str());
    assert_eq!(
        pvc["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"],
        "yes"
    );
    assert_eq!(
        pvc["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"],
        "yes"
    );
    assert_eq!(pvc["status"]["capacity"]["storage"], "1Gi");
    let t = ok(k, &admin, &["get", "pv"]);
    assert!(
        t.contains("Bound") && t.contains("default/data") && t.contains("Delete"),
        "{t}"
    );

    // The request may grow, not shrink; the rest of the spec is fixed.
    ok(
        k,
        &admin,
        &[
            "patch",
            "pvc",
            "data",
            "-p",
            r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#,
        ],
    );
    refused(
        k,
        &admin,
        &[
            "patch",
            "pvc",
            "data",
            "-p",
            r#"{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}"#,
        ],
        "field can not be less than previous value",
    );
    refused(
        k,
        &admin,
        &["patch", "pvc", "data", "-p", r#"{"spec":{"accessModes":["ReadWriteMany"]}}"#],
        "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
    );

    // In use, a deleted claim stays (Terminating) until its pod goes.
    ok(k, &admin, &["delete", "pvc", "data", "--wait=false"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let t = ok(k, &admin, &["get", "pvc", "data"]);
    assert!(t.contains("Terminating"), "{t}");
    ok(k, &admin, &["delete", "pod", "db"]);
    eventually("the claim goes", || {
        !run(k, &admin, &["get", "pvc", "data"]).0
    });
    eventually("the volume is released", || {
        ok(k, &admin, &["get", "pv"]).contains("Released")
    });
    // The provisioner deletes a released volume; pv-protection lets it go.
    ok(k, &admin, &["delete", "pv", &pv_name, "--wait=false"]);
    eventually("the volume goes", || {
        !run(k, &admin, &["get", "pv", &pv_name]).0
    });
    running.stop();
}
