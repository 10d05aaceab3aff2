//! What the kubectl tests share: a cluster CA and certificates (CN the user, each O a
//! group), kubeconfigs, the kubectl releases to run (Debian's 1.20 and a current one),
//! and an API server started on loopback.

#![allow(dead_code)]

pub mod app;

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// (cert, key) PEM signed by `ca`: CN `cn`, an O for each of `orgs`.
pub fn leaf(ca: &Ca, cn: &str, orgs: &[&str], server: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    // rcgen keeps one value per attribute type: a second O goes in under its OID.
    assert!(orgs.len() <= 2, "two groups at most");
    for (i, o) in orgs.iter().enumerate() {
        let ty = match i {
            0 => DnType::OrganizationName,
            _ => DnType::CustomDnType(vec![2, 5, 4, 10]),
        };
        dn.push(ty, *o);
    }
    p.distinguished_name = dn;
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    if server {
        p.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    } else {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A kubeconfig `dir/kubeconfig-<name>` for `server` with the client certificate
/// `(cert, key)`.
pub fn kubeconfig(
    dir: &Path,
    name: &str,
    server: &str,
    ca_pem: &str,
    (cert, key): &(String, String),
) -> PathBuf {
    let file = dir.join(format!("kubeconfig-{name}"));
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: https://{server}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: u\ncurrent-context: sim\n",
            b64(ca_pem),
            b64(cert),
            b64(key)
        ),
    )
    .unwrap();
    file
}

/// Where `make test-tools` unpacks Debian's kubectl (1.20): `$DEBIAN_KUBECTL` (which the
/// Makefile exports), else its default under `~/.cache/shipyard`.
pub fn debian_kubectl() -> PathBuf {
    let root = std::env::var("DEBIAN_KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(&std::env::var("HOME").unwrap_or_default())
                .join(".cache/shipyard/debian-kubectl")
        });
    root.join("usr/bin/kubectl")
}

/// The kubectl releases to test with: Debian's 1.20 (where `make test-tools` unpacked
/// it) and the newest current one (the Cloud SDK's 1.33, else kubectl on PATH), each
/// once. Fails when there is none.
pub fn kubectls() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let debian = debian_kubectl();
    if debian.is_file() {
        found.push(debian);
    } else {
        eprintln!(
            "no Debian kubectl 1.20 at {} (`make test-tools` unpacks it): testing the current kubectl alone",
            debian.display()
        );
    }
    let sdk = PathBuf::from("/usr/lib/google-cloud-sdk/bin/kubectl.1.33");
    let on_path = || {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(|d| Path::new(d).join("kubectl"))
            .find(|p| p.is_file())
    };
    if sdk.is_file() {
        found.push(sdk);
    } else if let Some(k) = on_path() {
        found.push(k);
    }
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or(p.clone())));
    assert!(
        !found.is_empty(),
        "no kubectl found (`make test-tools` installs one)"
    );
    found
}

/// kubectl's minor version (20 for 1.20.2).
pub fn minor(kubectl: &Path) -> u32 {
    let out = Command::new(kubectl)
        .args(["version", "--client", "-o", "json"])
        .output()
        .expect("kubectl runs");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{kubectl:?} version: {e}"));
    v["clientVersion"]["minor"]
        .as_str()
        .and_then(|m| m.trim_end_matches('+').parse().ok())
        .unwrap_or_else(|| panic!("{kubectl:?} version: {v}"))
}

/// kubectl with `config` and `args`: (succeeded, stdout, stderr).
pub fn run(kubectl: &Path, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(config)
        .arg("--request-timeout=20s")
        .arg(
            std::env::var("KUBESIM_TEST_V")
                .map(|v| format!("-v={v}"))
                .unwrap_or("-v=0".into()),
        )
        .args(args)
        .env("HOME", config.parent().unwrap())
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An API server of `cluster_ca` with its store under `dir` (the same `dir`: the same
/// objects), and the kubeconfig of an operator in `system:masters`.
pub async fn started(dir: &Path, cluster_ca: &Ca) -> (kubesim::Running, PathBuf) {
    let serving = leaf(cluster_ca, "kube-apiserver", &[], true);
    let running = kubesim::start(kubesim::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_pem: serving.0,
        key_pem: serving.1,
        ca_pem: cluster_ca.pem.clone(),
        kubernetes_version: "v1.31.12".into(),
        advertise: "127.0.0.1:6443".into(),
        store_file: Some(dir.join("objects.json")),
    })
    .await
    .unwrap();
    let admin = user(
        dir,
        &running,
        cluster_ca,
        "kim@example.com",
        &["system:masters"],
    );
    (running, admin)
}

/// The kubeconfig of user `cn` in `groups`, for `running`.
pub fn user(
    dir: &Path,
    running: &kubesim::Running,
    cluster_ca: &Ca,
    cn: &str,
    groups: &[&str],
) -> PathBuf {
    kubeconfig(
        dir,
        cn,
        &running.addr.to_string(),
        &cluster_ca.pem,
        &leaf(cluster_ca, cn, groups, false),
    )
}

/// A fresh directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kubesim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `check` (bounded) until it holds; panics with `what` otherwise.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("never happened: {what}");
}
