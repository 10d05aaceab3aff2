//! The SQLite connections kept apart for the reads every page makes, lent and taken
//! back without the pool's ping: apart from the queries that use them.

use super::{Backend, Store};
use crate::{Error, Result};

/// SQLite connections kept for the reads every page makes (the session, the user, the
/// clusters list: [`Store::reader`]). A connection lent by the pool costs, besides its
/// query, a ping when it goes back (sqlx pings every returned connection, a round trip
/// to the connection's worker thread) and a task to put it back; these are lent and
/// taken back in place. At most `READERS` at once; a reader dropped before it was
/// handed back (its request went away mid-query) is closed, not reused.
pub(super) struct Readers {
    pub(super) permits: tokio::sync::Semaphore,
    pub(super) idle: std::sync::Mutex<Vec<sqlx::AnyConnection>>,
}

pub(super) const READERS: usize = 4;

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

/// A connection for one read (see [`Store::reader`]); give it back with [`Reader::done`].
pub(crate) struct Reader<'a> {
    conn: ReaderConn,
    readers: &'a Readers,
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

enum ReaderConn {
    Kept(sqlx::AnyConnection),
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Reader<'_> {
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        match &mut self.conn {
            ReaderConn::Kept(c) => c,
            ReaderConn::Pooled(c) => c,
        }
    }

    /// The read went through: the connection can serve the next one (the permit goes
    /// back after it is kept).
    pub(crate) fn done(self) {
        let Reader {
            conn,
            readers,
            _permit,
        } = self;
        if let ReaderConn::Kept(c) = conn {
            readers
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(c);
        }
    }
}

impl Store {
    /// A connection for one of the reads every page makes. On SQLite one of the kept
    /// readers ([`Readers`]); on PostgreSQL, whose server can drop a connection, one from
    /// the pool as usual.
    pub(crate) async fn reader(&self) -> Result<Reader<'_>> {
        if self.backend == Backend::Postgres {
            return Ok(Reader {
                conn: ReaderConn::Pooled(self.pool.acquire().await?),
                readers: &self.readers,
                _permit: None,
            });
        }
        let permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| Error::internal("the database readers are closed"))?;
        let kept = self
            .readers
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match kept {
            Some(c) => c,
            // Opened through the pool (its settings, `after_connect`), then kept apart.
            None => self.pool.acquire().await?.detach(),
        };
        Ok(Reader {
            conn: ReaderConn::Kept(conn),
            readers: &self.readers,
            _permit: Some(permit),
        })
    }
}
