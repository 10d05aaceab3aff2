//! The client's address, for throttling and the audit log (behind trusted proxies
//! too).

use leptos::prelude::*;

use super::state;

/// The client's address, for throttling and the audit log ([`super::address_of`]
/// on this request).
pub async fn client_addr() -> String {
    let hops = state().map(|s| s.config.forwarded_hops).unwrap_or(0);
    use_context::<http::request::Parts>()
        .map_or_else(|| "unknown".to_string(), |p| super::address_of(&p, hops))
}

/// The client's address: with `hops` trusted proxies in front, the X-Forwarded-For
/// entry `hops` places from the right (each proxy appends the address it saw, so what
/// stands left of that is whatever the client sent); else the connection's peer. A
/// list shorter than `hops` was all appended by trusted proxies: its first entry.
pub fn client_address(
    peer: Option<std::net::IpAddr>,
    forwarded_for: Option<&str>,
    hops: usize,
) -> String {
    let peer = || peer.map_or_else(|| "unknown".to_string(), |p| p.to_string());
    if hops == 0 {
        return peer();
    }
    let Some(list) = forwarded_for else {
        return peer();
    };
    let entries: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let Some(chosen) = entries
        .len()
        .checked_sub(hops)
        .map_or(entries.first(), |i| entries.get(i))
    else {
        return peer();
    };
    match chosen.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => peer(),
    }
}

#[cfg(test)]
mod client_address_tests {
    use super::client_address;

    #[test]
    fn the_trusted_proxy_decides_not_the_client() {
        let peer = Some("127.0.0.1".parse().unwrap());
        // No trust: the peer, whatever the header says.
        assert_eq!(client_address(peer, Some("6.6.6.6"), 0), "127.0.0.1");
        // One proxy: the entry it appended (the last), not the client's claim before it.
        assert_eq!(
            client_address(peer, Some("6.6.6.6, 203.0.113.7"), 1),
            "203.0.113.7"
        );
        assert_eq!(client_address(peer, Some("203.0.113.7"), 1), "203.0.113.7");
        // Two proxies: the second from the right.
        assert_eq!(
            client_address(peer, Some("6.6.6.6, 203.0.113.7, 10.0.0.2"), 2),
            "203.0.113.7"
        );
        assert_eq!(client_address(peer, Some("203.0.113.7"), 2), "203.0.113.7");
        // Nothing usable: the peer.
        assert_eq!(client_address(peer, None, 1), "127.0.0.1");
        assert_eq!(client_address(peer, Some(" , "), 1), "127.0.0.1");
        assert_eq!(client_address(peer, Some("not-an-ip"), 1), "127.0.0.1");
        assert_eq!(client_address(None, None, 0), "unknown");
    }
}
