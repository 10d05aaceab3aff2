//! The one way out of localcloud. Every connection it opens (a listener forwarding to a
//! member, a health monitor probing one, anything added later) goes through
//! [`connect`], and [`check`] alone decides whether an address may be dialled: it must
//! be an IPv4 loopback address inside one of this cloud's own subnets, which are
//! themselves on loopback ([`crate::addresses`]). The VIPs, the host's own services
//! (`127.0.0.1:5432`, …) and every address of the machine's real networks are refused,
//! so a member or a monitor can never reach past the cloud, even from old saved state.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::addresses::{Cidr, HOST_OWN, LOOPBACK};
use crate::Cloud;

/// Why an address may not be dialled, in words for an API answer or a log line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} is not on loopback ({LOOPBACK}): localcloud never connects outside this machine")]
    NotLoopback(IpAddr),
    #[error("{0} is in none of this cloud's subnets: localcloud connects only to its own servers' addresses")]
    NotInSubnet(IpAddr),
    #[error("{0} belongs to this machine's own services ({HOST_OWN}), not to the cloud")]
    HostOwn(IpAddr),
    #[error("port 0 cannot be connected to")]
    PortZero,
}

/// Whether `addr` may be dialled, given this cloud's subnets.
pub fn check<'a>(
    subnets: impl IntoIterator<Item = &'a Cidr>,
    addr: SocketAddr,
) -> Result<(), Refused> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if LOOPBACK.contains(ip) => ip,
        other => return Err(Refused::NotLoopback(other)),
    };
    if HOST_OWN.contains(ip) {
        return Err(Refused::HostOwn(addr.ip()));
    }
    if addr.port() == 0 {
        return Err(Refused::PortZero);
    }
    if subnets
        .into_iter()
        .any(|s| s.within(&LOOPBACK) && s.contains(ip))
    {
        Ok(())
    } else {
        Err(Refused::NotInSubnet(addr.ip()))
    }
}

/// Connects to `addr` if [`check`] allows it against the cloud's subnets now, within
/// `timeout`. A refusal is a `PermissionDenied` error and no packet is sent.
pub async fn connect(cloud: &Cloud, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    cloud
        .network
        .may_dial(addr)
        .map_err(|r| io::Error::new(io::ErrorKind::PermissionDenied, r))?;
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnets() -> Vec<Cidr> {
        vec![
            Cidr::parse("127.10.0.0/16").unwrap(),
            Cidr::parse("127.150.3.0/24").unwrap(),
        ]
    }

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn members_in_the_clouds_subnets_may_be_dialled() {
        for ok in ["127.10.0.2:6443", "127.10.255.254:30000", "127.150.3.9:80"] {
            assert_eq!(check(&subnets(), at(ok)), Ok(()), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        let s = subnets();
        for (addr, want) in [
            ("10.0.0.5:6443", Refused::NotLoopback(at("10.0.0.5:1").ip())),
            (
                "192.168.1.1:80",
                Refused::NotLoopback(at("192.168.1.1:1").ip()),
            ),
            (
                "172.16.0.1:80",
                Refused::NotLoopback(at("172.16.0.1:1").ip()),
            ),
            ("8.8.8.8:53", Refused::NotLoopback(at("8.8.8.8:1").ip())),
            ("0.0.0.0:80", Refused::NotLoopback(at("0.0.0.0:1").ip())),
            ("[::1]:80", Refused::NotLoopback(at("[::1]:1").ip())),
            ("127.0.0.1:5432", Refused::HostOwn(at("127.0.0.1:1").ip())),
            (
                "127.0.100.5:6443",
                Refused::HostOwn(at("127.0.100.5:1").ip()),
            ),
            (
                "127.200.7.5:6443",
                Refused::NotInSubnet(at("127.200.7.5:1").ip()),
            ),
            (
                "127.150.4.1:80",
                Refused::NotInSubnet(at("127.150.4.1:1").ip()),
            ),
            ("127.10.0.2:0", Refused::PortZero),
        ] {
            assert_eq!(check(&s, at(addr)), Err(want), "{addr}");
        }
    }

    #[test]
    fn a_subnet_off_loopback_in_state_opens_nothing() {
        // Saved state from an older localcloud: its subnet is refused at start, and
        // even if it were ever held, its addresses are still never dialled.
        let old = [Cidr::parse("10.0.0.0/16").unwrap()];
        assert!(matches!(
            check(&old, at("10.0.0.5:6443")),
            Err(Refused::NotLoopback(_))
        ));
        let everything = [Cidr::parse("0.0.0.0/0").unwrap()];
        assert!(check(&everything, at("127.0.0.1:5432")).is_err());
        assert!(check(&everything, at("192.168.0.1:22")).is_err());
        let all_loopback = [Cidr::parse("127.0.0.0/8").unwrap()];
        assert_eq!(
            check(&all_loopback, at("127.0.0.1:5432")),
            Err(Refused::HostOwn(at("127.0.0.1:1").ip()))
        );
    }
}
