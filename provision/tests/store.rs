//! The store suite: every test runs on SQLite and on PostgreSQL.

use provision::accounts;
use provision::authz::{authorize, Action};
use provision::domain::{Actor, AuditFilter, NewAudit, Outcome, Role};
use provision::testdb::TestDb;
use provision::{Backend, Error, Store};

/// Declares `$name::sqlite` and `$name::postgres` running the same body.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite, $body).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

fn actor(user: &provision::domain::User) -> Actor {
    Actor {
        user_id: user.id.clone(),
        email: user.email.clone(),
        is_admin: user.is_admin,
        client_addr: "127.0.0.1".into(),
        credential: provision::domain::Credential::Session,
    }
}

both!(
    migrations_are_applied_and_idempotent,
    |store: Store| async move {
        store.readiness().await.unwrap();
        // Connecting again re-runs the migrator; nothing changes.
        let url_store = store.clone();
        url_store.readiness().await.unwrap();
        assert_eq!(store.user_count().await.unwrap(), 0);
    }
);

both!(
    sign_up_creates_user_personal_project_and_owner_membership,
    |store: Store| async move {
        let (user, project) =
            accounts::sign_up(&store, "Alice@Example.com", "a long password!", "1.2.3.4")
                .await
                .unwrap();
        assert_eq!(user.email, "alice@example.com");
        assert_eq!(project.personal_of.as_deref(), Some(user.id.as_str()));
        let projects = store.project_list_for_user(&user.id).await.unwrap();
        assert_eq!(projects.len(), 1);
        assert_eq!(projects[0].role, Role::Owner);
        assert_eq!(projects[0].project.name, "alice (personal)");
        // Duplicate email (any case) is a conflict and adds nothing.
        let dup = accounts::sign_up(
            &store,
            "ALICE@example.com",
            "another long password",
            "1.2.3.4",
        )
        .await;
        assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
        assert_eq!(store.user_count().await.unwrap(), 1);
        let audit = store
            .audit_list(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit[0].action, "user.sign_up");
        assert_eq!(audit[0].outcome, "failure");
        assert_eq!(audit[1].outcome, "success");
    }
);

both!(
    parallel_guesses_cannot_pass_the_throttle_together,
    |store: Store| async move {
        // 60 wrong passwords at once from one address: each attempt counts before its
        // check, so no more than the limit are checked and the rest are throttled.
        accounts::sign_up(
            &store,
            "dave@example.com",
            "dave's long password",
            "10.0.0.1",
        )
        .await
        .unwrap();
        let mut guesses = tokio::task::JoinSet::new();
        for i in 0..60 {
            let store = store.clone();
            guesses.spawn(async move {
                accounts::sign_in(
                    &store,
                    "dave@example.com",
                    &format!("guess number {i}"),
                    "10.7.7.7",
                )
                .await
            });
        }
        let results = guesses.join_all().await;
        let checked = results
            .iter()
            .filter(|r| matches!(r, Err(Error::Unauthenticated(_))))
            .count();
        let throttled = results
            .iter()
            .filter(|r| matches!(r, Err(Error::Throttled { .. })))
            .count();
        assert!(
            checked <= accounts::THROTTLE_MAX_FAILURES as usize,
            "{checked} checked"
        );
        assert_eq!(checked + throttled, 60, "{results:?}");
    }
);

both!(
    sign_in_checks_password_and_throttles,
    |store: Store| async move {
        accounts::sign_up(&store, "bob@example.com", "bob's long password", "10.0.0.1")
            .await
            .unwrap();
        let ok = accounts::sign_in(&store, "bob@example.com", "bob's long password", "10.0.0.1")
            .await
            .unwrap();
        assert_eq!(ok.email, "bob@example.com");
        for _ in 0..10 {
            let e =
                accounts::sign_in(&store, "bob@example.com", "wrong password!!", "10.0.0.2").await;
            assert!(matches!(e, Err(Error::Unauthenticated(_))), "{e:?}");
        }
        // The 11th attempt from that address is refused without checking, even with the
        // right password.
        let e =
            accounts::sign_in(&store, "bob@example.com", "bob's long password", "10.0.0.2").await;
        match e {
            Err(Error::Throttled {
                retry_after_secs, ..
            }) => assert!((1..=300).contains(&retry_after_secs)),
            other => panic!("expected throttling, got {other:?}"),
        }
        // The account is slowed, not locked: from an address that has not failed, a wrong
        // password is still just wrong, and the right one admits bob.
        let e = accounts::sign_in(&store, "bob@example.com", "wrong password!!", "10.0.0.3").await;
        assert!(matches!(e, Err(Error::Unauthenticated(_))), "{e:?}");
        let ok = accounts::sign_in(&store, "bob@example.com", "bob's long password", "10.0.0.4")
            .await
            .unwrap();
        assert_eq!(ok.email, "bob@example.com");
        // Per address too: ten failures on unknown accounts from one address.
        for i in 0..10 {
            let _ = accounts::sign_in(
                &store,
                &format!("nobody{i}@example.com"),
                "whatever password",
                "10.9.9.9",
            )
            .await;
        }
        let e =
            accounts::sign_in(&store, "carol@example.com", "whatever password", "10.9.9.9").await;
        assert!(matches!(e, Err(Error::Throttled { .. })), "{e:?}");
        let failures = store
            .audit_list(&AuditFilter {
                outcome: Some("failure".into()),
                action: Some("user.sign_in".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        // bob's ten from 10.0.0.2 and one from 10.0.0.3, the ten unknown accounts.
        assert_eq!(failures.len(), 21);
    }
);

both!(disabled_user_cannot_sign_in, |store: Store| async move {
    let (user, _) = accounts::sign_up(&store, "dave@example.com", "dave's long password", "::1")
        .await
        .unwrap();
    store.user_set_disabled(&user.id, true).await.unwrap();
    let e = accounts::sign_in(&store, "dave@example.com", "dave's long password", "::1").await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "{e:?}");
});

both!(
    change_password_requires_current,
    |store: Store| async move {
        let (user, _) =
            accounts::sign_up(&store, "erin@example.com", "erin's long password", "::1")
                .await
                .unwrap();
        let a = actor(&user);
        let e =
            accounts::change_password(&store, &a, "not it at all", "a brand new password", false)
                .await;
        assert!(
            matches!(
                e,
                Err(Error::Invalid {
                    field: Some("current"),
                    ..
                })
            ),
            "{e:?}"
        );
        let e = accounts::change_password(&store, &a, "erin's long password", "short", false).await;
        assert!(
            matches!(
                e,
                Err(Error::Invalid {
                    field: Some("new"),
                    ..
                })
            ),
            "{e:?}"
        );
        let changed = accounts::change_password(
            &store,
            &a,
            "erin's long password",
            "a brand new password",
            false,
        )
        .await
        .unwrap();
        assert_eq!(
            changed.user.session_epoch,
            user.session_epoch + 1,
            "sessions begun before are over"
        );
        assert!(
            accounts::sign_in(&store, "erin@example.com", "a brand new password", "::1")
                .await
                .is_ok()
        );
        assert!(
            accounts::sign_in(&store, "erin@example.com", "erin's long password", "::1")
                .await
                .is_err()
        );
    }
);

both!(signup_can_be_closed_by_admin, |store: Store| async move {
    let created = accounts::ensure_admin(&store, "root@example.com", None)
        .await
        .unwrap();
    let (email, generated) = created.expect("admin created");
    assert_eq!(email, "root@example.com");
    let password = generated.expect("generated password");
    // Second start: nothing happens.
    assert!(accounts::ensure_admin(&store, "root@example.com", None)
        .await
        .unwrap()
        .is_none());
    let admin = accounts::sign_in(&store, "root@example.com", &password, "::1")
        .await
        .unwrap();
    assert!(admin.is_admin && admin.must_change_password);
    let (user, _) = accounts::sign_up(&store, "frank@example.com", "frank's long password", "::1")
        .await
        .unwrap();
    assert!(matches!(
        accounts::set_signup_open(&store, &actor(&user), false).await,
        Err(Error::Forbidden(_))
    ));
    accounts::set_signup_open(&store, &actor(&admin), false)
        .await
        .unwrap();
    let e = accounts::sign_up(&store, "gina@example.com", "gina's long password", "::1").await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "{e:?}");
    accounts::set_signup_open(&store, &actor(&admin), true)
        .await
        .unwrap();
    accounts::sign_up(&store, "gina@example.com", "gina's long password", "::1")
        .await
        .unwrap();
});

both!(roles_and_isolation, |store: Store| async move {
    let (owner, project) =
        accounts::sign_up(&store, "owner@example.com", "owner long password", "::1")
            .await
            .unwrap();
    let (viewer, _) =
        accounts::sign_up(&store, "viewer@example.com", "viewer long password", "::1")
            .await
            .unwrap();
    let (member, _) =
        accounts::sign_up(&store, "member@example.com", "member long password", "::1")
            .await
            .unwrap();
    let (outsider, other) =
        accounts::sign_up(&store, "out@example.com", "outsider long password", "::1")
            .await
            .unwrap();
    store
        .member_upsert(&project.id, &viewer.id, Role::Viewer)
        .await
        .unwrap();
    store
        .member_upsert(&project.id, &member.id, Role::Member)
        .await
        .unwrap();

    assert!(
        authorize(&store, &actor(&viewer), &project.id, Action::View)
            .await
            .is_ok()
    );
    assert!(matches!(
        authorize(&store, &actor(&viewer), &project.id, Action::Mutate).await,
        Err(Error::Forbidden(_))
    ));
    assert!(
        authorize(&store, &actor(&member), &project.id, Action::Mutate)
            .await
            .is_ok()
    );
    assert!(matches!(
        authorize(&store, &actor(&member), &project.id, Action::ManageMembers).await,
        Err(Error::Forbidden(_))
    ));
    assert!(
        authorize(&store, &actor(&owner), &project.id, Action::ManageMembers)
            .await
            .is_ok()
    );
    // Outsiders learn nothing: the same answer as for a project that does not exist.
    let e = authorize(&store, &actor(&outsider), &project.id, Action::View)
        .await
        .unwrap_err();
    let none = authorize(&store, &actor(&outsider), "no-such-project", Action::View)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), none.to_string());
    assert!(matches!(e, Error::NotFound(_)));
    assert!(authorize(&store, &actor(&owner), &other.id, Action::View)
        .await
        .is_err());

    let members = store.member_list(&project.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.email.as_str(), m.role))
            .collect::<Vec<_>>(),
        vec![
            ("member@example.com", Role::Member),
            ("owner@example.com", Role::Owner),
            ("viewer@example.com", Role::Viewer),
        ]
    );
    store
        .member_upsert(&project.id, &viewer.id, Role::Member)
        .await
        .unwrap();
    assert_eq!(
        store
            .membership_role(&project.id, &viewer.id)
            .await
            .unwrap(),
        Some(Role::Member)
    );
    store.member_remove(&project.id, &viewer.id).await.unwrap();
    assert!(matches!(
        store.member_remove(&project.id, &viewer.id).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(store.owner_count(&project.id).await.unwrap(), 1);
});

// Two owners removing each other at once (or demoting each other) cannot leave their
// project without an owner: the change and the owner count share one transaction.
both!(
    owner_removal_cannot_race_to_zero_owners,
    |store: Store| async move {
        for round in 0..10 {
            let (a, project) = store
                .user_create_with_project(&format!("a{round}@example.com"), "hash", false, false)
                .await
                .unwrap();
            let (b, _) = store
                .user_create_with_project(&format!("b{round}@example.com"), "hash", false, false)
                .await
                .unwrap();
            store
                .member_upsert(&project.id, &b.id, Role::Owner)
                .await
                .unwrap();
            let (ra, rb) = if round % 2 == 0 {
                tokio::join!(
                    store.member_remove(&project.id, &a.id),
                    store.member_remove(&project.id, &b.id)
                )
            } else {
                tokio::join!(
                    store.member_upsert(&project.id, &a.id, Role::Viewer),
                    store.member_upsert(&project.id, &b.id, Role::Member)
                )
            };
            assert!(ra.is_ok() != rb.is_ok(), "one of the two: {ra:?} {rb:?}");
            assert!(
                matches!(ra.err().or(rb.err()), Some(Error::Conflict(_))),
                "the other is refused"
            );
            assert_eq!(store.owner_count(&project.id).await.unwrap(), 1);
        }
    }
);

both!(
    sessions_expire_and_audit_filters,
    |store: Store| async move {
        assert!(store.session_insert("s1", "{}", 2_000).await.unwrap());
        assert!(
            !store.session_insert("s1", "{}", 2_000).await.unwrap(),
            "id collision must be reported"
        );
        store.session_save("s1", "{\"a\":1}", 3_000).await.unwrap();
        assert_eq!(
            store.session_load("s1", 1_000).await.unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(store.session_load("s1", 3_000).await.unwrap(), None);
        assert_eq!(store.session_delete_expired(3_000).await.unwrap(), 1);

        for (i, outcome) in [Outcome::Success, Outcome::Failure, Outcome::Denied]
            .into_iter()
            .enumerate()
        {
            store
                .audit_insert(&NewAudit {
                    actor_id: None,
                    actor_email: &format!("u{i}@example.com"),
                    project_id: Some("p1"),
                    action: "test.action",
                    object: "thing",
                    outcome,
                    client_addr: "::1",
                    detail: "",
                })
                .await
                .unwrap();
        }
        let f = |actor: Option<&str>, outcome: Option<&str>| AuditFilter {
            actor_email: actor.map(String::from),
            outcome: outcome.map(String::from),
            project_id: Some("p1".into()),
            limit: 50,
            ..Default::default()
        };
        assert_eq!(store.audit_list(&f(None, None)).await.unwrap().len(), 3);
        assert_eq!(
            store
                .audit_list(&f(Some("u1@example.com"), None))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store.audit_list(&f(None, Some("denied"))).await.unwrap()[0].actor_email,
            "u2@example.com"
        );
    }
);
