//! Node groups: scaling the default group up and down, adding and removing groups.

use std::sync::Arc;

use provision::cloud::*;
use provision::clusters;
use provision::clusters::saga::cluster_metadata;
use provision::ops::OpState;
use provision::{Error, Store};

use crate::both;
use crate::common::*;

both!(node_groups_scale_up_and_down, |store: Store| async move {
    let e = env(store, |_| {}).await;
    let started = clusters::create(
        &e.store,
        &e.engine,
        &e.actor,
        &e.project,
        spec("scaly", 1, 2),
        &e.flavors,
    )
    .await
    .unwrap();
    let id = started.cluster.id.clone();
    let change = |n: u32, remove: Vec<String>| clusters::NodeGroupChange {
        node_count: Some(n),
        remove_nodes: remove,
        ..Default::default()
    };
    // Not while it is still being created.
    let early = clusters::scale(
        &e.store,
        &e.engine,
        e.cloud.as_ref(),
        &e.actor,
        &id,
        "default-worker",
        change(3, vec![]),
    )
    .await;
    assert!(matches!(early, Err(Error::Conflict(_))), "{early:?}");
    drain(&e.engine).await;
    let workers = |cloud: Arc<dyn Cloud>, id: String| async move {
        let mut names: Vec<String> = cloud
            .server_list(&cluster_metadata(&id))
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.metadata["shipyard-role"] == "worker")
            .map(|s| s.name)
            .collect();
        names.sort();
        names
    };
    let op = clusters::scale(
        &e.store,
        &e.engine,
        e.cloud.as_ref(),
        &e.actor,
        &id,
        "default-worker",
        change(4, vec![]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        e.store.cluster_get(&e.project, &id).await.unwrap().status,
        model::ClusterStatus::Updating
    );
    drain(&e.engine).await;
    assert_eq!(
        e.store.op_get(&op.id).await.unwrap().state,
        OpState::Succeeded
    );
    let names = workers(e.cloud.clone(), id.clone()).await;
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(e.store.node_groups_of(&id).await.unwrap()[0].node_count, 4);
    assert_eq!(
        e.store.cluster_get(&e.project, &id).await.unwrap().status,
        model::ClusterStatus::Active
    );

    // Shrink naming the node to remove; the others stay.
    let gone = names[0].clone();
    for bad in [
        change(9, vec![]),
        change(2, vec![gone.clone()]),
        change(3, vec!["not-a-node".into()]),
    ] {
        let r = clusters::scale(
            &e.store,
            &e.engine,
            e.cloud.as_ref(),
            &e.actor,
            &id,
            "default-worker",
            bad,
        )
        .await;
        assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    }
    clusters::scale(
        &e.store,
        &e.engine,
        e.cloud.as_ref(),
        &e.actor,
        &id,
        "default-worker",
        change(3, vec![gone.clone()]),
    )
    .await
    .unwrap();
    drain(&e.engine).await;
    let after = workers(e.cloud.clone(), id.clone()).await;
    assert_eq!(after.len(), 3);
    assert!(!after.contains(&gone));
    // Without names, the newest go.
    clusters::scale(
        &e.store,
        &e.engine,
        e.cloud.as_ref(),
        &e.actor,
        &id,
        "default-worker",
        change(1, vec![]),
    )
    .await
    .unwrap();
    drain(&e.engine).await;
    let last = workers(e.cloud.clone(), id.clone()).await;
    assert_eq!(last, vec![after[0].clone()], "the oldest remains");
    assert_eq!(e.store.node_groups_of(&id).await.unwrap()[0].node_count, 1);
    let missing = clusters::scale(
        &e.store,
        &e.engine,
        e.cloud.as_ref(),
        &e.actor,
        &id,
        "nope",
        change(1, vec![]),
    )
    .await;
    assert!(matches!(missing, Err(Error::NotFound(_))));
});

both!(
    node_groups_are_added_and_removed,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let id = active_cluster(&e, "groups", 1, 1).await;
        let group = |name: &str, count: u32| -> clusters::NodeGroupSpec {
            serde_json::from_value(serde_json::json!({
                "name": name, "flavor": "m1.small", "node_count": count, "max_node_count": 4,
                "labels": {"pool": name}, "taints": ["dedicated=batch:NoSchedule"],
            }))
            .unwrap()
        };
        let workers_of = |g: &'static str| {
            let cloud = e.cloud.clone();
            let id = id.clone();
            async move {
                cloud
                    .server_list(&cluster_metadata(&id))
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|s| {
                        s.metadata.get("shipyard-node-group").map(String::as_str) == Some(g)
                    })
                    .count()
            }
        };
        let (ng, op) = clusters::node_group_create(
            &e.store,
            &e.engine,
            &e.actor,
            &id,
            group("batch", 2),
            &e.flavors,
        )
        .await
        .unwrap();
        assert_eq!(ng.node_count, 2);
        assert_eq!(op.steps_total, 2, "two workers");
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&op.id).await.unwrap().state,
            OpState::Succeeded
        );
        assert_eq!(workers_of("batch").await, 2);
        assert_eq!(e.store.node_groups_of(&id).await.unwrap().len(), 2);
        assert_eq!(
            e.store.cluster_get(&e.project, &id).await.unwrap().status,
            model::ClusterStatus::Active
        );

        // Refused: a duplicate name, a flavor not on offer, a count beyond the bounds.
        for (bad, field) in [
            (group("batch", 1), "node_group_name"),
            (
                serde_json::from_value(
                    serde_json::json!({"name": "x", "flavor": "m9.huge", "node_count": 1}),
                )
                .unwrap(),
                "node_group_flavor",
            ),
            (
                serde_json::from_value(
                    serde_json::json!({"name": "x", "node_count": 5, "max_node_count": 4}),
                )
                .unwrap(),
                "node_count",
            ),
        ] {
            let r =
                clusters::node_group_create(&e.store, &e.engine, &e.actor, &id, bad, &e.flavors)
                    .await;
            assert!(
                matches!(&r, Err(Error::Invalid { field: Some(f), .. }) if *f == field),
                "{r:?}"
            );
        }
        assert_eq!(e.store.node_groups_of(&id).await.unwrap().len(), 2);

        // Delete the first group: its workers go, the other group stays.
        let op = clusters::node_group_delete(
            &e.store,
            &e.engine,
            e.cloud.as_ref(),
            &e.actor,
            &id,
            "default-worker",
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&op.id).await.unwrap().state,
            OpState::Succeeded
        );
        assert_eq!(workers_of("default-worker").await, 0);
        assert_eq!(workers_of("batch").await, 2);
        let groups = e.store.node_groups_of(&id).await.unwrap();
        assert_eq!(groups.len(), 1);
        // The last one cannot go.
        let r = clusters::node_group_delete(
            &e.store,
            &e.engine,
            e.cloud.as_ref(),
            &e.actor,
            &id,
            "batch",
        )
        .await;
        assert!(
            matches!(&r, Err(Error::Conflict(m)) if m.contains("at least one")),
            "{r:?}"
        );
        let r = clusters::node_group_delete(
            &e.store,
            &e.engine,
            e.cloud.as_ref(),
            &e.actor,
            &id,
            "nope",
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");

        // A group whose servers all turn ERROR unwinds: no workers, no group, and the
        // cluster says why.
        let lc = e.running.as_ref().unwrap().cloud.clone();
        let mut b = lc.behaviour();
        b.server_error_rate = 1.0;
        b.server_error_after_seconds = 0.0;
        lc.set_behaviour(b);
        let (_, op) = clusters::node_group_create(
            &e.store,
            &e.engine,
            &e.actor,
            &id,
            group("doomed", 2),
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let op = e.store.op_get(&op.id).await.unwrap();
        assert_eq!(op.state, OpState::Unwound, "{:?}", op.error);
        assert_eq!(workers_of("doomed").await, 0);
        assert_eq!(e.store.node_groups_of(&id).await.unwrap().len(), 1);
        let c = e.store.cluster_get(&e.project, &id).await.unwrap();
        assert_eq!(c.status, model::ClusterStatus::Active);
        assert!(c
            .status_reason
            .unwrap()
            .contains("Adding a node group failed"));
    }
);
