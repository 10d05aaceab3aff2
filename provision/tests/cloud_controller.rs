//! The cluster drives its cloud: with real kubectl and the kubeconfig Shipyard issues,
//! a Service of type LoadBalancer gets a cloud load balancer (its VIP in EXTERNAL-IP,
//! the nodes on the NodePort as members, as the `openstack` CLI lists them), a claim of
//! the default class gets a Cinder volume and a bound PV, deleting them deletes the
//! cloud's objects, and deleting the cluster with both still present leaves nothing.
//! A claim's volume still attached to a server when the claim goes is kept (the
//! removal fails and says why) and deleted by a later try once it is detached.

use std::path::{Path, PathBuf};

use provision::cloud::Cloud;
use provision::clusters;
use provision::clusters::saga::cluster_tag;
use provision::Store;
use serde_json::Value;

mod common;
use common::kubectl::*;
use common::*;

/// The `openstack` CLI of the venv `make test-tools` makes (`None` outside CI when it
/// is missing: the driver's view is checked alone then).
fn openstack_cli() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/shipyard/venv/bin/openstack");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the openstack CLI is not installed (make test-tools)"
    );
    eprintln!("no openstack CLI: checking the cloud through the driver only");
    None
}

fn openstack(cli: &Path, clouds: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(cli)
        .args(args)
        .args(["-f", "json"])
        .env("OS_CLIENT_CONFIG_FILE", clouds)
        .env("OS_CLOUD", "localcloud")
        .env_remove("OS_AUTH_URL")
        .output()
        .expect("openstack runs");
    assert!(
        out.status.success(),
        "openstack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_default()
}

const CLAIM: &str = "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
";

both!(
    services_and_claims_make_and_remove_their_cloud_objects,
    |store: Store| async move {
        let e = env(store, fast_nodes).await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("cc", 1, 2),
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let id = started.cluster.id.clone();
        let _engine = e.engine.spawn();
        let controllers = provision::controllers::Controllers {
            store: e.store.clone(),
            engine: e.engine.clone(),
            cloud: e.cloud.clone(),
            key: std::sync::Arc::new(e.key.clone()),
            repair: Default::default(),
            autoscaler: Default::default(),
        }
        .install();
        let kc = clusters::kubeconfig(&e.store, &e.key, &e.actor, &id, None)
            .await
            .unwrap();
        let config = e.dir.join(&kc.file_name);
        std::fs::write(&config, &kc.yaml).unwrap();
        let clouds = e.dir.join("clouds.yaml");
        let k = kubectls().pop().unwrap();
        let (ok, out, err) = until(
            &k,
            &config,
            &["get", "nodes", "-o", "json"],
            60,
            |ok, out| ok && json(out)["items"].as_array().is_some_and(|n| n.len() == 2),
        )
        .await;
        assert!(ok, "nodes: {out} {err}");
        let node_ips: Vec<String> = json(&out)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                n["status"]["addresses"][0]["address"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();

        // kubectl expose --type=LoadBalancer: an EXTERNAL-IP, the cloud's VIP.
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &["create", "deployment", "web", "--image=nginx:1.27"],
        );
        assert!(ok, "{err}");
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &[
                "expose",
                "deployment",
                "web",
                "--type=LoadBalancer",
                "--port=80",
                "--target-port=8080",
            ],
        );
        assert!(ok, "expose: {err}");
        let (_, out, err) = until(
            &k,
            &config,
            &["get", "svc", "web", "-o", "json"],
            60,
            |ok, out| ok && json(out)["status"]["loadBalancer"]["ingress"][0]["ip"].is_string(),
        )
        .await;
        let svc = json(&out);
        let vip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .unwrap_or_else(|| panic!("no EXTERNAL-IP: {out} {err}"))
            .to_string();
        assert!(vip.starts_with("127."), "{vip}");
        let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
        assert!(svc["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "service.kubernetes.io/load-balancer-cleanup"));
        let (ok, out, _) = kubectl(&k, &config, &["get", "svc", "web"]);
        assert!(ok && out.contains(&vip), "EXTERNAL-IP: {out}");

        let lb_name = format!("kube_service_{id}_default_web");
        let tags = [cluster_tag(&id), lb_name.clone()];
        let lbs = e.cloud.load_balancer_list(&tags).await.unwrap();
        assert_eq!(lbs.len(), 1, "{lbs:?}");
        assert_eq!(lbs[0].vip_address.as_deref(), Some(vip.as_str()));
        let pools = e
            .cloud
            .pool_list(std::slice::from_ref(&lb_name))
            .await
            .unwrap();
        assert_eq!(pools.len(), 1);
        let mut members: Vec<(String, u16)> = e
            .cloud
            .member_list(&pools[0].id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.address, m.port))
            .collect();
        members.sort();
        let mut want: Vec<(String, u16)> =
            node_ips.iter().map(|a| (a.clone(), node_port)).collect();
        want.sort();
        assert_eq!(members, want, "the nodes on the NodePort");
        let cli = openstack_cli();
        if let Some(cli) = &cli {
            let listed = openstack(
                cli,
                &clouds,
                &["loadbalancer", "list", "--tags", &cluster_tag(&id)],
            );
            let lb = listed
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == lb_name.as_str())
                .unwrap_or_else(|| panic!("the CLI lists the load balancer: {listed}"));
            assert_eq!(lb["vip_address"], vip.as_str());
            let members = openstack(
                cli,
                &clouds,
                &["loadbalancer", "member", "list", pools[0].id.as_str()],
            );
            let members = members.as_array().unwrap();
            assert_eq!(members.len(), 2, "{members:?}");
            assert!(
                members.iter().all(|m| m["protocol_port"] == node_port),
                "{members:?}"
            );
        }

        // A second port: a listener of its own.
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &[
                "patch",
                "svc",
                "web",
                "--type=json",
                "-p",
                r#"[{"op":"add","path":"/spec/ports/0/name","value":"http"},{"op":"add","path":"/spec/ports/-","value":{"name":"https","port":443,"targetPort":8443}}]"#,
            ],
        );
        assert!(ok, "patch: {err}");
        eventually("a listener per port", 60, || async {
            let mut ports: Vec<u16> = e
                .cloud
                .listener_list(std::slice::from_ref(&lb_name))
                .await
                .unwrap()
                .iter()
                .map(|l| l.port)
                .collect();
            ports.sort();
            ports == [80, 443]
        })
        .await;

        // A claim of the default class: a Cinder volume pvc-<uid> and a bound PV.
        let manifest = e.dir.join("claim.yaml");
        std::fs::write(&manifest, CLAIM).unwrap();
        let (ok, _, err) = kubectl(&k, &config, &["apply", "-f", manifest.to_str().unwrap()]);
        assert!(ok, "apply claim: {err}");
        let (_, out, err) = until(
            &k,
            &config,
            &["get", "pvc", "data", "-o", "json"],
            60,
            |ok, out| ok && json(out)["status"]["phase"] == "Bound",
        )
        .await;
        let claim = json(&out);
        assert_eq!(claim["status"]["phase"], "Bound", "{out} {err}");
        assert_eq!(claim["spec"]["storageClassName"], "standard");
        let volume_name = format!("pvc-{}", claim["metadata"]["uid"].as_str().unwrap());
        assert_eq!(claim["spec"]["volumeName"], volume_name.as_str());
        let (ok, out, _) = kubectl(&k, &config, &["get", "pvc", "data"]);
        assert!(
            ok && out.contains("Bound") && out.contains(&volume_name),
            "{out}"
        );
        let mark = clusters::saga::cluster_metadata(&id);
        let volumes = e.cloud.volume_list(&mark).await.unwrap();
        let volume = volumes
            .iter()
            .find(|v| v.name == volume_name)
            .unwrap_or_else(|| panic!("{volumes:?}"));
        assert_eq!(volume.size_gib, 1);
        assert_eq!(volume.metadata["csi.storage.k8s.io/pvc/name"], "data");
        assert_eq!(
            volume.metadata["csi.storage.k8s.io/pvc/namespace"],
            "default"
        );
        if let Some(cli) = &cli {
            let listed = openstack(cli, &clouds, &["volume", "list", "--long"]);
            assert!(
                listed
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["Name"] == volume_name.as_str()),
                "the CLI lists the volume: {listed}"
            );
        }

        // Back to ClusterIP: the load balancer goes, and so do the EXTERNAL-IP and the
        // finalizer; LoadBalancer again: a load balancer again.
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &[
                "patch",
                "svc",
                "web",
                "-p",
                r#"{"spec":{"type":"ClusterIP"}}"#,
            ],
        );
        assert!(ok, "retype: {err}");
        let (_, out, _) = until(
            &k,
            &config,
            &["get", "svc", "web", "-o", "json"],
            60,
            |ok, out| {
                let s = json(out);
                ok && s["status"]["loadBalancer"]["ingress"].is_null()
                    && s["metadata"]["finalizers"]
                        .as_array()
                        .is_none_or(|f| f.is_empty())
            },
        )
        .await;
        let svc = json(&out);
        assert!(svc["status"]["loadBalancer"]["ingress"].is_null(), "{out}");
        assert!(e.cloud.load_balancer_list(&tags).await.unwrap().is_empty());
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &[
                "patch",
                "svc",
                "web",
                "-p",
                r#"{"spec":{"type":"LoadBalancer"}}"#,
            ],
        );
        assert!(ok, "retype: {err}");
        let (_, out, _) = until(
            &k,
            &config,
            &["get", "svc", "web", "-o", "json"],
            60,
            |ok, out| ok && json(out)["status"]["loadBalancer"]["ingress"][0]["ip"].is_string(),
        )
        .await;
        if !json(&out)["status"]["loadBalancer"]["ingress"][0]["ip"].is_string() {
            let ops = e.store.op_list_for(&id).await.unwrap();
            let seen: Vec<_> = ops
                .iter()
                .map(|o| (o.kind.clone(), o.state, o.error.clone()))
                .collect();
            panic!("no EXTERNAL-IP again: {out}\noperations: {seen:#?}");
        }
        assert_eq!(e.cloud.load_balancer_list(&tags).await.unwrap().len(), 1);

        // The claim asks more: the volume and the PV grow, and the claim says so.
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &[
                "patch",
                "pvc",
                "data",
                "-p",
                r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#,
            ],
        );
        assert!(ok, "expand: {err}");
        let (_, out, _) = until(
            &k,
            &config,
            &["get", "pvc", "data", "-o", "json"],
            60,
            |ok, out| ok && json(out)["status"]["capacity"]["storage"] == "2Gi",
        )
        .await;
        assert_eq!(json(&out)["status"]["capacity"]["storage"], "2Gi", "{out}");
        let grown = e.cloud.volume_list(&mark).await.unwrap();
        assert_eq!(
            grown
                .iter()
                .find(|v| v.name == volume_name)
                .map(|v| v.size_gib),
            Some(2),
            "{grown:?}"
        );

        // Deleting the Service and the claim deletes the cloud's objects.
        let (ok, _, err) = kubectl(&k, &config, &["delete", "svc", "web", "--timeout=60s"]);
        assert!(ok, "delete svc: {err}");
        assert!(
            e.cloud.load_balancer_list(&tags).await.unwrap().is_empty(),
            "the load balancer went first"
        );
        let (ok, _, err) = kubectl(&k, &config, &["delete", "pvc", "data", "--timeout=60s"]);
        assert!(ok, "delete pvc: {err}");
        eventually("the volume and its PV go", 60, || async {
            let gone = !e
                .cloud
                .volume_list(&mark)
                .await
                .unwrap()
                .iter()
                .any(|v| v.name == volume_name);
            let (ok, out, _) = kubectl(&k, &config, &["get", "pv", "-o", "json"]);
            gone && ok && json(&out)["items"].as_array().is_some_and(|i| i.is_empty())
        })
        .await;

        // Both again, then the cluster's delete with both present: nothing is left.
        let (ok, _, err) = kubectl(
            &k,
            &config,
            &[
                "expose",
                "deployment",
                "web",
                "--type=LoadBalancer",
                "--port=80",
                "--name=again",
            ],
        );
        assert!(ok, "{err}");
        let (ok, _, err) = kubectl(&k, &config, &["apply", "-f", manifest.to_str().unwrap()]);
        assert!(ok, "{err}");
        eventually("the second service and claim are made", 60, || async {
            let (_, svc, _) = kubectl(&k, &config, &["get", "svc", "again", "-o", "json"]);
            let (_, pvc, _) = kubectl(&k, &config, &["get", "pvc", "data", "-o", "json"]);
            json(&svc)["status"]["loadBalancer"]["ingress"][0]["ip"].is_string()
                && json(&pvc)["status"]["phase"] == "Bound"
        })
        .await;
        eventually("the controllers' operations are done", 60, || async {
            e.store.op_active_for(&id).await.unwrap().is_none()
        })
        .await;
        clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &id)
            .await
            .unwrap();
        eventually("the cluster is deleted", 120, || async {
            e.store.op_active_for(&id).await.unwrap().is_none()
        })
        .await;
        assert_empty(e.cloud.as_ref(), &id).await;
        controllers.abort();
    }
);

both!(
    a_claims_volume_still_attached_is_deleted_once_it_is_detached,
    |store: Store| async move {
        let e = env(store, fast_nodes).await;
        let id = active_cluster(&e, "att", 1, 1).await;
        let _engine = e.engine.spawn();
        let controllers = provision::controllers::Controllers {
            store: e.store.clone(),
            engine: e.engine.clone(),
            cloud: e.cloud.clone(),
            key: std::sync::Arc::new(e.key.clone()),
            repair: Default::default(),
            autoscaler: Default::default(),
        }
        .install();
        let kc = clusters::kubeconfig(&e.store, &e.key, &e.actor, &id, None)
            .await
            .unwrap();
        let config = e.dir.join(&kc.file_name);
        std::fs::write(&config, &kc.yaml).unwrap();
        let k = kubectls().pop().unwrap();
        let manifest = e.dir.join("claim.yaml");
        std::fs::write(&manifest, CLAIM).unwrap();
        let (_, out, err) = until(
            &k,
            &config,
            &["apply", "-f", manifest.to_str().unwrap()],
            30,
            |ok, _| ok,
        )
        .await;
        assert!(out.contains("created"), "{out} {err}");
        let (_, out, err) = until(
            &k,
            &config,
            &["get", "pvc", "data", "-o", "json"],
            60,
            |ok, out| ok && json(out)["status"]["phase"] == "Bound",
        )
        .await;
        assert_eq!(json(&out)["status"]["phase"], "Bound", "{out} {err}");
        let pv = json(&out)["spec"]["volumeName"]
            .as_str()
            .unwrap()
            .to_string();
        let mark = clusters::saga::cluster_metadata(&id);
        let volume = e
            .cloud
            .volume_list(&mark)
            .await
            .unwrap()
            .into_iter()
            .find(|v| v.name == pv)
            .unwrap();
        // A pod on the worker has it mounted (what the CSI attacher does).
        let worker = e
            .cloud
            .server_list(&mark)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.metadata["shipyard-role"] == "worker")
            .unwrap();
        e.cloud.volume_attach(&worker.id, &volume.id).await.unwrap();
        e.cloud
            .wait_volume_status(&volume.id, "in-use", &Default::default())
            .await
            .unwrap();

        // The claim goes; the volume may not while it is attached: the removal fails
        // and says why, and the volume and its (Released) PV stay.
        let (ok, _, err) = kubectl(&k, &config, &["delete", "pvc", "data", "--wait=false"]);
        assert!(ok, "{err}");
        let removals = || async {
            e.store
                .op_list_for(&id)
                .await
                .unwrap()
                .into_iter()
                .filter(|o| o.kind == "volume.remove")
                .collect::<Vec<_>>()
        };
        eventually(
            "a removal fails while the volume is attached",
            60,
            || async {
                removals().await.iter().any(|o| {
                    o.state == provision::ops::OpState::Failed
                        && o.error
                            .as_deref()
                            .is_some_and(|e| e.contains("is still attached to server"))
                })
            },
        )
        .await;
        let still = e.cloud.volume_get(&volume.id).await.unwrap();
        assert_eq!(still.attached_to, std::slice::from_ref(&worker.id));
        let (ok, out, err) = kubectl(&k, &config, &["get", "pv", &pv, "-o", "json"]);
        assert!(ok, "the PV stays while its volume does: {err}");
        assert_eq!(json(&out)["status"]["phase"], "Released", "{out}");

        // Detached (the pod is gone): the next try deletes the volume, then the PV.
        e.cloud.volume_detach(&worker.id, &volume.id).await.unwrap();
        eventually("the volume and its PV are gone", 120, || async {
            let gone = e
                .cloud
                .volume_list(&mark)
                .await
                .unwrap()
                .iter()
                .all(|v| v.id != volume.id);
            let (ok, out, _) = kubectl(&k, &config, &["get", "pv", "-o", "json"]);
            gone && ok && json(&out)["items"].as_array().is_some_and(|i| i.is_empty())
        })
        .await;
        let done = removals().await;
        assert!(
            done.iter()
                .any(|o| o.state == provision::ops::OpState::Succeeded),
            "{done:?}"
        );
        controllers.abort();
    }
);
