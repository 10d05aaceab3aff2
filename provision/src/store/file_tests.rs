//! The database file a new SQLite store makes is private to its owner.

use std::os::unix::fs::PermissionsExt;

/// A new SQLite database and the directories made for it are its owner's alone.
#[tokio::test]
async fn a_new_sqlite_database_is_private() {
    let root = std::env::temp_dir().join(format!("shipyard-private-{}", crate::new_id()));
    let db = root.join("data/shipyard.db");
    let store = super::Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&root.join("data")), 0o700);
    assert_eq!(mode(&root), 0o700);
    let wal = root.join("data/shipyard.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(root);
}
