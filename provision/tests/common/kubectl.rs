//! Real kubectl against a cluster Shipyard made: the releases to run, one call, and
//! a call repeated until its answer is what the test waits for.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The newest kubectl on this machine, and Debian's 1.20 when `make test-tools` has
/// unpacked it.
pub fn kubectls() -> Vec<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let mut found: Vec<PathBuf> = [
        format!("{home}/.cache/shipyard/debian-kubectl/usr/bin/kubectl"),
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.33".to_string(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .filter(|p| p.exists())
    .collect();
    if found.len() < 2 {
        found.push(PathBuf::from("kubectl"));
    }
    found
}

pub fn kubectl(bin: &Path, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(config)
        .arg("--request-timeout=5s")
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", config.parent().unwrap())
        .output()
        .expect("kubectl runs (make test-tools installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `args` until `done` holds on its output (or the time is up); the last output.
pub async fn until(
    bin: &Path,
    config: &Path,
    args: &[&str],
    secs: u64,
    done: impl Fn(bool, &str) -> bool,
) -> (bool, String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let r = kubectl(bin, config, args);
        if done(r.0, &r.1) || std::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
