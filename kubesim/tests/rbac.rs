//! Authorization with real kubectl (Debian's 1.20 and a current release): what a user
//! may do is what their bindings grant, refused in kube-apiserver's words; `auth can-i`,
//! `can-i --list` and `whoami` answer for the caller (as JSON from kubectl 1.20, as
//! protobuf from kubectl ≥ 1.32); `system:masters` may do everything.

mod common;

use std::path::Path;

use common::{ca, kubectls, minor, run, scratch, started, user};

/// kubectl's `can-i` answer: (yes?, what it printed).
fn can_i(k: &Path, config: &Path, args: &[&str]) -> (bool, String) {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    let (ok, out, err) = run(k, config, &all);
    let answer = out.trim().to_string();
    assert!(
        answer == "yes" || answer.starts_with("no"),
        "{k:?} can-i {args:?}: {out} {err}"
    );
    assert_eq!(ok, answer == "yes", "exit status of can-i {args:?}: {err}");
    (ok, answer)
}

fn forbidden(err: &str, message: &str) {
    assert!(
        err.contains("Error from server (Forbidden)") && err.contains(message),
        "expected Forbidden: {message}\ngot: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_grants_its_role_until_it_is_removed() {
    let dir = scratch("rbac-bindings");
    let cluster_ca = ca("sim-ca");
    let (running, admin) = started(&dir, &cluster_ca).await;
    let k0 = &kubectls()[0];
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: nginx:1.27\n").unwrap();
    let pod = pod.to_str().unwrap();
    let deployment = dir.join("deployment.yaml");
    std::fs::write(&deployment, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n").unwrap();
    let (ok, _, err) = run(k0, &admin, &["apply", "-f", deployment.to_str().unwrap()]);
    assert!(ok, "{err}");

    for (i, k) in kubectls().iter().enumerate() {
        let name = format!("ann-{i}@example.com");
        let ann = user(&dir, &running, &cluster_ca, &name, &["shipyard:developers"]);
        let binding = format!("ann-{i}-views");
        let (ok, _, err) = run(
            k,
            &admin,
            &[
                "create",
                "clusterrolebinding",
                &binding,
                "--clusterrole=view",
                &format!("--user={name}"),
            ],
        );
        assert!(ok, "{k:?} create clusterrolebinding: {err}");

        // view: reads, and is refused writes in kube-apiserver's words.
        let (ok, _, err) = run(k, &ann, &["get", "pods"]);
        assert!(ok, "{k:?} get pods as a viewer: {err}");
        let (ok, out, err) = run(k, &ann, &["get", "deployment", "web", "-o", "name"]);
        assert!(ok && out.contains("deployment.apps/web"), "{err}");
        let (ok, _, err) = run(k, &ann, &["create", "-f", pod]);
        assert!(!ok);
        forbidden(&err, &format!("pods is forbidden: User \"{name}\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""));
        let (ok, _, err) = run(k, &ann, &["get", "nodes"]);
        assert!(!ok);
        forbidden(&err, &format!("nodes is forbidden: User \"{name}\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"));
        let (ok, _, err) = run(k, &ann, &["get", "secrets"]);
        assert!(!ok);
        forbidden(&err, "cannot list resource \"secrets\"");
        let (ok, _, err) = run(k, &ann, &["scale", "deployment", "web", "--replicas=2"]);
        assert!(!ok);
        forbidden(
            &err,
            &format!("deployments.apps \"web\" is forbidden: User \"{name}\" cannot "),
        );
        assert!(
            err.contains(
                "resource \"deployments/scale\" in API group \"apps\" in the namespace \"default\""
            ),
            "{err}"
        );
        assert_eq!(
            can_i(k, &ann, &["create", "deployments"]),
            (false, "no".into())
        );
        assert!(can_i(k, &ann, &["list", "pods"]).0);
        assert!(!can_i(k, &ann, &["get", "secrets"]).0);

        // edit in `default` alone, on top: deployments may be made there, not elsewhere.
        let edits = format!("ann-{i}-edits");
        let (ok, _, err) = run(
            k,
            &admin,
            &[
                "create",
                "rolebinding",
                &edits,
                "--clusterrole=edit",
                &format!("--user={name}"),
            ],
        );
        assert!(ok, "{k:?} create rolebinding: {err}");
        assert!(can_i(k, &ann, &["create", "deployments"]).0);
        assert!(!can_i(k, &ann, &["create", "deployments", "-n", "kube-system"]).0);
        assert!(can_i(k, &ann, &["get", "secrets"]).0);
        let (ok, out, err) = run(k, &ann, &["auth", "can-i", "--list"]);
        assert!(ok, "{err}");
        let deployments = out
            .lines()
            .find(|l| l.starts_with("deployments.apps "))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            deployments.contains("create") && deployments.contains("list"),
            "{out}"
        );
        assert!(
            out.contains("selfsubjectaccessreviews.authorization.k8s.io"),
            "{out}"
        );
        assert!(!out.contains("*.*"), "{out}");

        // Removed, the bindings count no more from the next request on.
        for (kind, name) in [("rolebinding", &edits), ("clusterrolebinding", &binding)] {
            let (ok, _, err) = run(k, &admin, &["delete", kind, name]);
            assert!(ok, "{err}");
        }
        let (ok, _, err) = run(k, &ann, &["get", "pods"]);
        assert!(!ok);
        forbidden(&err, &format!("pods is forbidden: User \"{name}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""));
        assert!(!can_i(k, &ann, &["create", "deployments"]).0);
    }
    running.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_bindings_has_discovery_and_self_reviews_alone() {
    let dir = scratch("rbac-nobody");
    let cluster_ca = ca("sim-ca");
    let (running, _admin) = started(&dir, &cluster_ca).await;
    let kubectls = kubectls();
    assert!(
        kubectls.iter().any(|k| minor(k) >= 27),
        "no kubectl with `auth whoami` (≥ 1.27): `make test-tools` installs one"
    );
    for (i, k) in kubectls.iter().enumerate() {
        let name = format!("bob-{i}@example.com");
        let bob = user(&dir, &running, &cluster_ca, &name, &["team-a", "team-b"]);
        let (ok, out, err) = run(k, &bob, &["version", "-o", "json"]);
        assert!(ok && out.contains("v1.31.12"), "{k:?} version: {err}");
        let (ok, out, err) = run(k, &bob, &["api-resources", "-o", "name"]);
        assert!(
            ok && out.contains("deployments.apps"),
            "{k:?} api-resources: {err}"
        );

        for (args, message) in [
            (vec!["get", "pods"], format!("pods is forbidden: User \"{name}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"")),
            (vec!["get", "namespaces"], format!("namespaces is forbidden: User \"{name}\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope")),
            (vec!["create", "namespace", "mine"], format!("namespaces is forbidden: User \"{name}\" cannot create resource \"namespaces\" in API group \"\" at the cluster scope")),
            (vec!["get", "configmap", "settings", "-n", "kube-system"], format!("configmaps \"settings\" is forbidden: User \"{name}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"kube-system\"")),
            (vec!["get", "--raw", "/metrics"], format!("forbidden: User \"{name}\" cannot get path \"/metrics\"")),
        ] {
            let (ok, _, err) = run(k, &bob, &args);
            assert!(!ok, "{k:?} {args:?} was let through");
            forbidden(&err, &message);
        }
        let (yes, answer) = can_i(k, &bob, &["get", "pods"]);
        assert!(!yes, "{answer}");
        assert!(
            can_i(
                k,
                &bob,
                &["create", "selfsubjectaccessreviews.authorization.k8s.io"]
            )
            .0
        );
        let (ok, out, err) = run(k, &bob, &["auth", "can-i", "--list"]);
        assert!(ok, "{k:?} can-i --list: {err}");
        assert!(
            out.contains("selfsubjectrulesreviews.authorization.k8s.io"),
            "{out}"
        );
        assert!(out.contains("[/apis/*]"), "{out}");
        assert!(!out.lines().any(|l| l.starts_with("pods ")), "{out}");

        if minor(k) >= 27 {
            let (ok, out, err) = run(k, &bob, &["auth", "whoami", "-o", "json"]);
            assert!(ok, "{k:?} whoami: {err}");
            let review: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(review["kind"], "SelfSubjectReview");
            assert_eq!(review["status"]["userInfo"]["username"], name.as_str());
            assert_eq!(
                review["status"]["userInfo"]["groups"],
                serde_json::json!(["team-a", "team-b", "system:authenticated"])
            );
            let (ok, out, _) = run(k, &bob, &["auth", "whoami"]);
            assert!(
                ok && out
                    .lines()
                    .any(|l| l.starts_with("Username") && l.contains(&name)),
                "{out}"
            );
        }
    }
    running.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_come_as_json_from_kubectl_1_20_and_as_protobuf_from_1_32_on() {
    let dir = scratch("rbac-wire");
    let cluster_ca = ca("sim-ca");
    let (running, _admin) = started(&dir, &cluster_ca).await;
    for (i, k) in kubectls().iter().enumerate() {
        let carol = user(&dir, &running, &cluster_ca, &format!("carol-{i}"), &[]);
        let (ok, out, err) = run(
            k,
            &carol,
            &["auth", "can-i", "create", "deployments", "-v=8"],
        );
        assert!(!ok && out.trim() == "no", "{k:?}: {out} {err}");
        // The request's headers, as kubectl logs them, up to its response.
        let lines: Vec<&str> = err.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains("POST") && l.contains("/selfsubjectaccessreviews"))
            .unwrap_or_else(|| panic!("{k:?} sent no SelfSubjectAccessReview: {err}"));
        let sent = lines[at..]
            .iter()
            .take_while(|l| !l.contains("Response"))
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        let wanted = if minor(k) >= 32 {
            "Content-Type: application/vnd.kubernetes.protobuf"
        } else {
            "Content-Type: application/json"
        };
        assert!(sent.contains(wanted), "{k:?}: {wanted} in {sent}");
        // The answer is JSON (kubectl ≥ 1.32 logs it with its quotes escaped).
        let answer = lines[at..].join("\n").replace("\\\"", "\"");
        assert!(
            answer.contains("\"allowed\":false"),
            "{k:?}: the answer: {answer}"
        );
    }
    running.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_masters_may_do_everything_and_the_default_roles_are_there() {
    let dir = scratch("rbac-masters");
    let cluster_ca = ca("sim-ca");
    let (running, admin) = started(&dir, &cluster_ca).await;
    for k in kubectls() {
        assert!(can_i(&k, &admin, &["*", "*", "--all-namespaces"]).0);
        assert!(can_i(&k, &admin, &["delete", "nodes"]).0);
        let (ok, out, err) = run(&k, &admin, &["auth", "can-i", "--list"]);
        assert!(ok, "{err}");
        assert!(out.lines().any(|l| l.starts_with("*.*")), "{out}");
        let (ok, out, err) = run(&k, &admin, &["get", "clusterroles", "-o", "name"]);
        assert!(ok, "{err}");
        for role in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:discovery",
            "system:basic-user",
            "system:node",
        ] {
            assert!(
                out.lines()
                    .any(|l| l == format!("clusterrole.rbac.authorization.k8s.io/{role}")),
                "{role}: {out}"
            );
        }
        let (ok, out, err) = run(
            &k,
            &admin,
            &["get", "clusterrolebinding", "cluster-admin", "-o", "json"],
        );
        assert!(ok, "{err}");
        let binding: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(binding["subjects"][0]["name"], "system:masters");
        assert_eq!(
            binding["metadata"]["labels"]["kubernetes.io/bootstrapping"],
            "rbac-defaults"
        );
        assert_eq!(
            binding["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
            "true"
        );
    }
    // A node's kubelet (group system:nodes) may register its node, not make pods.
    let kubelet = user(
        &dir,
        &running,
        &cluster_ca,
        "system:node:worker-1",
        &["system:nodes"],
    );
    let k = &kubectls()[0];
    assert!(can_i(k, &kubelet, &["create", "nodes"]).0);
    assert!(
        can_i(
            k,
            &kubelet,
            &[
                "update",
                "leases.coordination.k8s.io",
                "-n",
                "kube-node-lease"
            ]
        )
        .0
    );
    assert!(!can_i(k, &kubelet, &["create", "pods"]).0);
    running.stop();
    let _ = std::fs::remove_dir_all(dir);
}
