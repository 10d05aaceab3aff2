//! A cluster's certificates: its CA sealed at rest, kubeconfigs issued per user and
//! recorded, reaching the cluster's API through its load balancer, and a CA rotation
//! that rebuilds the servers with certificates of the new CA and locks out every
//! kubeconfig of the old one.

use std::time::Duration;

use provision::clusters;
use provision::domain::Actor;
use provision::{Error, Store};

mod common;
use common::*;

fn kubectl_cmd(args: &[&str]) -> std::process::Output {
    std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl on PATH (make test-tools installs it)")
}

/// `kubectl get --raw /version` until it works; the last output either way.
async fn kubectl_version(file: &std::path::Path, tries: u32) -> std::process::Output {
    let mut out = None;
    for _ in 0..tries {
        let o = kubectl_cmd(&[
            "--kubeconfig",
            file.to_str().unwrap(),
            "--request-timeout=5s",
            "get",
            "--raw",
            "/version",
        ]);
        if o.status.success() {
            return o;
        }
        out = Some(o);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    out.unwrap()
}

both!(
    kubeconfig_reaches_the_api_through_its_load_balancer_and_rotation_locks_it_out,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let key = e.key.clone();
        // Not ACTIVE yet: refused, nothing issued.
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("pki", 1, 1),
            &e.flavors,
        )
        .await
        .unwrap();
        let early = clusters::kubeconfig(&e.store, &key, &e.actor, &started.cluster.id, None).await;
        assert!(matches!(early, Err(Error::Conflict(_))), "{early:?}");
        drain(&e.engine).await;
        let cluster = e
            .store
            .cluster_get(&e.project, &started.cluster.id)
            .await
            .unwrap();
        assert_eq!(cluster.status, model::ClusterStatus::Active);
        let vip = cluster
            .api_address
            .clone()
            .unwrap()
            .split_once(':')
            .unwrap()
            .0
            .to_string();
        let ca = provision::pki::ca_get(&e.store, &cluster.id)
            .await
            .unwrap()
            .expect("a CA");
        assert_eq!(ca.generation, 1);
        // The CA key is sealed at rest: the stored text is not a PEM key.
        let sealed: String =
            sqlx::query_scalar("SELECT key_sealed FROM cluster_cas WHERE cluster_id = $1")
                .bind(&cluster.id)
                .fetch_one(e.store.pool())
                .await
                .unwrap();
        assert!(!sealed.contains("PRIVATE KEY"));

        // The settings' key sealed it: a kubeconfig needs that key; another key cannot
        // open the CA.
        let foreign = provision::pki::SecretKey::generate();
        let wrong = clusters::kubeconfig(&e.store, &foreign, &e.actor, &cluster.id, None).await;
        assert!(wrong.is_err(), "a foreign key opened the CA");
        let key = e.key.clone();

        // Bad validity: refused.
        for bad in [0, 721] {
            let r = clusters::kubeconfig(&e.store, &key, &e.actor, &cluster.id, Some(bad)).await;
            assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
        }
        let kc = clusters::kubeconfig(&e.store, &key, &e.actor, &cluster.id, Some(2))
            .await
            .unwrap();
        assert_eq!(kc.file_name, "pki.kubeconfig.yaml");
        let in_2h = provision::now_ms() + 2 * 3_600_000;
        assert!((kc.not_after - in_2h).abs() < 60_000, "expires in 2 hours");
        let dir =
            provision::testdb::TempDir::new(&format!("shipyard-kc-{}", &provision::new_id()[..8]))
                .unwrap();
        let file = dir.0.join(&kc.file_name);
        std::fs::write(&file, &kc.yaml).unwrap();

        // kubectl accepts it and points at the API VIP.
        let view = kubectl_cmd(&[
            "config",
            "view",
            "--kubeconfig",
            file.to_str().unwrap(),
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ]);
        assert!(
            view.status.success(),
            "{}",
            String::from_utf8_lossy(&view.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&view.stdout),
            format!("https://{vip}:6443")
        );

        // The client certificate verifies against the cluster CA (openssl), with
        // CN = the user and O = the owner's group.
        let doc: serde_yaml::Value = serde_yaml::from_str(&kc.yaml).unwrap();
        use base64::Engine as _;
        let b64 = |v: &serde_yaml::Value| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        };
        let ca_pem = b64(&doc["clusters"][0]["cluster"]["certificate-authority-data"]);
        let client_pem = b64(&doc["users"][0]["user"]["client-certificate-data"]);
        std::fs::write(dir.0.join("ca.pem"), &ca_pem).unwrap();
        std::fs::write(dir.0.join("client.pem"), &client_pem).unwrap();
        let verify = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.0.join("ca.pem"))
            .arg(dir.0.join("client.pem"))
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stdout)
        );
        let subject = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-serial", "-in"])
            .arg(dir.0.join("client.pem"))
            .output()
            .unwrap();
        let subject = String::from_utf8_lossy(&subject.stdout).to_string();
        assert!(
            subject.contains(&format!("CN = {}", e.actor.email))
                && subject.contains("O = shipyard:owners"),
            "{subject}"
        );
        assert!(
            subject.to_lowercase().contains(&kc.serial),
            "{subject} / {}",
            kc.serial
        );

        // kubectl reaches the cluster's own API over mTLS through its load balancer.
        let out = kubectl_version(&file, 60).await;
        assert!(
            out.status.success(),
            "kubectl get --raw /version: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("v1.31.12"));

        // Recorded and audited.
        let issued =
            provision::pki::kubeconfigs_list(&e.store, &cluster.id, Some(&e.actor.user_id))
                .await
                .unwrap();
        assert_eq!(issued.len(), 1);
        assert_eq!(issued[0].serial, kc.serial);
        assert!(issued[0].current);
        let audit = e
            .store
            .audit_list(&provision::domain::AuditFilter {
                action: Some("kubeconfig.issue".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            audit.iter().any(|a| a.detail.contains(&kc.serial)),
            "{audit:?}"
        );

        // Rotation: the servers boot again with certificates of the new CA, which the
        // API now presents and alone trusts; the old kubeconfig stops working and is
        // marked as superseded.
        let (rotation, op) = clusters::rotate_ca(&e.store, &e.engine, &key, &e.actor, &cluster.id)
            .await
            .unwrap();
        assert_eq!(rotation.invalidated_kubeconfigs, 1);
        assert_eq!(rotation.ca.generation, 2);
        assert_eq!(rotation.retired_generation, Some(1));
        assert_eq!(
            e.store
                .cluster_get(&e.project, &cluster.id)
                .await
                .unwrap()
                .status,
            model::ClusterStatus::Updating
        );
        drain(&e.engine).await;
        let op = e.store.op_get(&op.id).await.unwrap();
        assert_eq!(
            op.state,
            provision::ops::OpState::Succeeded,
            "{:?}",
            op.error
        );
        assert_eq!(
            e.store
                .cluster_get(&e.project, &cluster.id)
                .await
                .unwrap()
                .status,
            model::ClusterStatus::Active
        );
        let fresh = clusters::kubeconfig(&e.store, &key, &e.actor, &cluster.id, None)
            .await
            .unwrap();
        let fresh_file = dir.0.join("fresh.yaml");
        std::fs::write(&fresh_file, &fresh.yaml).unwrap();
        let out = kubectl_version(&fresh_file, 40).await;
        assert!(
            out.status.success(),
            "new kubeconfig: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let old = kubectl_version(&file, 1).await;
        assert!(
            !old.status.success(),
            "the old kubeconfig still works after rotation"
        );
        let issued = provision::pki::kubeconfigs_list(&e.store, &cluster.id, None)
            .await
            .unwrap();
        assert_eq!(issued.iter().filter(|k| k.current).count(), 1);
        assert!(issued.iter().any(|k| k.serial == kc.serial && !k.current));

        // Another project's user: not found, nothing issued.
        let (other, _) = e
            .store
            .user_create_with_project("other-pki@example.com", "x", false, false)
            .await
            .unwrap();
        let other = Actor {
            user_id: other.id,
            email: other.email,
            is_admin: false,
            client_addr: "127.0.0.1".into(),
            credential: provision::domain::Credential::Session,
        };
        let r = clusters::kubeconfig(&e.store, &key, &other, &cluster.id, None).await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = clusters::rotate_ca(&e.store, &e.engine, &key, &other, &cluster.id).await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");

        // Deleting the cluster removes its CA.
        clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &cluster.id)
            .await
            .unwrap();
        drain(&e.engine).await;
        assert!(provision::pki::ca_get(&e.store, &cluster.id)
            .await
            .unwrap()
            .is_none());
    }
);
