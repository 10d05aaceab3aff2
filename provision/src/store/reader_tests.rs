//! The kept SQLite readers and the in-memory session and user reads, tested against a
//! real database file.

use super::*;
use crate::domain::Role;
use crate::now_ms;

async fn sqlite() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("shipyard-readers-{}", crate::new_id()));
    let store = Store::connect(&format!("sqlite://{}/s.db", dir.display()))
        .await
        .unwrap();
    (store, dir)
}

fn idle(store: &Store) -> usize {
    store.readers.idle.lock().unwrap().len()
}

#[tokio::test]
async fn readers_are_kept_when_done_and_closed_when_dropped() {
    let (store, dir) = sqlite().await;
    let mut r = store.reader().await.unwrap();
    sqlx::query("SELECT 1").execute(r.conn()).await.unwrap();
    r.done();
    assert_eq!(idle(&store), 1);
    // The kept one serves the next read; a second at the same time gets its own.
    let a = store.reader().await.unwrap();
    let b = store.reader().await.unwrap();
    assert_eq!(idle(&store), 0);
    a.done();
    // A reader dropped without `done` (its read went away) is not kept.
    drop(b);
    assert_eq!(idle(&store), 1);
    // No more than READERS at once: the next waits for one to come back.
    let mut held = Vec::new();
    for _ in 0..READERS {
        held.push(store.reader().await.unwrap());
    }
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), store.reader());
    assert!(waiting.await.is_err(), "a reader beyond {READERS}");
    drop(held);
    store.close().await;
    assert!(store.reader().await.is_err(), "readers after close");
    let _ = std::fs::remove_dir_all(dir);
}

// What the store keeps of sessions and users (SQLite) is never older than the last
// write through it.
#[tokio::test]
async fn kept_sessions_and_users_follow_every_write() {
    let (store, dir) = sqlite().await;
    let (user, personal) = store
        .user_create_with_project("kim@example.com", "hash", false, false)
        .await
        .unwrap();
    let read = |store: Store, id: String| async move {
        store.user_with_projects(&id).await.unwrap().unwrap()
    };
    let (u, projects) = read(store.clone(), user.id.clone()).await;
    assert!(!u.disabled);
    assert_eq!(projects.len(), 1);
    assert_eq!(store.hot.users.map().len(), 1, "kept after the first read");

    store.user_set_disabled(&user.id, true).await.unwrap();
    assert!(read(store.clone(), user.id.clone()).await.0.disabled);
    store.user_set_admin(&user.id, true).await.unwrap();
    assert!(read(store.clone(), user.id.clone()).await.0.is_admin);
    store
        .user_set_password(&user.id, "other", true)
        .await
        .unwrap();
    assert_eq!(
        read(store.clone(), user.id.clone()).await.0.password_hash,
        "other"
    );
    let team = store.project_create("team", &user.id, None).await.unwrap();
    assert_eq!(read(store.clone(), user.id.clone()).await.1.len(), 2);
    store
        .project_update_description(&team.id, "ours")
        .await
        .unwrap();
    let (_, projects) = read(store.clone(), user.id.clone()).await;
    assert!(projects.iter().any(|p| p.project.description == "ours"));
    // A project keeps an owner: another one joins before kim leaves or steps down.
    let (lee, _) = store
        .user_create_with_project("lee@example.com", "hash", false, false)
        .await
        .unwrap();
    store
        .member_upsert(&team.id, &lee.id, Role::Owner)
        .await
        .unwrap();
    store
        .member_upsert(&personal.id, &lee.id, Role::Owner)
        .await
        .unwrap();
    store.member_remove(&team.id, &user.id).await.unwrap();
    assert_eq!(read(store.clone(), user.id.clone()).await.1.len(), 1);
    store
        .member_upsert(&personal.id, &user.id, Role::Viewer)
        .await
        .unwrap();
    assert_eq!(
        read(store.clone(), user.id.clone()).await.1[0].role,
        Role::Viewer
    );

    let now = now_ms();
    assert!(store
        .session_insert("s1", "one", now + 60_000)
        .await
        .unwrap());
    assert_eq!(
        store.session_load("s1", now).await.unwrap().as_deref(),
        Some("one")
    );
    store.session_save("s1", "two", now + 60_000).await.unwrap();
    assert_eq!(
        store.session_load("s1", now).await.unwrap().as_deref(),
        Some("two")
    );
    // Expiry is checked on every load, kept or not.
    assert_eq!(store.session_load("s1", now + 60_000).await.unwrap(), None);
    store.session_delete("s1").await.unwrap();
    assert_eq!(store.session_load("s1", now).await.unwrap(), None);
    store.session_save("s2", "x", now + 10).await.unwrap();
    assert!(store.session_load("s2", now).await.unwrap().is_some());
    store.session_delete_expired(now + 10).await.unwrap();
    assert_eq!(store.session_load("s2", now).await.unwrap(), None);

    // A read that started before a write ended does not keep what it read.
    let kept = &store.hot.users;
    let value = store
        .user_with_projects_read(&user.id)
        .await
        .unwrap()
        .unwrap();
    kept.map().clear();
    let seen = kept.generation();
    drop(kept.forget());
    kept.keep(seen, user.id.clone(), value.clone());
    assert!(kept.map().is_empty(), "a stale read was kept");
    kept.keep(kept.generation(), user.id.clone(), value);
    assert_eq!(kept.map().len(), 1);
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
