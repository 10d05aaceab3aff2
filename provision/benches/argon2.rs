//! What a burst of 500 sign-ups costs in memory: argon2id hashes all started at once,
//! unbounded (each on its own blocking thread, as before the bound) against
//! `provision::accounts::hash_password` (a fixed set of hashing threads, as many as CPUs). Each side
//! runs in a child process of its own so that its peak RSS (VmHWM) is its own. Prints a
//! Markdown section for docs/BENCHMARKS.md.

use std::process::Command;
use std::time::Instant;

const BURST: usize = 500;
const MODE: &str = "ARGON2_BURST_MODE";

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The hash as before the bound: argon2id at the same parameters, straight onto the
/// blocking pool.
async fn unbounded(password: String) {
    use argon2::password_hash::{PasswordHasher, SaltString};
    tokio::task::spawn_blocking(move || {
        let params = argon2::Params::new(19_456, 2, 1, None).unwrap();
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        a.hash_password(password.as_bytes(), &salt).unwrap();
    })
    .await
    .unwrap();
}

fn child(mode: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        let burst: Vec<_> = (0..BURST)
            .map(|i| {
                let password = format!("password number {i} of the burst");
                let bounded = mode == "bounded";
                tokio::spawn(async move {
                    if bounded {
                        provision::accounts::hash_password(&password).await.unwrap();
                    } else {
                        unbounded(password).await;
                    }
                })
            })
            .collect();
        for t in burst {
            t.await.unwrap();
        }
    });
    println!("{} {}", peak_rss_kib(), start.elapsed().as_millis());
}

fn run(mode: &str) -> (u64, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(MODE, mode)
        .output()
        .expect("the bench runs itself");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn main() {
    if let Ok(mode) = std::env::var(MODE) {
        return child(&mode);
    }
    let (before_kib, before_ms) = run("unbounded");
    let (after_kib, after_ms) = run("bounded");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("## {BURST} sign-ups at once: argon2 memory\n");
    println!(
        "{BURST} argon2id hashes (19 MiB, t = 2) started together, each side in a process of \
         its own; peak RSS is the process's VmHWM. Bounded: a fixed set of hashing threads, as many as CPUs \
         ({cpus} here). Script: `cargo bench -p provision --bench argon2`.\n"
    );
    println!("| what | peak RSS | wall time |\n| --- | ---: | ---: |");
    println!(
        "| unbounded (one per blocking thread, before) | {:.0} MiB | {before_ms} ms |",
        before_kib as f64 / 1024.0
    );
    println!(
        "| bounded (`hash_password`, after) | {:.0} MiB | {after_ms} ms |",
        after_kib as f64 / 1024.0
    );
    println!(
        "| **after / before** | **{:.1} %** | {:.0} % |",
        100.0 * after_kib as f64 / before_kib.max(1) as f64,
        100.0 * after_ms as f64 / before_ms.max(1) as f64
    );
}
