//! How many live streams (server-sent events) are open, per user and in all: each holds
//! a connection and polls the database, so both are capped. A stream holds a
//! [`StreamPermit`] for as long as it lives; dropping it (the stream ended or the
//! client went away) gives its place back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use provision::Error;

/// Streams one user may keep open at once (a few tabs on cluster pages).
pub const PER_USER: usize = 8;
/// Streams open at once in all.
pub const TOTAL: usize = 1024;

#[derive(Debug)]
pub struct LiveStreams {
    per_user_max: usize,
    total_max: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_user: HashMap<String, usize>,
}

impl LiveStreams {
    pub fn new(per_user_max: usize, total_max: usize) -> Arc<Self> {
        Arc::new(LiveStreams {
            per_user_max: per_user_max.max(1),
            total_max: total_max.max(1),
            open: Mutex::default(),
        })
    }

    /// A place for one more stream of `user_id`, or 429 with what to do.
    pub fn open(self: &Arc<Self>, user_id: &str) -> Result<StreamPermit, Error> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.by_user.get(user_id).copied().unwrap_or(0);
        if mine >= self.per_user_max {
            return Err(Error::Throttled {
                message: format!(
                    "You have {mine} live views open (at most {}); close some tabs and reload.",
                    self.per_user_max
                ),
                retry_after_secs: 10,
            });
        }
        if open.total >= self.total_max {
            return Err(Error::Throttled {
                message: "Too many live views are open on this server; try again shortly.".into(),
                retry_after_secs: 10,
            });
        }
        open.total += 1;
        *open.by_user.entry(user_id.to_string()).or_default() += 1;
        Ok(StreamPermit {
            streams: self.clone(),
            user_id: user_id.to_string(),
        })
    }

    /// Streams open now: (of `user_id`, in all).
    pub fn count(&self, user_id: &str) -> (usize, usize) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        (open.by_user.get(user_id).copied().unwrap_or(0), open.total)
    }
}

/// One open stream's place; given back on drop.
#[derive(Debug)]
pub struct StreamPermit {
    streams: Arc<LiveStreams>,
    user_id: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_user.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                open.by_user.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_per_user_and_in_all_and_given_back_on_drop() {
        let streams = LiveStreams::new(2, 3);
        let a1 = streams.open("a").unwrap();
        let _a2 = streams.open("a").unwrap();
        assert!(matches!(streams.open("a"), Err(Error::Throttled { .. })));
        let _b1 = streams.open("b").unwrap();
        let full = streams.open("c").unwrap_err();
        assert!(full.to_string().contains("this server"), "{full}");
        assert_eq!(streams.count("a"), (2, 3));
        drop(a1);
        assert_eq!(streams.count("a"), (1, 2));
        let _c1 = streams.open("c").unwrap();
        assert_eq!(streams.count("c"), (1, 3));
    }
}
