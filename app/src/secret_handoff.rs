//! A new API token's secret, handed from the form that made it to the page that shows
//! it, in this process's memory only: it is never written to the session record or
//! anywhere else. The page after the redirect takes it with the token's id from its
//! address, within a few seconds and for the same session; any other page of that
//! session drops it. (Behind several replicas without sticky sessions the redirect may
//! land elsewhere and show no secret; the REST API answers the secret in its body.)

use std::collections::HashMap;
use std::sync::Mutex;

/// How long a secret waits for its page.
const WAIT_MS: i64 = 60_000;
/// How long the page may show it once it first has (the page may fetch its data more
/// than once while it settles).
const SHOWN_MS: i64 = 10_000;
/// At most this many secrets wait at once (the oldest goes first).
const MAX_WAITING: usize = 10_000;

struct Waiting {
    token_id: String,
    secret: String,
    left_at: i64,
    first_shown: Option<i64>,
}

/// Secrets waiting for their page, one per session at most.
#[derive(Default)]
pub struct SecretHandoff {
    waiting: Mutex<HashMap<String, Waiting>>,
}

impl SecretHandoff {
    /// Leaves a token's secret for the session's next page.
    pub fn leave(&self, session: &str, token_id: &str, secret: String, now: i64) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.retain(|_, w| now - w.left_at < WAIT_MS);
        if waiting.len() >= MAX_WAITING {
            if let Some(oldest) = waiting
                .iter()
                .min_by_key(|(_, w)| w.left_at)
                .map(|(k, _)| k.clone())
            {
                waiting.remove(&oldest);
            }
        }
        waiting.insert(
            session.to_string(),
            Waiting {
                token_id: token_id.to_string(),
                secret,
                left_at: now,
                first_shown: None,
            },
        );
    }

    /// The secret of `shown` (the token id the page was sent to), if the session left
    /// it and its time is not up; a page asking for another id drops it.
    pub fn take(&self, session: &str, shown: &str, now: i64) -> Option<String> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let w = waiting.get_mut(session)?;
        let in_time = now - w.left_at < WAIT_MS && w.first_shown.is_none_or(|t| now - t < SHOWN_MS);
        if w.token_id != shown || !in_time {
            waiting.remove(session);
            return None;
        }
        w.first_shown.get_or_insert(now);
        Some(w.secret.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_reaches_its_page_only_for_a_while() {
        let h = SecretHandoff::default();
        h.leave("s1", "t1", "sy_secret".into(), 0);
        // Another session, or another token's page, gets nothing.
        assert_eq!(h.take("s2", "t1", 1), None);
        assert_eq!(h.take("s1", "t1", 1).as_deref(), Some("sy_secret"));
        // Shown again while the page settles, then gone.
        assert_eq!(h.take("s1", "t1", 5_000).as_deref(), Some("sy_secret"));
        assert_eq!(h.take("s1", "t1", 11_000), None);
        assert_eq!(h.take("s1", "t1", 11_001), None);
    }

    #[test]
    fn any_other_page_drops_it() {
        let h = SecretHandoff::default();
        h.leave("s1", "t1", "sy_secret".into(), 0);
        assert_eq!(h.take("s1", "", 1), None);
        assert_eq!(h.take("s1", "t1", 2), None);
    }

    #[test]
    fn an_unclaimed_secret_does_not_wait_forever() {
        let h = SecretHandoff::default();
        h.leave("s1", "t1", "sy_a".into(), 0);
        assert_eq!(h.take("s1", "t1", WAIT_MS + 1), None);
        h.leave("s1", "t1", "sy_a".into(), 0);
        h.leave("s2", "t2", "sy_b".into(), WAIT_MS + 1);
        assert_eq!(h.waiting.lock().unwrap().len(), 1, "the stale one is swept");
    }
}
