//! localcloud's address plan: every address it hands out lies on loopback, so that a
//! process standing in for a server can bind the server's address, and nothing
//! localcloud connects to is ever outside this machine.
//!
//! - `127.0.0.0/16` belongs to the host's own services (`127.0.0.1`, systemd-resolved's
//!   `127.0.0.53`, Debian's `127.0.1.1`): never a subnet, so never a pool member.
//! - Load balancer VIPs come from the VIP range (default `127.0.100.0/22`). localcloud
//!   only listens on them; a VIP is never a member.
//! - The shared `private` network's subnet (default [`DEFAULT_SUBNET`]) and every subnet
//!   made through Neutron lie in `127.0.0.0/8`, outside both of the above.
//!
//! Linux routes all of `127.0.0.0/8` to `lo`, so any of these addresses can be bound
//! without configuring anything.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// All of loopback: the only range localcloud's subnets may come from.
pub const LOOPBACK: Cidr = Cidr {
    addr: Ipv4Addr::new(127, 0, 0, 0),
    len: 8,
};
/// The host's own part of loopback, never handed out.
pub const HOST_OWN: Cidr = Cidr {
    addr: Ipv4Addr::new(127, 0, 0, 0),
    len: 16,
};
/// The shared private network's subnet unless configured otherwise.
pub const DEFAULT_SUBNET: &str = "127.10.0.0/16";

/// An IPv4 prefix, `addr/len` with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; host bits must be zero, as Neutron asks.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let invalid = || format!("Invalid input: '{s}' is not a valid IPv4 CIDR.");
        let (ip, len) = s.split_once('/').ok_or_else(invalid)?;
        let addr: Ipv4Addr = ip.parse().map_err(|_| invalid())?;
        let len: u8 = len.parse().map_err(|_| invalid())?;
        if len > 32 {
            return Err(invalid());
        }
        let c = Cidr { addr, len };
        if c.first() != u32::from(addr) {
            return Err(format!(
                "Invalid input: '{s}' isn't a recommended CIDR: it has host bits set (use {}/{len}).",
                Ipv4Addr::from(c.first())
            ));
        }
        Ok(c)
    }

    fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    pub fn first(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    pub fn last(&self) -> u32 {
        self.first() | !self.mask()
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.first()..=self.last()).contains(&u32::from(ip))
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// Lies wholly inside `outer`.
    pub fn within(&self, outer: &Cidr) -> bool {
        outer.first() <= self.first() && self.last() <= outer.last()
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.first()), self.len)
    }
}

/// Where this cloud's addresses come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The shared private network's subnet.
    pub subnet: Cidr,
    /// Load balancer VIPs.
    pub vips: Cidr,
}

impl Plan {
    /// Whether `cidr` may be a subnet of this cloud; the error names the allowed range.
    pub fn check_subnet(&self, cidr: &Cidr) -> Result<(), String> {
        if cidr.within(&LOOPBACK) && !cidr.overlaps(&HOST_OWN) && !cidr.overlaps(&self.vips) {
            return Ok(());
        }
        Err(format!(
            "{cidr} is outside this cloud's address range: localcloud runs on this machine's \
             loopback, so subnets must lie in {LOOPBACK}, outside {HOST_OWN} (the host's own \
             services) and outside the load balancer VIP range {}.",
            self.vips
        ))
    }

    /// The plan as configured: the subnet must be a valid subnet of it.
    pub fn new(subnet: Cidr, vips: Cidr) -> Result<Plan, String> {
        let plan = Plan { subnet, vips };
        if subnet.len > 30 {
            return Err(format!("the subnet {subnet} is too small (/30 or shorter)"));
        }
        plan.check_subnet(&subnet)?;
        Ok(plan)
    }
}

/// Parses a subnet for the private network (a flag's value): loopback, outside the
/// host's own /16.
pub fn parse_subnet(s: &str) -> Result<Cidr, String> {
    let c = Cidr::parse(s)?;
    if !c.within(&LOOPBACK) || c.overlaps(&HOST_OWN) || c.len > 30 {
        return Err(format!(
            "the subnet must lie in {LOOPBACK}, outside {HOST_OWN}, and be /30 or shorter"
        ));
    }
    Ok(c)
}

/// A /24 of loopback in 127.100.0.0–127.199.255.0 picked at random, for clouds in tests
/// (VIPs of [`crate::random_vip_range`] are in 127.200–127.249): servers of clouds
/// running at the same time then almost never share an address.
pub fn random_subnet() -> Cidr {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    Cidr {
        addr: Ipv4Addr::new(127, rng.gen_range(100..200), rng.gen(), 0),
        len: 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new(
            Cidr::parse(DEFAULT_SUBNET).unwrap(),
            Cidr::parse("127.0.100.0/22").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn subnets_stay_on_loopback_away_from_the_host_and_the_vips() {
        let p = plan();
        for ok in [
            "127.10.0.0/16",
            "127.1.0.0/16",
            "127.255.255.0/24",
            "127.128.0.0/9",
        ] {
            assert_eq!(p.check_subnet(&Cidr::parse(ok).unwrap()), Ok(()), "{ok}");
        }
        for refused in [
            "10.0.0.0/16",
            "192.168.1.0/24",
            "172.16.0.0/12",
            "8.8.8.0/24",
            "0.0.0.0/0",
            "126.0.0.0/7",
            "127.0.0.0/8",
            "127.0.0.0/24",
            "127.0.100.0/24",
            "127.0.0.0/15",
        ] {
            let e = p.check_subnet(&Cidr::parse(refused).unwrap()).unwrap_err();
            assert!(
                e.contains("127.0.0.0/8") && e.contains("127.0.100.0/22"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_plan_refuses_a_subnet_off_loopback_or_on_the_vips() {
        let vips = Cidr::parse("127.0.100.0/22").unwrap();
        assert!(Plan::new(Cidr::parse("10.0.0.0/16").unwrap(), vips).is_err());
        assert!(Plan::new(Cidr::parse("127.0.0.0/16").unwrap(), vips).is_err());
        let on_vips = Cidr::parse("127.200.0.0/24").unwrap();
        assert!(Plan::new(on_vips, on_vips).is_err());
        assert!(parse_subnet("10.0.0.0/16").is_err());
        assert!(parse_subnet("127.0.0.0/8").is_err());
        assert_eq!(parse_subnet("127.10.0.0/16"), Ok(plan().subnet));
    }

    #[test]
    fn random_test_subnets_are_valid_and_off_the_random_vips() {
        for _ in 0..200 {
            let s = random_subnet();
            let (vip, len) = crate::random_vip_range();
            let vips = Cidr { addr: vip, len };
            Plan::new(s, vips).unwrap();
        }
    }
}
