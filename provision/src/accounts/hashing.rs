//! The threads that run argon2, a fixed few, so a burst of sign-ups or sign-ins queues
//! instead of holding memory for each at once.

use crate::{Error, Result};

/// At most this many argon2 computations run at once (each holds 19 MiB for tens of
/// milliseconds); the rest wait their turn. Without a bound, a burst of sign-ups or
/// sign-ins ran one per blocking thread: up to 512 at once, about 9.5 GiB.
type HashJob = Box<dyn FnOnce() + Send>;

/// The threads that run argon2: [`max_hashing`] of them, started on first use, each
/// taking the next job from one queue. A fixed set (not the blocking pool) bounds memory
/// too: every thread that ever hashed keeps its allocator arena, so a burst spread over
/// many blocking threads kept hundreds of MiB after the work was done.
fn hashers() -> &'static std::sync::mpsc::Sender<HashJob> {
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::Sender<HashJob>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..max_hashing(cpus) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("start an argon2 thread");
        }
        tx
    })
}

/// As many hashes at once as there are CPUs (more would only queue on them), 2 to 16.
fn max_hashing(cpus: usize) -> usize {
    cpus.clamp(2, 16)
}

/// Runs one argon2 computation on the [`hashers`]; waits its turn behind the others.
pub(super) async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        // A caller that went away (its request dropped) while queued costs nothing.
        if !done.is_closed() {
            let _ = done.send(work());
        }
    });
    hashers().send(job).map_err(Error::internal)?;
    result.await.map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn as_many_hashes_as_cpus_within_bounds() {
        assert_eq!(super::max_hashing(1), 2);
        assert_eq!(super::max_hashing(8), 8);
        assert_eq!(super::max_hashing(128), 16);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_hashes_waits_for_a_hashing_thread() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let burst: Vec<_> = (0..16)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(super::hashing(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in burst {
            task.await.unwrap().unwrap();
        }
        let permits =
            super::max_hashing(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let most = most.load(Ordering::SeqCst);
        assert!(most <= permits, "{most} ran at once, {permits} allowed");
        assert!(
            most >= 2,
            "they still run side by side: {most} of {permits}"
        );
    }
}
