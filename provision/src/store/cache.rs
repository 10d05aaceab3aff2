//! The session and user reads kept in memory on SQLite, and how a write forgets them:
//! apart from the queries, which only take a guard or read through it.

use super::UserWithProjects;
use crate::Result;

/// The two reads every signed-in request makes before its own — the session record and
/// the user with their projects — kept in memory on SQLite. A SQLite database belongs to
/// one process (replicas share PostgreSQL, which is always read), and every write to
/// `sessions`, `users`, `projects` and `memberships` goes through this `Store`, which
/// forgets what it kept when it writes them: a write takes a [`Forget`] guard that, when
/// the write is over (committed, failed or dropped), bumps the table's generation and
/// drops what is kept. A read keeps what it read only if no write ended while it ran (the
/// generation it saw before reading is still current), so a read that raced a write
/// never keeps the older row. A disabled user or a signed-out session is therefore seen
/// by the next request, as without the cache.
#[derive(Debug, Default)]
pub(super) struct HotCache {
    pub(super) sessions: Kept<String, (String, i64)>,
    pub(super) users: Kept<String, UserWithProjects>,
}

/// At most this many entries of each kind; a full map starts again empty.
const HOT_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub(super) struct Kept<K, V> {
    generation: std::sync::atomic::AtomicU64,
    map: std::sync::Mutex<std::collections::HashMap<K, V>>,
}

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Kept {
            generation: Default::default(),
            map: Default::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Kept<K, V> {
    pub(super) fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<K, V>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(super) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map().get(key).cloned()
    }

    /// What is kept for `key` when `on`, or else what `read` reads (kept when `on`, unless
    /// a write ended while it read).
    pub(super) async fn through<Fut>(&self, on: bool, key: &str, read: Fut) -> Result<Option<V>>
    where
        K: std::borrow::Borrow<str> + for<'k> From<&'k str>,
        Fut: std::future::Future<Output = Result<Option<V>>>,
    {
        if on {
            if let Some(found) = self.get(key) {
                return Ok(Some(found));
            }
        }
        let seen = self.generation();
        let found = read.await?;
        if let (true, Some(found)) = (on, &found) {
            self.keep(seen, K::from(key), found.clone());
        }
        Ok(found)
    }

    /// Keeps `value`, read while the generation was `seen`, unless a write has ended since.
    pub(super) fn keep(&self, seen: u64, key: K, value: V) {
        let mut map = self.map();
        if self.generation() != seen {
            return;
        }
        if map.len() >= HOT_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }

    /// A write is under way: what is kept is forgotten when the guard drops.
    pub(super) fn forget(&self) -> Forget<'_, K, V> {
        Forget(self)
    }
}

/// Held by a write to the cached tables; see [`HotCache`].
pub(super) struct Forget<'a, K: std::hash::Hash + Eq, V>(&'a Kept<K, V>);

impl<K: std::hash::Hash + Eq, V> Drop for Forget<'_, K, V> {
    fn drop(&mut self) {
        let mut map = self.0.map.lock().unwrap_or_else(|e| e.into_inner());
        self.0
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        map.clear();
    }
}
