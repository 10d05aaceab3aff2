//! Kubernetes quantities (`500m`, `2`, `128Mi`, `1G`) as whole millicores or bytes.

/// CPU as millicores: `500m` → 500, `2` → 2000, `0.5` → 500.
pub fn millicores(q: &str) -> Option<i64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().ok();
    }
    q.parse::<f64>().ok().map(|c| (c * 1000.0).round() as i64)
}

/// Memory as bytes: `128Mi`, `1Gi`, `1G`, `512Ki`, `1000`.
pub fn bytes(q: &str) -> Option<i64> {
    let q = q.trim();
    for (suffix, factor) in [
        ("Ki", 1i64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ] {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| (n * factor as f64) as i64);
        }
    }
    q.parse::<f64>().ok().map(|n| n as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        assert_eq!(super::millicores("500m"), Some(500));
        assert_eq!(super::millicores("2"), Some(2000));
        assert_eq!(super::millicores("0.25"), Some(250));
        assert_eq!(super::bytes("128Mi"), Some(128 << 20));
        assert_eq!(super::bytes("1G"), Some(1_000_000_000));
        assert_eq!(super::bytes("4096"), Some(4096));
        assert_eq!(super::millicores("lots"), None);
    }
}
