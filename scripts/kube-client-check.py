"""The Python kubernetes client (from PyPI) as a judge of a cluster Shipyard made.

Usage: python kube-client-check.py <kubeconfig> <expected nodes>

With the kubeconfig the console hands out, through the cluster's VIP: the nodes are
listed Ready, a Deployment is created and becomes available, it is read back, scaled and
deleted, a self access review answers, and a watch sees a change. Exits non-zero with the
reason on the first thing that does not hold.
"""

import sys
import time

from kubernetes import client, config, watch


def wait(what, check, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    sys.exit(f"timed out: {what}")


def main():
    kubeconfig, expected = sys.argv[1], int(sys.argv[2])
    config.load_kube_config(config_file=kubeconfig)
    core, apps = client.CoreV1Api(), client.AppsV1Api()
    auth = client.AuthorizationV1Api()

    def ready_nodes():
        nodes = core.list_node().items
        ready = [
            n.metadata.name
            for n in nodes
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
        ]
        return ready if len(ready) == expected else None

    nodes = wait(f"{expected} Ready nodes", ready_nodes)
    print("nodes:", ", ".join(sorted(nodes)))

    review = auth.create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb="create", group="apps", resource="deployments", namespace="default"
                )
            )
        )
    )
    if not review.status.allowed:
        sys.exit(f"an owner may not create deployments: {review.status}")

    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py-web"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "py-web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py-web"}),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="web", image="nginx:1.27")]
                ),
            ),
        ),
    )
    apps.create_namespaced_deployment("default", body)
    w = watch.Watch()
    seen_available = False
    for event in w.stream(apps.list_namespaced_deployment, "default", timeout_seconds=60):
        d = event["object"]
        # A new Deployment's first event may carry no status yet.
        available = (d.status.available_replicas if d.status else None) or 0
        if d.metadata.name == "py-web" and available == 2:
            seen_available = True
            w.stop()
    if not seen_available:
        sys.exit("the watch never saw py-web with 2 available replicas")
    apps.patch_namespaced_deployment_scale("py-web", "default", {"spec": {"replicas": 1}})
    wait(
        "py-web scaled to 1",
        lambda: ((apps.read_namespaced_deployment("py-web", "default").status or client.V1DeploymentStatus()).available_replicas or 0)
        == 1
        and len(core.list_namespaced_pod("default", label_selector="app=py-web").items) == 1,
    )
    apps.delete_namespaced_deployment("py-web", "default", propagation_policy="Foreground")
    wait(
        "py-web's pods gone",
        lambda: not core.list_namespaced_pod("default", label_selector="app=py-web").items,
    )
    print("python kubernetes client: ok")


if __name__ == "__main__":
    main()
