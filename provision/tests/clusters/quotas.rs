//! Quotas: checked before any cloud call, and claimed in the same step as the check so
//! that parallel creates, node groups, scales, services and volumes cannot pass one
//! quota together.

use std::sync::Arc;

use provision::cloud::*;
use provision::clusters::{self, saga, workloads};
use provision::domain::Actor;
use provision::ops::Engine;
use provision::{Error, Store};

use crate::both;
use crate::common::*;
use crate::support::*;

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

        // Services and volumes: the door checks for room before it asks the cluster;
        // the controller claims it for real when it makes the cloud side, in one
        // transaction with its ledger row. Requests racing past the door still make
        // one load balancer and one volume, and the rest wait with a Warning event.
        let _running = run_controllers(&e);
        quota_with_room(
            &e,
            provision::quotas::Usage {
                load_balancers: 1,
                ..Default::default()
            },
        )
        .await;
        let key = e.key.clone();
        let services = at_once(&e, &ids, |store, _, cloud, actor, id| {
            let key = key.clone();
            async move {
                let web = service("web", &[(80, None)]);
                workloads::service_create(&store, &key, cloud.as_ref(), &actor, &id, web).await
            }
        })
        .await;
        some_within_quota(&services, "services");
        let made = |role: &'static str| {
            let (e, ids) = (&e, &ids);
            async move {
                let mut n = 0;
                for id in ids {
                    n += match role {
                        "service" => e.store.services_of(id).await.unwrap().len(),
                        _ => e.store.volumes_of(id).await.unwrap().len(),
                    };
                }
                n
            }
        };
        settle_at_one(|| made("service")).await;

        // Volumes: 5 GiB each, room for 5.
        quota_with_room(
            &e,
            provision::quotas::Usage {
                volume_gib: 5,
                ..Default::default()
            },
        )
        .await;
        let volumes = at_once(&e, &ids, |store, _, cloud, actor, id| {
            let key = key.clone();
            async move {
                let data = volume("data", 5, None);
                workloads::volume_create(&store, &key, cloud.as_ref(), &actor, &id, data).await
            }
        })
        .await;
        some_within_quota(&volumes, "volumes");
        settle_at_one(|| made("volume")).await;
    }
);

/// Each answer is a success or a quota refusal, and at least one succeeded.
fn some_within_quota<T: std::fmt::Debug>(results: &[provision::Result<T>], what: &str) {
    assert!(results.iter().any(|r| r.is_ok()), "{what}: {results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, Error::Conflict(m) if m.contains("quota")),
            "{what}: {r:?}"
        );
    }
}

/// Waits until `count` is 1, then checks it stays 1 while the controllers keep trying.
async fn settle_at_one<F, Fut>(count: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count().await != 1 {
        assert!(std::time::Instant::now() < deadline, "never one made");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(count().await, 1, "the quota held");
}

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
