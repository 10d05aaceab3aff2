//! The operations engine on SQLite and PostgreSQL, with a saga whose steps create and
//! remove named things in an in-memory "world" and fail on demand: concurrency of
//! independent steps, retries, unwinding from a failure at each step, stuck undos and
//! an admin's retry, one operation per target, aborts, and a crashed worker's operation
//! resumed by another worker without doing anything twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use provision::ops::*;
use provision::testdb::TestDb;
use provision::{Backend, Error, Store};
use serde_json::{json, Value};

macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                run(Backend::Sqlite, $body).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                run(Backend::Postgres, $body).await
            }
        }
    };
}

async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = TestDb::new(backend).await.expect("test database");
    let store = db.store().await.expect("connect and migrate");
    body(store.clone()).await;
    store.close().await;
    db.cleanup().await;
}

/// What the steps act on: named things, and how often each was created or removed.
#[derive(Default)]
struct World {
    things: BTreeMap<String, String>,
    creates: HashMap<String, u32>,
    /// Failures left to inject, by "run:<step>" or "undo:<step>"; u32::MAX = always.
    faults: HashMap<String, (u32, bool)>,
    slow: HashMap<String, Duration>,
}

type Shared = Arc<Mutex<World>>;

struct Thing {
    key: String,
    world: Shared,
    barrier: Option<Arc<tokio::sync::Barrier>>,
}

impl Thing {
    fn fault(&self, what: &str) -> Option<StepError> {
        let mut w = self.world.lock().unwrap();
        let (left, retryable) = w.faults.get_mut(&format!("{what}:{}", self.key))?;
        if *left == 0 {
            return None;
        }
        if *left != u32::MAX {
            *left -= 1;
        }
        Some(StepError {
            message: format!("injected {what} failure in {}", self.key),
            retryable: *retryable,
        })
    }
}

#[async_trait]
impl Step for Thing {
    async fn run(&self, cx: &StepContext) -> Result<Value, StepError> {
        if let Some(e) = self.fault("run") {
            return Err(e);
        }
        let name = format!("{}-{}", cx.target_id, self.key);
        let slow = {
            let mut w = self.world.lock().unwrap();
            // Idempotent: an earlier attempt's thing is found, not made again.
            if !w.things.contains_key(&name) {
                w.things.insert(name.clone(), cx.operation_id.clone());
                *w.creates.entry(name.clone()).or_default() += 1;
            }
            w.slow.get(&self.key).copied()
        };
        if let Some(b) = &self.barrier {
            b.wait().await;
        }
        if let Some(d) = slow {
            tokio::time::sleep(d).await;
        }
        Ok(json!({ "name": name, "deps": cx.outputs.keys().collect::<Vec<_>>() }))
    }

    async fn undo(&self, cx: &StepContext, _output: Option<&Value>) -> Result<(), StepError> {
        if let Some(e) = self.fault("undo") {
            return Err(e);
        }
        let name = format!("{}-{}", cx.target_id, self.key);
        self.world.lock().unwrap().things.remove(&name);
        Ok(())
    }
}

/// Steps from the spec: `{"steps": [[key, [after...]], ...], "together": [keys]}`; the
/// keys in `together` wait for each other (so they must run at the same time).
struct Things {
    world: Shared,
    unwinds: bool,
}

#[async_trait]
impl SagaKind for Things {
    fn steps(&self, spec: &Value) -> provision::Result<Vec<StepDef>> {
        let together: Vec<String> = spec["together"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let barrier =
            (!together.is_empty()).then(|| Arc::new(tokio::sync::Barrier::new(together.len())));
        let steps = spec["steps"]
            .as_array()
            .ok_or_else(|| Error::invalid("steps", "missing"))?;
        Ok(steps
            .iter()
            .map(|s| {
                let key = s[0].as_str().unwrap_or_default().to_string();
                let after: Vec<&str> = s[1]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                StepDef::new(
                    key.clone(),
                    &after,
                    Arc::new(Thing {
                        barrier: together.contains(&key).then(|| barrier.clone()).flatten(),
                        key,
                        world: self.world.clone(),
                    }),
                )
            })
            .collect())
    }

    fn unwinds(&self) -> bool {
        self.unwinds
    }
}

fn engine(store: &Store, world: &Shared, lease: Duration) -> Engine {
    Engine::builder(
        store.clone(),
        EngineConfig {
            lease,
            poll: Duration::from_millis(50),
            concurrency: 8,
            backoff: Backoff {
                max_attempts: 3,
                initial: Duration::from_millis(5),
                max: Duration::from_millis(20),
            },
        },
    )
    .kind(
        "things",
        Arc::new(Things {
            world: world.clone(),
            unwinds: true,
        }),
    )
    .kind(
        "removal",
        Arc::new(Things {
            world: world.clone(),
            unwinds: false,
        }),
    )
    .build()
}

/// A diamond: a → (b, c together) → d.
fn diamond() -> Value {
    json!({
        "steps": [["a", []], ["b", ["a"]], ["c", ["a"]], ["d", ["b", "c"]]],
        "together": ["b", "c"],
    })
}

fn new_op(target: &str, spec: Value) -> NewOperation {
    NewOperation {
        project_id: "p1".into(),
        kind: "things".into(),
        target_id: target.into(),
        requested_by: "u1".into(),
        spec,
    }
}

/// Runs claimable operations until none is left (bounded, so a hang fails the test).
async fn drain(engine: &Engine) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while engine.run_one().await.expect("run") {}
    })
    .await
    .expect("operations finish");
}

both!(
    independent_steps_run_together_and_everything_is_recorded,
    |store: Store| async move {
        let world = Shared::default();
        let engine = engine(&store, &world, Duration::from_secs(10));
        let op = engine.submit(new_op("c1", diamond())).await.unwrap();
        assert_eq!(op.state, OpState::Pending);
        assert_eq!((op.steps_done, op.steps_total), (0, 4));
        // b and c wait for each other at a barrier: this only finishes if they run at once.
        drain(&engine).await;
        let op = store.op_get(&op.id).await.unwrap();
        assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
        assert_eq!(op.steps_done, 4);
        assert!(op.finished_at.is_some() && op.lease_owner.is_none());
        let steps = store.op_steps(&op.id).await.unwrap();
        assert!(steps
            .iter()
            .all(|s| s.state == StepState::Succeeded && s.attempts == 1));
        assert_eq!(
            steps[3].output.as_ref().unwrap()["deps"],
            json!(["a", "b", "c"]),
            "d saw its inputs"
        );
        let events = store.op_events(&op.id).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(kinds.first(), Some(&"started"));
        assert_eq!(kinds.last(), Some(&"succeeded"));
        assert_eq!(kinds.iter().filter(|k| **k == "succeeded").count(), 5);
        assert_eq!(world.lock().unwrap().things.len(), 4);
    }
);

both!(
    retryable_errors_are_retried_with_backoff,
    |store: Store| async move {
        let world = Shared::default();
        world
            .lock()
            .unwrap()
            .faults
            .insert("run:b".into(), (2, true));
        let engine = engine(&store, &world, Duration::from_secs(10));
        let op = engine.submit(new_op("c1", diamond())).await.unwrap();
        drain(&engine).await;
        let op = store.op_get(&op.id).await.unwrap();
        assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
        let b = store
            .op_steps(&op.id)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.step == "b")
            .unwrap();
        assert_eq!(b.attempts, 3);
    }
);

both!(
    a_failure_at_any_step_unwinds_to_a_clean_slate,
    |store: Store| async move {
        for (i, step) in ["a", "b", "c", "d"].iter().enumerate() {
            let world = Shared::default();
            world
                .lock()
                .unwrap()
                .faults
                .insert(format!("run:{step}"), (u32::MAX, false));
            let engine = engine(&store, &world, Duration::from_secs(10));
            let target = format!("fail-{i}");
            // Without the barrier: a failing b must not leave c waiting for it forever.
            let mut spec = diamond();
            spec["together"] = json!([]);
            let op = engine.submit(new_op(&target, spec)).await.unwrap();
            drain(&engine).await;
            let op = store.op_get(&op.id).await.unwrap();
            assert_eq!(op.state, OpState::Unwound, "failing {step}");
            assert_eq!(op.retryable, Some(false));
            assert!(
                op.error
                    .as_deref()
                    .unwrap()
                    .contains(&format!("injected run failure in {step}")),
                "{:?}",
                op.error
            );
            assert!(
                world.lock().unwrap().things.is_empty(),
                "failing {step} left {:?}",
                world.lock().unwrap().things
            );
            let steps = store.op_steps(&op.id).await.unwrap();
            assert!(
                steps
                    .iter()
                    .all(|s| matches!(s.state, StepState::Undone | StepState::Pending)),
                "{steps:?}"
            );
            assert_eq!(op.steps_done, 0);
            // Running a step twice gives the same world: each thing was created once.
            assert!(world.lock().unwrap().creates.values().all(|n| *n == 1));
        }
    }
);

both!(
    exhausted_retries_unwind_and_say_retrying_may_help,
    |store: Store| async move {
        let world = Shared::default();
        world
            .lock()
            .unwrap()
            .faults
            .insert("run:d".into(), (u32::MAX, true));
        let engine = engine(&store, &world, Duration::from_secs(10));
        let op = engine.submit(new_op("c1", diamond())).await.unwrap();
        drain(&engine).await;
        let op = store.op_get(&op.id).await.unwrap();
        assert_eq!(op.state, OpState::Unwound);
        assert_eq!(op.retryable, Some(true));
        let d = store
            .op_steps(&op.id)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.step == "d")
            .unwrap();
        assert_eq!(d.attempts, 3, "bounded retries");
        assert!(world.lock().unwrap().things.is_empty());
    }
);

both!(
    an_undo_that_cannot_finish_is_stuck_until_an_admin_retries,
    |store: Store| async move {
        let world = Shared::default();
        {
            let mut w = world.lock().unwrap();
            w.faults.insert("run:d".into(), (u32::MAX, false));
            // Three tries per undo: the first unwind gives up; the retry's first try passes.
            w.faults.insert("undo:a".into(), (3, true));
        }
        let engine = engine(&store, &world, Duration::from_secs(10));
        let op = engine.submit(new_op("c1", diamond())).await.unwrap();
        drain(&engine).await;
        let stuck = store.op_get(&op.id).await.unwrap();
        assert_eq!(stuck.state, OpState::Stuck);
        assert!(
            stuck.error.as_deref().unwrap().contains("Undoing a failed"),
            "{:?}",
            stuck.error
        );
        assert_eq!(world.lock().unwrap().things.len(), 1, "only a is left");
        // Stuck does not hold the cluster; a retry resumes the unwind.
        let err = engine.retry("no-such-op").await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)));
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        let op = store.op_get(&op.id).await.unwrap();
        assert_eq!(op.state, OpState::Unwound);
        assert!(world.lock().unwrap().things.is_empty());
        assert!(matches!(
            engine.retry(&op.id).await.unwrap_err(),
            Error::Conflict(_)
        ));
    }
);

both!(
    one_unfinished_operation_per_target,
    |store: Store| async move {
        let world = Shared::default();
        let engine = engine(&store, &world, Duration::from_secs(10));
        let first = engine.submit(new_op("c1", diamond())).await.unwrap();
        let err = engine.submit(new_op("c1", diamond())).await.unwrap_err();
        match err {
            Error::Conflict(m) => {
                assert!(m.contains(&first.id) && m.contains("wait for it"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        engine
            .submit(new_op("c2", diamond()))
            .await
            .expect("another cluster is free");
        drain(&engine).await;
        engine
            .submit(new_op("c1", diamond()))
            .await
            .expect("free again once finished");
        drain(&engine).await;
        assert_eq!(store.op_list_for("c1").await.unwrap().len(), 2);
    }
);

both!(
    a_persons_operation_waits_for_background_work_instead_of_being_refused,
    |store: Store| async move {
        let world = Shared::default();
        let engine = engine(&store, &world, Duration::from_secs(10));
        let background = NewOperation {
            requested_by: "system:cloud-controller".into(),
            ..new_op("c1", diamond())
        };
        let first = engine.submit(background.clone()).await.unwrap();
        // Background work is refused behind background work.
        let err = engine.submit(background).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        // A person's operation waits while the first runs, then starts.
        let person = tokio::spawn({
            let engine = engine.clone();
            async move { engine.submit(new_op("c1", diamond())).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!person.is_finished(), "it waits, it is not refused");
        drain(&engine).await;
        let second = person.await.unwrap().expect("started once the first ended");
        assert_ne!(second.id, first.id);
        assert_eq!(
            store.op_get(&first.id).await.unwrap().state,
            OpState::Succeeded
        );
        drain(&engine).await;
        // Behind a person's operation, a person is refused at once, as before.
        let third = engine.submit(new_op("c1", diamond())).await.unwrap();
        let err = engine.submit(new_op("c1", diamond())).await.unwrap_err();
        match err {
            Error::Conflict(m) => assert!(m.contains(&third.id), "{m}"),
            other => panic!("{other:?}"),
        }
    }
);

both!(
    an_abort_cancels_running_steps_and_unwinds,
    |store: Store| async move {
        let world = Shared::default();
        world
            .lock()
            .unwrap()
            .slow
            .insert("b".into(), Duration::from_secs(120));
        let engine = engine(&store, &world, Duration::from_secs(10));
        let mut spec = diamond();
        spec["together"] = json!([]);
        let op = engine.submit(new_op("c1", spec)).await.unwrap();
        let runner = {
            let engine = engine.clone();
            tokio::spawn(async move { engine.run_one().await })
        };
        // Wait until b is running (its thing exists), then abort.
        for _ in 0..200 {
            if world.lock().unwrap().things.contains_key("c1-b") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        engine.abort(&op.id).await.unwrap();
        if tokio::time::timeout(Duration::from_secs(20), runner)
            .await
            .is_err()
        {
            panic!(
                "abort not honoured: {:?}\n{:?}\n{:?}",
                store.op_get(&op.id).await,
                store.op_steps(&op.id).await,
                store.op_events(&op.id).await
            );
        }
        let op = store.op_get(&op.id).await.unwrap();
        assert_eq!(op.state, OpState::Unwound);
        assert!(op.error.as_deref().unwrap().contains("Aborted"));
        assert!(
            world.lock().unwrap().things.is_empty(),
            "the interrupted step was undone too"
        );
        assert!(matches!(
            engine.abort(&op.id).await.unwrap_err(),
            Error::Conflict(_)
        ));
    }
);

both!(
    a_dead_workers_operation_is_resumed_by_another_without_repeats,
    |store: Store| async move {
        let world = Shared::default();
        // c makes its thing, then "hangs" long enough for its worker to die mid-step.
        world
            .lock()
            .unwrap()
            .slow
            .insert("c".into(), Duration::from_secs(120));
        let mut spec = diamond();
        spec["together"] = json!([]);
        let first = engine(&store, &world, Duration::from_millis(600));
        let op = first.submit(new_op("c1", spec)).await.unwrap();
        let crashed = {
            let first = first.clone();
            tokio::spawn(async move { first.run_one().await })
        };
        for _ in 0..500 {
            let steps = store.op_steps(&op.id).await.unwrap();
            if world.lock().unwrap().things.contains_key("c1-c")
                && steps
                    .iter()
                    .any(|s| s.step == "b" && s.state == StepState::Succeeded)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        crashed.abort(); // the process dies: no lease release, c is left `running`
        let _ = crashed.await;
        world.lock().unwrap().slow.clear();

        let second = engine(&store, &world, Duration::from_millis(600));
        assert_ne!(first.owner(), second.owner());
        // The lease is still held at first; the second worker takes over once it expires.
        let mut took_over = false;
        for _ in 0..100 {
            if second.run_one().await.unwrap() {
                took_over = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(took_over);
        let op = store.op_get(&op.id).await.unwrap();
        assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
        {
            let w = world.lock().unwrap();
            assert_eq!(w.things.len(), 4);
            assert!(
                w.creates.values().all(|n| *n == 1),
                "nothing made twice: {:?}",
                w.creates
            );
        }
        let steps = steps_by_key(&store, &op.id).await;
        assert_eq!(steps["a"].attempts, 1, "a was not run again");
        assert_eq!(steps["b"].attempts, 1, "b was not run again");
    }
);

async fn steps_by_key(store: &Store, id: &str) -> HashMap<String, StepRow> {
    store
        .op_steps(id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.step.clone(), s))
        .collect()
}

both!(
    a_failed_removal_stays_failed_and_a_retry_finishes_it,
    |store: Store| async move {
        let world = Shared::default();
        world
            .lock()
            .unwrap()
            .faults
            .insert("run:c".into(), (3, true));
        let engine = engine(&store, &world, Duration::from_secs(10));
        let mut new = new_op(
            "c1",
            json!({"steps": [["a", []], ["b", ["a"]], ["c", ["b"]]]}),
        );
        new.kind = "removal".into();
        let op = engine.submit(new).await.unwrap();
        drain(&engine).await;
        let failed = store.op_get(&op.id).await.unwrap();
        assert_eq!(failed.state, OpState::Failed);
        assert_eq!(failed.retryable, Some(true));
        assert_eq!(
            world.lock().unwrap().things.len(),
            2,
            "nothing undone: a removal does not put things back"
        );
        engine.retry(&op.id).await.unwrap();
        drain(&engine).await;
        let done = store.op_get(&op.id).await.unwrap();
        assert_eq!(done.state, OpState::Succeeded, "{:?}", done.error);
        assert_eq!(world.lock().unwrap().things.len(), 3);
    }
);

both!(
    concurrent_workers_share_the_queue_without_errors,
    |store: Store| async move {
        let world = Shared::default();
        let mut spec = diamond();
        spec["together"] = json!([]);
        let first = engine(&store, &world, Duration::from_secs(10));
        for i in 0..20 {
            first
                .submit(new_op(&format!("t{i}"), spec.clone()))
                .await
                .unwrap();
        }
        // Four workers (as four processes would) claim from the same table at once.
        let mut workers = Vec::new();
        for _ in 0..4 {
            let e = engine(&store, &world, Duration::from_secs(10));
            workers.push(tokio::spawn(async move {
                let mut ran = 0;
                while e.run_one().await.expect("no database error while claiming") {
                    ran += 1;
                }
                ran
            }));
        }
        let mut total = 0;
        for w in workers {
            total += tokio::time::timeout(Duration::from_secs(60), w)
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(total, 20, "each operation ran exactly once");
        assert_eq!(
            store.op_list_in(&[OpState::Succeeded]).await.unwrap().len(),
            20
        );
        assert!(world.lock().unwrap().creates.values().all(|n| *n == 1));
    }
);
