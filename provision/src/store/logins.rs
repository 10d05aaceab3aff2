//! The rows that throttle sign-in and sign-up: failed logins and signup attempts.

use sqlx::Row;

use super::{Backend, Store};
use crate::Result;

impl Store {
    pub async fn login_failure_record(
        &self,
        email: &str,
        client_addr: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO login_failures (email, client_addr, at) VALUES ($1, $2, $3)")
            .bind(email)
            .bind(client_addr)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Failures since `since` for this email and for this address, and the oldest of
    /// each (to compute Retry-After).
    pub async fn login_failure_window(
        &self,
        email: &str,
        client_addr: &str,
        since: i64,
    ) -> Result<[(i64, Option<i64>); 2]> {
        let mut out = [(0, None), (0, None)];
        for (i, (column, value)) in [("email", email), ("client_addr", client_addr)]
            .into_iter()
            .enumerate()
        {
            let row = sqlx::query(&format!(
                "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_failures WHERE {column} = $1 AND at > $2"
            ))
            .bind(value)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
            out[i] = (row.try_get("n")?, row.try_get("oldest")?);
        }
        Ok(out)
    }

    pub async fn login_failures_clear_email(&self, email: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn login_failures_prune(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a sign-up attempt from `client_addr` and answers how many there were
    /// since `since` up to this one (included) and the oldest of them. Attempts from one
    /// address take turns (SQLite: the insert takes the write lock first; PostgreSQL: a
    /// transaction lock on the address), so a parallel burst is counted exactly.
    pub async fn signup_attempt(
        &self,
        client_addr: &str,
        at: i64,
        since: i64,
    ) -> Result<(i64, Option<i64>)> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('signup:' || $1))::text AS l")
                .bind(client_addr)
                .fetch_one(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO signup_attempts (client_addr, at) VALUES ($1, $2)")
            .bind(client_addr)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM signup_attempts WHERE client_addr = $1 AND at > $2",
        )
        .bind(client_addr)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let counted = (row.try_get("n")?, row.try_get("oldest")?);
        tx.commit().await?;
        Ok(counted)
    }

    pub async fn signup_attempts_prune(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM signup_attempts WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
