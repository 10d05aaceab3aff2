//! Clusters end to end through the engine, the OpenStack driver and an in-process
//! localcloud, on SQLite and PostgreSQL: a create reaches ACTIVE with masters spread
//! over hosts, etcd volumes attached and the API load balancer; a create that cannot be
//! placed unwinds to an empty inventory; a delete leaves nothing of the cluster in the
//! cloud; with 20 % injected errors both still converge; bad input and other projects
//! are refused.

use std::sync::Arc;
use std::time::Duration;

use provision::cloud::*;
use provision::clusters::saga::{self, cluster_metadata, cluster_tag};
use provision::clusters::{self, ClusterSpec};
use provision::domain::Actor;
use provision::ops::{Engine, OpState};

use provision::{Error, Store};

mod common;
use common::*;

both!(
    create_reaches_active_and_delete_leaves_nothing,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("demo", 3, 2),
            &e.flavors,
        )
        .await
        .unwrap();
        assert_eq!(started.cluster.status, model::ClusterStatus::Creating);
        // CA, group, API LB, 3 × (etcd, master, attach, member), listener, pool, monitor,
        // the API's access, 2 workers.
        assert_eq!(started.operation.steps_total, 3 + 3 * 4 + 3 + 1 + 2);
        drain(&e.engine).await;
        let op = e.store.op_get(&started.operation.id).await.unwrap();
        assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
        let cluster = e
            .store
            .cluster_get(&e.project, &started.cluster.id)
            .await
            .unwrap();
        assert_eq!(cluster.status, model::ClusterStatus::Active);
        let api = cluster.api_address.clone().expect("API address");
        assert!(api.starts_with("127.") && api.ends_with(":6443"), "{api}");

        let (servers, volumes, lbs, group) = inventory(e.cloud.as_ref(), &cluster.id).await;
        assert_eq!(servers.len(), 5);
        let masters: Vec<&Server> = servers
            .iter()
            .filter(|s| s.metadata["shipyard-role"] == "master")
            .collect();
        assert_eq!(masters.len(), 3);
        let mut hosts: Vec<&str> = masters.iter().filter_map(|s| s.host.as_deref()).collect();
        hosts.sort();
        hosts.dedup();
        assert_eq!(hosts.len(), 3, "masters on three different hosts");
        assert_eq!(volumes.len(), 3);
        assert!(
            volumes.iter().all(|v| v.attached_to.len() == 1),
            "{volumes:?}"
        );
        assert_eq!(lbs.len(), 1);
        assert!(group);
        // The listener is real: the VIP accepts TCP on 6443.
        let (vip, _) = api.split_once(':').unwrap();
        tokio::net::TcpStream::connect((vip, 6443))
            .await
            .expect("the API VIP listens");

        // A second operation on the same cluster waits its turn; a second create of the
        // same name is refused.
        let again = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("demo", 1, 1),
            &e.flavors,
        )
        .await;
        assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");

        let deleting = clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &cluster.id)
            .await
            .unwrap();
        assert_eq!(deleting.cluster.status, model::ClusterStatus::Deleting);
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&deleting.operation.id).await.unwrap().state,
            OpState::Succeeded
        );
        assert!(matches!(
            e.store.cluster_get(&e.project, &cluster.id).await,
            Err(Error::NotFound(_))
        ));
        assert_empty(e.cloud.as_ref(), &cluster.id).await;
        assert!(
            tokio::net::TcpStream::connect((vip, 6443)).await.is_err(),
            "the VIP is gone"
        );
    }
);

both!(
    a_create_that_cannot_be_placed_unwinds_to_nothing,
    |store: Store| async move {
        // Two hosts: the third master has nowhere to go under anti-affinity.
        let e = env(store, |c| {
            c.hosts.truncate(2);
        })
        .await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("tight", 3, 1),
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let op = e.store.op_get(&started.operation.id).await.unwrap();
        assert_eq!(op.state, OpState::Unwound);
        assert_eq!(op.retryable, Some(false));
        let cluster = e
            .store
            .cluster_get(&e.project, &started.cluster.id)
            .await
            .unwrap();
        assert_eq!(cluster.status, model::ClusterStatus::Failed);
        assert!(
            cluster
                .status_reason
                .as_deref()
                .unwrap()
                .contains("No valid host"),
            "{:?}",
            cluster.status_reason
        );
        assert_empty(e.cloud.as_ref(), &cluster.id).await;
        // A failed cluster can still be deleted (nothing is left, the delete succeeds).
        clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &cluster.id)
            .await
            .unwrap();
        drain(&e.engine).await;
        assert!(matches!(
            e.store.cluster_get(&e.project, &cluster.id).await,
            Err(Error::NotFound(_))
        ));
    }
);

both!(
    creates_and_deletes_converge_with_injected_errors_and_timeouts,
    |store: Store| async move {
        // 20 % of cloud calls go wrong: half answer 5xx at once (changing nothing), half
        // do the work and then hold the answer past the driver's 2 s timeout (the case
        // that needs find-before-create).
        let e = env(store, |c| {
            c.faults.error_rate = 0.1;
            c.faults.timeout_rate = 0.1;
            c.faults.timeout_seconds = 2.5;
        })
        .await;
        let mut ids = Vec::new();
        for name in ["flaky-a", "flaky-b"] {
            let s = clusters::create(
                &e.store,
                &e.engine,
                &e.actor,
                &e.project,
                spec(name, 1, 2),
                &e.flavors,
            )
            .await
            .unwrap();
            ids.push(s.cluster.id);
        }
        drain(&e.engine).await;
        for id in &ids {
            let c = e.store.cluster_get(&e.project, id).await.unwrap();
            let (servers, volumes, lbs, _) = inventory(e.cloud.as_ref(), id).await;
            match c.status.as_str() {
                // Nothing made twice: exactly what the cluster should have.
                "ACTIVE" => assert_eq!((servers.len(), volumes.len(), lbs.len()), (3, 1, 1)),
                "FAILED" => assert_empty(e.cloud.as_ref(), id).await,
                other => panic!("cluster ended {other}"),
            }
            clusters::delete(&e.store, &e.engine, &e.actor, &e.project, id)
                .await
                .unwrap();
        }
        drain(&e.engine).await;
        // A delete that failed on too many errors is retried until done.
        for _ in 0..5 {
            let failed = e.store.op_list_in(&[OpState::Failed]).await.unwrap();
            if failed.is_empty() {
                break;
            }
            for op in failed {
                e.engine.retry(&op.id).await.unwrap();
            }
            drain(&e.engine).await;
        }
        for id in &ids {
            assert!(matches!(
                e.store.cluster_get(&e.project, id).await,
                Err(Error::NotFound(_))
            ));
            assert_empty(e.cloud.as_ref(), id).await;
        }
    }
);

both!(
    bad_specs_and_other_projects_are_refused,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let bad = |f: &dyn Fn(&mut ClusterSpec)| {
            let mut s = spec("ok", 1, 1);
            f(&mut s);
            s
        };
        let cases: Vec<(ClusterSpec, &str)> = vec![
            (bad(&|s| s.name = "Bad_Name".into()), "name"),
            (bad(&|s| s.name = "9lives".into()), "name"),
            (bad(&|s| s.name = "a".repeat(41)), "name"),
            (bad(&|s| s.name = "trailing-".into()), "name"),
            (
                bad(&|s| s.kubernetes_version = Some("v1.2.3".into())),
                "kubernetes_version",
            ),
            (bad(&|s| s.master_count = 2), "master_count"),
            (
                bad(&|s| s.master_flavor = "m9.huge".into()),
                "master_flavor",
            ),
            (bad(&|s| s.pod_cidr = "10.0.0.0/33".into()), "pod_cidr"),
            (bad(&|s| s.pod_cidr = "169.254.0.0/16".into()), "pod_cidr"),
            (bad(&|s| s.pod_cidr = "10.244.1.0/16".into()), "pod_cidr"),
            (
                bad(&|s| s.service_cidr = "10.244.0.0/16".into()),
                "service_cidr",
            ),
            (bad(&|s| s.node_groups.clear()), "node_groups"),
            (bad(&|s| s.node_groups[0].node_count = 9), "node_count"),
            (
                bad(&|s| s.node_groups[0].min_node_count = Some(6)),
                "min_node_count",
            ),
            (
                bad(&|s| s.node_groups.push(s.node_groups[0].clone())),
                "node_group_name",
            ),
            (
                bad(&|s| s.node_groups[0].taints = vec!["x".into()]),
                "taints",
            ),
        ];
        for (s, field) in cases {
            match clusters::create(
                &e.store,
                &e.engine,
                &e.actor,
                &e.project,
                s.clone(),
                &e.flavors,
            )
            .await
            {
                Err(Error::Invalid { field: Some(f), .. }) => assert_eq!(f, field, "{s:?}"),
                other => panic!("{s:?} gave {other:?}"),
            }
        }
        assert!(
            e.store.cluster_list(&e.project).await.unwrap().is_empty(),
            "nothing recorded"
        );
        assert!(
            e.store
                .op_list_in(&[OpState::Pending])
                .await
                .unwrap()
                .is_empty(),
            "nothing started"
        );

        // Another user's project: not found, for create and delete alike.
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("mine", 1, 1),
            &e.flavors,
        )
        .await
        .unwrap();
        let (other, _) = e
            .store
            .user_create_with_project("other@example.com", "x", false, false)
            .await
            .unwrap();
        let stranger = Actor {
            user_id: other.id,
            email: other.email,
            is_admin: false,
            client_addr: "127.0.0.1".into(),
            credential: provision::domain::Credential::Session,
        };
        let r = clusters::delete(
            &e.store,
            &e.engine,
            &stranger,
            &e.project,
            &started.cluster.id,
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = clusters::create(
            &e.store,
            &e.engine,
            &stranger,
            &e.project,
            spec("theirs", 1, 1),
            &e.flavors,
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        drain(&e.engine).await;
    }
);

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
    parallel_creates_cannot_pass_one_quota_together,
    |store: Store| async move {
        // The check and the claim are one step: 20 creates at once against a quota of
        // one cluster record exactly one, and the others are refused with the quota.
        let e = env(store, |_| {}).await;
        provision::quotas::set(
            &e.store,
            &e.project,
            &provision::quotas::Quota {
                clusters: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut racers = tokio::task::JoinSet::new();
        for i in 0..20 {
            let (store, engine, actor) = (e.store.clone(), e.engine.clone(), e.actor.clone());
            let (project, flavors) = (e.project.clone(), e.flavors.clone());
            racers.spawn(async move {
                clusters::create(
                    &store,
                    &engine,
                    &actor,
                    &project,
                    spec(&format!("racer-{i}"), 1, 1),
                    &flavors,
                )
                .await
            });
        }
        let results: Vec<_> = racers.join_all().await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(r, Error::Conflict(m) if m.contains("quota") && m.contains("clusters")),
                "{r:?}"
            );
        }
        assert_eq!(e.store.cluster_list(&e.project).await.unwrap().len(), 1);
    }
);

/// Exactly one of `results` went through; the others were refused by the quota.
fn one_within_quota<T: std::fmt::Debug>(results: &[provision::Result<T>], what: &str) {
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{what}: {results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, Error::Conflict(m) if m.contains("quota")),
            "{what}: {r:?}"
        );
    }
}

/// What `one` answers for each cluster of `ids`, all started at once, in the order of
/// `ids` (`one` gets its own store, engine, cloud and actor).
async fn at_once<T, F, Fut>(e: &Env, ids: &[String], one: F) -> Vec<provision::Result<T>>
where
    F: Fn(Store, Engine, Arc<dyn Cloud>, Actor, String) -> Fut,
    Fut: std::future::Future<Output = provision::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let racers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, engine, cloud) = (e.store.clone(), e.engine.clone(), e.cloud.clone());
            tokio::spawn(one(store, engine, cloud, e.actor.clone(), id.clone()))
        })
        .collect();
    let mut out = Vec::new();
    for r in racers {
        out.push(r.await.unwrap());
    }
    out
}

/// Sets the project's quota to what it uses now plus `room`, where `room` is not zero
/// (the other limits stay at their defaults).
async fn quota_with_room(e: &Env, room: provision::quotas::Usage) -> provision::quotas::Usage {
    let etcd = saga::ETCD_GIB as i64;
    let used = provision::quotas::usage(&e.store, &e.project, &e.flavors, etcd)
        .await
        .unwrap();
    let d = provision::quotas::Quota::default();
    let limit = |room: i64, used: i64, default: i64| if room > 0 { used + room } else { default };
    let q = provision::quotas::Quota {
        clusters: d.clusters,
        vcpus: limit(room.vcpus, used.vcpus, d.vcpus),
        ram_mib: d.ram_mib,
        volume_gib: limit(room.volume_gib, used.volume_gib, d.volume_gib),
        load_balancers: limit(room.load_balancers, used.load_balancers, d.load_balancers),
    };
    provision::quotas::set(&e.store, &e.project, &q)
        .await
        .unwrap();
    used
}

both!(
    parallel_node_groups_scales_services_and_volumes_cannot_pass_one_quota_together,
    |store: Store| async move {
        // Each kind of claim checks and takes its share in one step, so four requests at
        // once on four clusters of one project, with room for one, record one. A
        // scale-up's claim holds while it runs.
        let e = env(store, |_| {}).await;
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(active_cluster(&e, &format!("q{i}"), 1, 1).await);
        }
        let one_vcpu = provision::quotas::Usage {
            vcpus: 1,
            ..Default::default()
        };
        let small = |name: &str| -> clusters::NodeGroupSpec {
            serde_json::from_value(serde_json::json!({
                "name": name, "flavor": "m1.small", "node_count": 1,
            }))
            .unwrap()
        };

        // Node groups: one m1.small each, room for one vCPU.
        quota_with_room(&e, one_vcpu).await;
        let groups = at_once(&e, &ids, |store, engine, _, actor, id| {
            let (flavors, group) = (e.flavors.clone(), small("extra"));
            async move {
                clusters::node_group_create(&store, &engine, &actor, &id, group, &flavors).await
            }
        })
        .await;
        one_within_quota(&groups, "node groups");
        drain(&e.engine).await;

        // Scale-ups: default-worker 1 -> 2 on each, room for one vCPU.
        quota_with_room(&e, one_vcpu).await;
        let scales = at_once(&e, &ids, |store, engine, cloud, actor, id| async move {
            let change = clusters::NodeGroupChange {
                node_count: Some(2),
                ..Default::default()
            };
            clusters::scale(
                &store,
                &engine,
                cloud.as_ref(),
                &actor,
                &id,
                "default-worker",
                change,
            )
            .await
        })
        .await;
        one_within_quota(&scales, "scale-ups");
        // While the winner runs, its worker is claimed: nothing else fits.
        let idle = ids
            .iter()
            .zip(&scales)
            .find(|(_, r)| r.is_err())
            .map(|(id, _)| id.clone())
            .unwrap();
        let meanwhile = clusters::node_group_create(
            &e.store,
            &e.engine,
            &e.actor,
            &idle,
            small("meanwhile"),
            &e.flavors,
        )
        .await;
        assert!(
            matches!(&meanwhile, Err(Error::Conflict(m)) if m.contains("quota")),
            "{meanwhile:?}"
        );
        let etcd = saga::ETCD_GIB as i64;
        let claimed = provision::quotas::usage(&e.store, &e.project, &e.flavors, etcd)
            .await
            .unwrap();
        drain(&e.engine).await;
        let done = provision::quotas::usage(&e.store, &e.project, &e.flavors, etcd)
            .await
            .unwrap();
        assert_eq!(claimed, done, "the claim became the count");

        // Services: one load balancer each, room for one.
        quota_with_room(
            &e,
            provision::quotas::Usage {
                load_balancers: 1,
                ..Default::default()
            },
        )
        .await;
        let services = at_once(&e, &ids, |store, engine, cloud, actor, id| async move {
            let web = service("web", &[(80, None)]);
            workloads::service_create(&store, &engine, cloud.as_ref(), &actor, &id, web).await
        })
        .await;
        one_within_quota(&services, "services");
        drain(&e.engine).await;

        // Volumes: 5 GiB each, room for 5.
        quota_with_room(
            &e,
            provision::quotas::Usage {
                volume_gib: 5,
                ..Default::default()
            },
        )
        .await;
        let volumes = at_once(&e, &ids, |store, engine, cloud, actor, id| async move {
            let data = volume("data", 5, None);
            workloads::volume_create(&store, &engine, cloud.as_ref(), &actor, &id, data).await
        })
        .await;
        one_within_quota(&volumes, "volumes");
        drain(&e.engine).await;
    }
);

both!(
    quotas_are_checked_before_any_cloud_call,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        provision::quotas::set(
            &e.store,
            &e.project,
            &provision::quotas::Quota {
                clusters: 1,
                vcpus: 4,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // 1 × m1.medium (2 vCPUs) + 2 × m1.small (1 each) = 4 vCPUs: fits exactly.
        clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("first", 1, 2),
            &e.flavors,
        )
        .await
        .unwrap();
        let r = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("second", 1, 1),
            &e.flavors,
        )
        .await;
        match r {
            Err(Error::Conflict(m)) => assert!(
                m.contains("quota") && m.contains("clusters") && m.contains("vCPUs"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.store.cluster_list(&e.project).await.unwrap().len(),
            1,
            "nothing recorded"
        );
        // The grouped usage, for the project and for every project: 1 × m1.medium master
        // (2 vCPU, 4096 MiB, a 10 GiB etcd volume, the API LB) + 2 × m1.small workers
        // (1 vCPU, 2048 MiB, 20 GiB boot volume each).
        let want = provision::quotas::Usage {
            clusters: 1,
            vcpus: 4,
            ram_mib: 8192,
            volume_gib: 50,
            load_balancers: 1,
        };
        let etcd = provision::clusters::saga::ETCD_GIB as i64;
        let one = provision::quotas::usage(&e.store, &e.project, &e.flavors, etcd)
            .await
            .unwrap();
        assert_eq!(one, want);
        let all = provision::quotas::usage_by_project(&e.store, None, &e.flavors, etcd)
            .await
            .unwrap();
        assert_eq!(all.get(&e.project), Some(&want), "{all:?}");
        drain(&e.engine).await;
        let id = e.store.cluster_list(&e.project).await.unwrap()[0]
            .id
            .clone();
        let change = clusters::NodeGroupChange {
            node_count: Some(3),
            ..Default::default()
        };
        let r = clusters::scale(
            &e.store,
            &e.engine,
            e.cloud.as_ref(),
            &e.actor,
            &id,
            "default-worker",
            change,
        )
        .await;
        assert!(
            matches!(r, Err(Error::Conflict(ref m)) if m.contains("vCPUs")),
            "{r:?}"
        );
        assert!(matches!(
            provision::quotas::set(
                &e.store,
                &e.project,
                &provision::quotas::Quota {
                    clusters: -1,
                    ..Default::default()
                }
            )
            .await,
            Err(Error::Invalid { .. })
        ));
    }
);

// ---- PKI and kubeconfigs -----------------------------------------------------------

/// A stand-in for kube-apiserver: TLS with a serving certificate from the cluster CA,
/// client certificates required (signed by that CA), `GET /version` answered.
// ---- services, persistent volumes and node groups ----------------------------------
use provision::clusters::workloads::{self, ServicePort, ServiceSpec, VolumeRequest};

fn service(name: &str, ports: &[(u16, Option<u16>)]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        ports: ports
            .iter()
            .map(|(port, node_port)| ServicePort {
                port: *port,
                node_port: *node_port,
            })
            .collect(),
    }
}

fn volume(name: &str, size_gib: u64, volume_type: Option<&str>) -> VolumeRequest {
    VolumeRequest {
        name: name.into(),
        size_gib,
        volume_type: volume_type.map(String::from),
    }
}

async fn active_cluster(e: &Env, name: &str, masters: u32, workers: u32) -> String {
    let started = clusters::create(
        &e.store,
        &e.engine,
        &e.actor,
        &e.project,
        spec(name, masters, workers),
        &e.flavors,
    )
    .await
    .unwrap();
    drain(&e.engine).await;
    let c = e
        .store
        .cluster_get(&e.project, &started.cluster.id)
        .await
        .unwrap();
    assert_eq!(
        c.status,
        model::ClusterStatus::Active,
        "{:?}",
        c.status_reason
    );
    c.id
}

async fn step_output(e: &Env, op: &str, key: &str) -> serde_json::Value {
    e.store
        .op_steps(op)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.step == key)
        .and_then(|s| s.output)
        .unwrap_or_else(|| panic!("step {key} has no output"))
}

both!(
    every_member_is_one_of_localclouds_loopback_addresses,
    |store: Store| async move {
        // A 3-master cluster (its API load balancer) and a service on its workers: every
        // member the cloud holds is a server's fixed IP on localcloud's loopback subnet,
        // and a member anywhere else is refused by the cloud.
        let e = env(store, |_| {}).await;
        let id = active_cluster(&e, "lo", 3, 2).await;
        let cloud = e.cloud.as_ref();
        let (_, op) = workloads::service_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            service("web", &[(8080, None)]),
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&op.id).await.unwrap().state,
            OpState::Succeeded
        );
        let lc = &e.running.as_ref().unwrap().cloud;
        let subnet = lc.config.subnet;
        let servers: std::collections::HashSet<String> = cloud
            .server_list(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .flat_map(|s| s.addresses)
            .collect();
        assert_eq!(servers.len(), 5, "{servers:?}");
        let members: Vec<(String, std::net::Ipv4Addr, u16)> =
            localcloud::loadbalancers::members(lc)
                .into_iter()
                .map(|(pool, at)| match at.ip() {
                    std::net::IpAddr::V4(ip) => (pool, ip, at.port()),
                    other => panic!("member {other} is not IPv4"),
                })
                .collect();
        assert_eq!(
            members.len(),
            3 + 2,
            "3 masters on 6443, 2 workers on the node port"
        );
        for (_, ip, port) in &members {
            assert!(
                ip.is_loopback() && subnet.contains(*ip),
                "{ip}:{port} is outside {subnet}"
            );
            assert!(
                servers.contains(&ip.to_string()),
                "{ip} is no server's address"
            );
        }
        let pool = &members[0].0;
        for outside in ["10.0.0.5", "192.168.1.20", "127.0.0.1"] {
            let refused = cloud
                .member_add(
                    pool,
                    &MemberSpec {
                        name: "outside".into(),
                        address: outside.into(),
                        port: 5432,
                    },
                )
                .await
                .expect_err(outside);
            assert_eq!(refused.status, Some(400), "{outside}: {refused:?}");
        }
        assert_eq!(
            cloud.member_list(pool).await.unwrap().len(),
            members.iter().filter(|m| &m.0 == pool).count()
        );
    }
);

both!(
    services_and_volumes_live_and_die_with_the_cluster,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let id = active_cluster(&e, "apps", 1, 2).await;
        let cloud = e.cloud.as_ref();

        // Expose: a load balancer tagged with the cluster, a listener per port, the
        // workers as members on the node port (picked when left out).
        let (svc, op) = workloads::service_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            service("web", &[(8080, None), (8443, Some(31443))]),
        )
        .await
        .unwrap();
        let svc_op = op.id.clone();
        assert_eq!(svc.status, "CREATING");
        assert_eq!(svc.ports[0].node_port, Some(30000));
        drain(&e.engine).await;
        let svc = e.store.services_of(&id).await.unwrap().remove(0);
        assert_eq!(svc.status, "ACTIVE", "{:?}", svc.status_reason);
        let vip = svc.vip.clone().expect("a VIP");
        let lbs = cloud
            .load_balancer_list(&[cluster_tag(&id), "shipyard-service=web".into()])
            .await
            .unwrap();
        assert_eq!(lbs.len(), 1);
        assert_eq!(lbs[0].vip_address.as_deref(), Some(vip.as_str()));
        for (port, node_port) in [(8080, 30000), (8443, 31443)] {
            let pool = step_output(&e, &op.id, &format!("pool-{port}")).await;
            let members = cloud
                .member_list(pool["id"].as_str().unwrap())
                .await
                .unwrap();
            assert_eq!(members.len(), 2, "{members:?}");
            assert!(members.iter().all(|m| m.port == node_port));
            // The listener is real: the VIP accepts TCP on the port.
            tokio::net::TcpStream::connect((vip.as_str(), port))
                .await
                .expect("the service VIP listens");
        }
        // The members follow the workers: scale up, then down.
        for (count, members) in [(3, 3), (1, 1)] {
            let op = clusters::scale(
                &e.store,
                &e.engine,
                cloud,
                &e.actor,
                &id,
                "default-worker",
                clusters::NodeGroupChange {
                    node_count: Some(count),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .unwrap();
            drain(&e.engine).await;
            assert_eq!(
                e.store.op_get(&op.id).await.unwrap().state,
                OpState::Succeeded
            );
            for port in [8080, 8443] {
                let pool = step_output(&e, &svc_op, &format!("pool-{port}")).await;
                let m = cloud
                    .member_list(pool["id"].as_str().unwrap())
                    .await
                    .unwrap();
                assert_eq!(
                    m.len(),
                    members,
                    "port {port} after scaling to {count}: {m:?}"
                );
            }
        }

        // Bad input changes nothing.
        for (bad, field) in [
            (service("web", &[(80, None)]), "name"),
            (service("Web", &[(80, None)]), "name"),
            (service("api", &[]), "ports"),
            (service("api", &[(0, None)]), "ports"),
            (service("api", &[(80, None), (80, None)]), "ports"),
            (service("api", &[(80, Some(29999))]), "ports"),
            (service("api", &[(80, Some(31443))]), "ports"),
        ] {
            let r =
                workloads::service_create(&e.store, &e.engine, cloud, &e.actor, &id, bad.clone())
                    .await;
            assert!(
                matches!(&r, Err(Error::Invalid { field: Some(f), .. }) if *f == field),
                "{bad:?}: {r:?}"
            );
        }
        assert_eq!(e.store.services_of(&id).await.unwrap().len(), 1);

        // A persistent volume: tagged, sized, listed.
        let (pv, _) = workloads::volume_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            volume("data", 5, Some("ssd")),
        )
        .await
        .unwrap();
        assert_eq!(pv.status, "CREATING");
        drain(&e.engine).await;
        let pv = e.store.volumes_of(&id).await.unwrap().remove(0);
        assert_eq!(pv.status, "ACTIVE");
        let vols = cloud.volume_list(&cluster_metadata(&id)).await.unwrap();
        let found = vols
            .iter()
            .find(|v| Some(&v.id) == pv.volume_id.as_ref())
            .expect("in the cloud");
        assert_eq!(found.size_gib, 5);
        assert_eq!(found.metadata["shipyard-role"], "persistent-volume");
        for bad in [
            volume("data", 1, None),
            volume("x", 0, None),
            volume("x", 20_000, None),
            volume("x", 1, Some("no such!")),
        ] {
            let r =
                workloads::volume_create(&e.store, &e.engine, cloud, &e.actor, &id, bad.clone())
                    .await;
            assert!(matches!(r, Err(Error::Invalid { .. })), "{bad:?}: {r:?}");
        }
        // A type the cloud does not have: the operation fails with the cloud's words and
        // leaves nothing.
        let (gold, op) = workloads::volume_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            volume("gold", 1, Some("gold")),
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&op.id).await.unwrap().state,
            OpState::Unwound
        );
        let gold = e
            .store
            .volumes_of(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|v| v.id == gold.id)
            .unwrap();
        assert_eq!(gold.status, "FAILED");
        assert!(gold.status_reason.unwrap().contains("gold"));
        assert!(!cloud
            .volume_list(&cluster_metadata(&id))
            .await
            .unwrap()
            .iter()
            .any(|v| v.name.ends_with("-pv-gold")));
        workloads::volume_delete(&e.store, &e.engine, &e.actor, &id, "gold")
            .await
            .unwrap();
        drain(&e.engine).await;

        // Another project sees nothing and changes nothing.
        let (other, _) = e
            .store
            .user_create_with_project("other-wl@example.com", "x", false, false)
            .await
            .unwrap();
        let other = Actor {
            user_id: other.id,
            email: other.email,
            is_admin: false,
            client_addr: "127.0.0.1".into(),
            credential: provision::domain::Credential::Session,
        };
        let r = workloads::service_create(
            &e.store,
            &e.engine,
            cloud,
            &other,
            &id,
            service("x", &[(80, None)]),
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = workloads::service_delete(&e.store, &e.engine, &other, &id, "web").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = workloads::volume_delete(&e.store, &e.engine, &other, &id, "data").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");

        // Delete a service: its load balancer goes.
        workloads::service_delete(&e.store, &e.engine, &e.actor, &id, "web")
            .await
            .unwrap();
        drain(&e.engine).await;
        assert!(e.store.services_of(&id).await.unwrap().is_empty());
        assert!(cloud
            .load_balancer_list(&["shipyard-service=web".into(), cluster_tag(&id)])
            .await
            .unwrap()
            .is_empty());

        // The cluster's delete sweeps a service and a volume it still has.
        workloads::service_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            service("again", &[(80, None)]),
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &id)
            .await
            .unwrap();
        drain(&e.engine).await;
        assert_empty(cloud, &id).await;
        assert!(e.store.services_of(&id).await.unwrap().is_empty());
        assert!(e.store.volumes_of(&id).await.unwrap().is_empty());
    }
);

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
        assert_eq!(
            op.steps_total,
            2 + 1,
            "two workers, then the service members"
        );
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

// ---- every saga: each step twice, and a failure after each step ---------------------

#[derive(Clone, Debug, Default, PartialEq)]
enum ChaosMode {
    #[default]
    Off,
    /// Every step runs twice (the second answer is the one recorded); undos too.
    Twice,
    /// This step does its work and then reports a permanent failure.
    FailAt(String),
}

#[derive(Clone, Default)]
struct Chaos(Arc<std::sync::Mutex<ChaosMode>>);

impl Chaos {
    fn set(&self, m: ChaosMode) {
        *self.0.lock().unwrap() = m;
    }
    fn get(&self) -> ChaosMode {
        self.0.lock().unwrap().clone()
    }
}

struct ChaosKind {
    inner: Arc<dyn provision::ops::SagaKind>,
    chaos: Chaos,
}

struct ChaosStep {
    inner: Arc<dyn provision::ops::Step>,
    key: String,
    chaos: Chaos,
}

#[async_trait::async_trait]
impl provision::ops::SagaKind for ChaosKind {
    fn steps(&self, spec: &serde_json::Value) -> provision::Result<Vec<provision::ops::StepDef>> {
        Ok(self
            .inner
            .steps(spec)?
            .into_iter()
            .map(|d| provision::ops::StepDef {
                step: Arc::new(ChaosStep {
                    inner: d.step.clone(),
                    key: d.key.clone(),
                    chaos: self.chaos.clone(),
                }),
                ..d
            })
            .collect())
    }
    fn unwinds(&self) -> bool {
        self.inner.unwinds()
    }
    async fn succeeded(&self, op: &provision::ops::OperationRow) -> provision::Result<()> {
        self.inner.succeeded(op).await
    }
    async fn unwound(&self, op: &provision::ops::OperationRow) -> provision::Result<()> {
        self.inner.unwound(op).await
    }
}

#[async_trait::async_trait]
impl provision::ops::Step for ChaosStep {
    async fn run(
        &self,
        cx: &provision::ops::StepContext,
    ) -> Result<serde_json::Value, provision::ops::StepError> {
        let out = self.inner.run(cx).await?;
        match self.chaos.get() {
            ChaosMode::Twice => self.inner.run(cx).await,
            ChaosMode::FailAt(k) if k == self.key => Err(provision::ops::StepError::permanent(
                format!("injected failure after {k} did its work"),
            )),
            _ => Ok(out),
        }
    }
    async fn undo(
        &self,
        cx: &provision::ops::StepContext,
        output: Option<&serde_json::Value>,
    ) -> Result<(), provision::ops::StepError> {
        self.inner.undo(cx, output).await?;
        // An undo is idempotent too: a second one finds nothing to do.
        self.inner.undo(cx, output).await
    }
}

async fn step_keys(store: &Store, op: &str) -> Vec<String> {
    store
        .op_steps(op)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.step)
        .collect()
}

async fn op_state(store: &Store, op: &str) -> OpState {
    let op = store.op_get(op).await.unwrap();
    op.state
}

both!(
    every_saga_survives_each_step_twice_and_a_failure_after_each_step,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let chaos = Chaos::default();
        let kinds = saga::kinds(&e.store, e.cloud.clone(), test_settings())
            .into_iter()
            .map(|(n, k)| {
                let k: Arc<dyn provision::ops::SagaKind> = Arc::new(ChaosKind {
                    inner: k,
                    chaos: chaos.clone(),
                });
                (n, k)
            })
            .collect();
        let engine = engine_with(&e.store, kinds);
        let cloud = e.cloud.as_ref();
        let (store, actor, project) = (&e.store, &e.actor, e.project.as_str());
        let create = |name: String| {
            let engine = engine.clone();
            let flavors = e.flavors.clone();
            async move {
                clusters::create(store, &engine, actor, project, spec(&name, 1, 1), &flavors)
                    .await
                    .unwrap()
            }
        };

        // Cluster create, every step twice: ACTIVE with exactly its resources.
        chaos.set(ChaosMode::Twice);
        let twice = create("twice".into()).await;
        drain(&engine).await;
        assert_eq!(
            op_state(store, &twice.operation.id).await,
            OpState::Succeeded
        );
        let id = twice.cluster.id.clone();
        let (servers, volumes, lbs, group) = inventory(cloud, &id).await;
        assert_eq!(
            (servers.len(), volumes.len(), lbs.len(), group),
            (2, 1, 1, true)
        );
        assert_eq!(volumes[0].attached_to.len(), 1);
        let pool = step_output(&e, &twice.operation.id, "api-pool").await;
        assert_eq!(
            cloud
                .member_list(pool["id"].as_str().unwrap())
                .await
                .unwrap()
                .len(),
            1
        );
        let create_keys = step_keys(store, &twice.operation.id).await;
        assert_eq!(create_keys.len(), 12, "{create_keys:?}");

        // Cluster create, a failure after each step: unwound, nothing left.
        for (i, key) in create_keys.iter().enumerate() {
            chaos.set(ChaosMode::FailAt(key.clone()));
            let s = create(format!("fail-{i}")).await;
            drain(&engine).await;
            assert_eq!(
                op_state(store, &s.operation.id).await,
                OpState::Unwound,
                "failure at {key}"
            );
            assert_empty(cloud, &s.cluster.id).await;
            assert!(
                provision::pki::ca_get(store, &s.cluster.id)
                    .await
                    .unwrap()
                    .is_none(),
                "CA left after {key}"
            );
            let c = store.cluster_get(project, &s.cluster.id).await.unwrap();
            assert_eq!(c.status, model::ClusterStatus::Failed);
            assert!(c.status_reason.unwrap().contains(key.as_str()));
            chaos.set(ChaosMode::Off);
            clusters::delete(store, &engine, actor, project, &s.cluster.id)
                .await
                .unwrap();
            drain(&engine).await;
        }

        // Scale up: twice gives exactly the target; a failure at each step unwinds.
        let workers = || async {
            cloud
                .server_list(&cluster_metadata(&id))
                .await
                .unwrap()
                .into_iter()
                .filter(|s| s.metadata["shipyard-role"] == "worker")
                .count()
        };
        let change = |n: u32| clusters::NodeGroupChange {
            node_count: Some(n),
            ..Default::default()
        };
        chaos.set(ChaosMode::Twice);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(3),
        )
        .await
        .unwrap()
        .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 3);
        chaos.set(ChaosMode::Off);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(1),
        )
        .await
        .unwrap()
        .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        chaos.set(ChaosMode::FailAt("nothing yet".into()));
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(2),
        )
        .await
        .unwrap()
        .unwrap();
        let key = step_keys(store, &op.id).await.remove(0);
        chaos.set(ChaosMode::FailAt(key.clone()));
        drain(&engine).await;
        assert_eq!(
            op_state(store, &op.id).await,
            OpState::Unwound,
            "failure at {key}"
        );
        assert_eq!(workers().await, 1);

        // Shrink: a failure stops it as failed; a retry finishes it.
        chaos.set(ChaosMode::Off);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(2),
        )
        .await
        .unwrap()
        .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        let op = clusters::scale(
            store,
            &engine,
            cloud,
            actor,
            &id,
            "default-worker",
            change(1),
        )
        .await
        .unwrap()
        .unwrap();
        let key = step_keys(store, &op.id).await.remove(0);
        chaos.set(ChaosMode::FailAt(key.clone()));
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Off);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        assert_eq!(store.node_groups_of(&id).await.unwrap()[0].node_count, 1);

        // Node group create: twice, exactly its workers; a failure at each step unwinds.
        let group = |name: &str| -> clusters::NodeGroupSpec {
            serde_json::from_value(
                serde_json::json!({"name": name, "flavor": "m1.small", "node_count": 2}),
            )
            .unwrap()
        };
        chaos.set(ChaosMode::Twice);
        let (_, op) =
            clusters::node_group_create(store, &engine, actor, &id, group("extra"), &e.flavors)
                .await
                .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 3);
        for key in step_keys(store, &op.id).await {
            let key = key.replace("extra", "flaky");
            chaos.set(ChaosMode::FailAt(key.clone()));
            let (_, op) =
                clusters::node_group_create(store, &engine, actor, &id, group("flaky"), &e.flavors)
                    .await
                    .unwrap();
            drain(&engine).await;
            assert_eq!(
                op_state(store, &op.id).await,
                OpState::Unwound,
                "failure at {key}"
            );
            assert_eq!(workers().await, 3);
            assert_eq!(store.node_groups_of(&id).await.unwrap().len(), 2);
        }
        // Node group delete: twice; and a failure at each step, then a retry.
        chaos.set(ChaosMode::Twice);
        let op = clusters::node_group_delete(store, &engine, cloud, actor, &id, "extra")
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        chaos.set(ChaosMode::Off);
        clusters::node_group_create(store, &engine, actor, &id, group("extra"), &e.flavors)
            .await
            .unwrap();
        drain(&engine).await;
        chaos.set(ChaosMode::FailAt("sweep".into()));
        let op = clusters::node_group_delete(store, &engine, cloud, actor, &id, "extra")
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Off);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(workers().await, 1);
        assert_eq!(store.node_groups_of(&id).await.unwrap().len(), 1);

        // Service create: twice, one load balancer with one member; a failure at each
        // step unwinds to no load balancer; deletes twice and after a failure.
        let svc_lbs = |name: &str| {
            let tags = [cluster_tag(&id), format!("shipyard-service={name}")];
            async move { cloud.load_balancer_list(&tags).await.unwrap() }
        };
        chaos.set(ChaosMode::Twice);
        let (_, op) = workloads::service_create(
            store,
            &engine,
            cloud,
            actor,
            &id,
            service("web", &[(80, None)]),
        )
        .await
        .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(svc_lbs("web").await.len(), 1);
        let pool = step_output(&e, &op.id, "pool-80").await;
        assert_eq!(
            cloud
                .member_list(pool["id"].as_str().unwrap())
                .await
                .unwrap()
                .len(),
            1
        );
        for (i, key) in step_keys(store, &op.id).await.into_iter().enumerate() {
            chaos.set(ChaosMode::FailAt(key.clone()));
            let name = format!("flaky-{i}");
            let (_, op) = workloads::service_create(
                store,
                &engine,
                cloud,
                actor,
                &id,
                service(&name, &[(80, None)]),
            )
            .await
            .unwrap();
            drain(&engine).await;
            assert_eq!(
                op_state(store, &op.id).await,
                OpState::Unwound,
                "failure at {key}"
            );
            assert!(
                svc_lbs(&name).await.is_empty(),
                "LB left after a failure at {key}"
            );
            chaos.set(ChaosMode::Off);
            workloads::service_delete(store, &engine, actor, &id, &name)
                .await
                .unwrap();
            drain(&engine).await;
        }
        chaos.set(ChaosMode::FailAt("load-balancer".into()));
        let op = workloads::service_delete(store, &engine, actor, &id, "web")
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Twice);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert!(svc_lbs("web").await.is_empty());

        // Volume create and delete likewise.
        let mark = cluster_metadata(&id);
        let pvs = |name: &str| {
            let name = format!("-pv-{name}");
            let mark = &mark;
            async move {
                cloud
                    .volume_list(mark)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|v| v.name.ends_with(&name))
                    .count()
            }
        };
        chaos.set(ChaosMode::Twice);
        let (_, op) =
            workloads::volume_create(store, &engine, cloud, actor, &id, volume("data", 1, None))
                .await
                .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(pvs("data").await, 1);
        chaos.set(ChaosMode::FailAt("volume".into()));
        let (_, op) =
            workloads::volume_create(store, &engine, cloud, actor, &id, volume("flaky", 1, None))
                .await
                .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Unwound);
        assert_eq!(pvs("flaky").await, 0);
        let op = workloads::volume_delete(store, &engine, actor, &id, "data")
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Failed);
        chaos.set(ChaosMode::Twice);
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &op.id).await, OpState::Succeeded);
        assert_eq!(pvs("data").await, 0);

        // Cluster delete: twice; then a failure at each of its steps, then a retry.
        chaos.set(ChaosMode::Twice);
        let d = clusters::delete(store, &engine, actor, project, &id)
            .await
            .unwrap();
        drain(&engine).await;
        assert_eq!(op_state(store, &d.operation.id).await, OpState::Succeeded);
        assert_empty(cloud, &id).await;
        for key in step_keys(store, &d.operation.id).await {
            chaos.set(ChaosMode::Off);
            let c = create(format!("del-{key}")).await;
            drain(&engine).await;
            chaos.set(ChaosMode::FailAt(key.clone()));
            let d = clusters::delete(store, &engine, actor, project, &c.cluster.id)
                .await
                .unwrap();
            drain(&engine).await;
            assert_eq!(
                op_state(store, &d.operation.id).await,
                OpState::Failed,
                "failure at {key}"
            );
            assert_eq!(
                store
                    .cluster_get(project, &c.cluster.id)
                    .await
                    .unwrap()
                    .status,
                model::ClusterStatus::Deleting
            );
            chaos.set(ChaosMode::Off);
            engine.retry(&d.operation.id).await.unwrap();
            drain(&engine).await;
            assert_eq!(op_state(store, &d.operation.id).await, OpState::Succeeded);
            assert_empty(cloud, &c.cluster.id).await;
        }
    }
);

// The list's query: one row with the page as JSON, on both databases. Newest first,
// literal name fragments (no LIKE wildcards), status filter, paging with the total, node
// sums and creators, deleted clusters left out, a page past the end; and the console's
// first read, a user with their projects in one query.
both!(
    cluster_search_pages_and_filters,
    |store: Store| async move {
        let (user, project) = store
            .user_create_with_project("lister@example.com", "x", false, false)
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (name, workers) in [
            ("web_1", 1),
            ("web%2", 2),
            ("db-3", 3),
            ("web-4", 4),
            ("api-5", 5),
        ] {
            let c = store
                .cluster_insert(&project.id, &user.id, &spec(name, 1, workers))
                .await
                .unwrap();
            ids.push(c.id);
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        store
            .cluster_set_status(&ids[2], model::ClusterStatus::Failed, Some("no valid host"))
            .await
            .unwrap();
        store.cluster_mark_deleted(&ids[4]).await.unwrap();
        let filter = |name: &str, status: &str, limit: i64, offset: i64| clusters::ClusterFilter {
            name: Some(name.to_string()).filter(|s| !s.is_empty()),
            status: model::ClusterStatus::parse(status),
            limit,
            offset,
        };
        let names = |page: &[clusters::ClusterSummary]| {
            page.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
        };

        let (page, total) = store
            .cluster_search(&project.id, &filter("", "", 20, 0))
            .await
            .unwrap();
        assert_eq!(total, 4);
        assert_eq!(names(&page), ["web-4", "db-3", "web%2", "web_1"]);
        assert_eq!(page[0].nodes, 4);
        assert_eq!(page[0].created_by_email, "lister@example.com");
        assert_eq!(page[0].id, ids[3]);
        assert_eq!(page[0].master_count, 1);
        assert_eq!(page[1].status, model::ClusterStatus::Failed);
        assert_eq!(page[1].status_reason.as_deref(), Some("no valid host"));
        assert_eq!(page[0].status_reason, None);

        let (page, total) = store
            .cluster_search(&project.id, &filter("", "", 2, 2))
            .await
            .unwrap();
        assert_eq!(
            (names(&page), total),
            (vec!["web%2".to_string(), "web_1".to_string()], 4)
        );
        let (page, total) = store
            .cluster_search(&project.id, &filter("", "", 2, 10))
            .await
            .unwrap();
        assert_eq!(
            (page.len(), total),
            (0, 4),
            "a page past the end still counts"
        );
        let (page, total) = store
            .cluster_search(&project.id, &filter("%", "", 20, 0))
            .await
            .unwrap();
        assert_eq!(
            (names(&page), total),
            (vec!["web%2".to_string()], 1),
            "% is literal"
        );
        let (page, _) = store
            .cluster_search(&project.id, &filter("_", "", 20, 0))
            .await
            .unwrap();
        assert_eq!(names(&page), ["web_1"], "_ is literal");
        let (page, total) = store
            .cluster_search(&project.id, &filter("web", "CREATING", 20, 0))
            .await
            .unwrap();
        assert_eq!(
            (names(&page), total),
            (
                vec![
                    "web-4".to_string(),
                    "web%2".to_string(),
                    "web_1".to_string()
                ],
                3
            )
        );
        let (page, total) = store
            .cluster_search(&project.id, &filter("", "FAILED", 20, 0))
            .await
            .unwrap();
        assert_eq!((names(&page), total), (vec!["db-3".to_string()], 1));
        let (page, total) = store
            .cluster_search(&project.id, &filter("nothing", "", 20, 0))
            .await
            .unwrap();
        assert_eq!((page.len(), total), (0, 0));

        // The console reads the user and their projects at once, in the usual order.
        let team = store
            .project_create("a team", &user.id, None)
            .await
            .unwrap();
        let (read, projects) = store.user_with_projects(&user.id).await.unwrap().unwrap();
        assert_eq!(
            (&read.id, &read.email, read.is_admin),
            (&user.id, &user.email, false)
        );
        let listed = store.project_list_for_user(&user.id).await.unwrap();
        assert_eq!(projects, listed);
        assert_eq!(projects.len(), 2);
        assert_eq!(
            projects[0].project.id, project.id,
            "the personal project first"
        );
        assert_eq!(projects[1].project.id, team.id);
        assert!(store
            .user_with_projects("no-such-user")
            .await
            .unwrap()
            .is_none());
    }
);
