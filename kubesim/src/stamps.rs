//! What the store stamps on objects and the simulation writes into them: uids, the
//! random suffixes of generated names, and times as Kubernetes writes them (and ages as
//! kubectl shows them).

/// `n` random characters for a generated name (as Kubernetes': no vowels, no
/// look-alikes).
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut b = vec![0u8; n];
    rand_fill(&mut b);
    b.iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect()
}

/// A random RFC 4122 version 4 uid.
pub(crate) fn new_uid() -> String {
    let mut b = [0u8; 16];
    rand_fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn rand_fill(b: &mut [u8]) {
    let _ = rustls::crypto::ring::default_provider()
        .secure_random
        .fill(b);
}

/// Now, as Kubernetes writes times (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Now, as a `MicroTime` (a Lease's `renewTime`): RFC 3339 with microseconds, UTC.
pub fn now_micros_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.microsecond();
    now.replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .map(|s| s.replace('Z', &format!(".{micros:06}Z")))
        .unwrap_or_default()
}

/// A time Kubernetes wrote (RFC 3339, any precision), as seconds since the epoch.
pub fn parse_time(s: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// The object's age as kubectl shows it (`45s`, `5m12s`, `3h`, `2d`).
pub fn age(o: &serde_json::Value) -> String {
    let Some(created) = o["metadata"]["creationTimestamp"].as_str().and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    }) else {
        return "<unknown>".into();
    };
    human(
        (time::OffsetDateTime::now_utc() - created)
            .whole_seconds()
            .max(0),
    )
}

/// kube's `duration.HumanDuration`, in whole seconds.
pub fn human(s: i64) -> String {
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => match s % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        },
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => match m % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        },
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 => match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        },
        _ if d < 365 * 2 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_as_kubectl_prints_them() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (312, "5m12s"),
            (600, "10m"),
            (7_260, "121m"),
            (11_100, "3h5m"),
            (90_000, "25h"),
            (266_400, "3d2h"),
            (864_000, "10d"),
        ] {
            assert_eq!(super::human(s), want, "{s}");
        }
    }
}
