//! An IPv4 range (`10.96.0.0/12`): the service network cluster IPs come from. Its own
//! module so the store can keep the cluster's range without depending on the service
//! registry ([`crate::services`]) that allocates from it.

use std::net::Ipv4Addr;

/// kube-apiserver's default `--service-cluster-ip-range`.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IPv4 CIDR (such as {DEFAULT_SERVICE_CIDR})");
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(format!("{s}: the prefix must be between /8 and /30"));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Cidr {
            base: u32::from(ip) & mask,
            prefix,
        })
    }

    /// How many addresses it has (network and broadcast included).
    pub fn size(&self) -> u32 {
        1 << (32 - self.prefix)
    }

    /// The `n`th address of the range.
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + n)
    }

    /// Where `ip` is in the range, if it is in it.
    pub fn offset(&self, ip: &str) -> Option<u32> {
        let ip: Ipv4Addr = ip.parse().ok()?;
        let n = u32::from(ip).wrapping_sub(self.base);
        (n < self.size()).then_some(n)
    }
}

impl Default for Cidr {
    fn default() -> Self {
        Cidr::parse(DEFAULT_SERVICE_CIDR).unwrap_or(Cidr {
            base: 0x0a60_0000,
            prefix: 12,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_read_as_written() {
        let c = super::Cidr::default();
        assert_eq!(c.to_string(), "10.96.0.0/12");
        assert_eq!(c.size(), 1 << 20);
        assert_eq!(c.offset("10.96.1.2"), Some(258));
        assert_eq!(c.offset("10.112.0.0"), None);
        assert_eq!(c.nth(10).to_string(), "10.96.0.10");
        assert!(super::Cidr::parse("10.96.0.0").is_err());
    }
}
