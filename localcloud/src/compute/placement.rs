//! Placement: which host a new server goes to. Best fit by the scarcer resource, with
//! server-group (anti-)affinity. Pure, so it is tested on its own.

/// A host's capacity and what is already placed on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUsage {
    pub name: String,
    pub vcpus: u64,
    pub ram_mib: u64,
    pub vcpus_used: u64,
    pub ram_used_mib: u64,
}

/// The placement rule of a server group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    Affinity,
    AntiAffinity,
    SoftAffinity,
    SoftAntiAffinity,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "affinity" => Policy::Affinity,
            "anti-affinity" => Policy::AntiAffinity,
            "soft-affinity" => Policy::SoftAffinity,
            "soft-anti-affinity" => Policy::SoftAntiAffinity,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Affinity => "affinity",
            Policy::AntiAffinity => "anti-affinity",
            Policy::SoftAffinity => "soft-affinity",
            Policy::SoftAntiAffinity => "soft-anti-affinity",
        }
    }
}

/// The group constraint for one placement: the policy and the hosts of the group's
/// other members (one entry per member).
pub struct GroupConstraint<'a> {
    pub policy: Policy,
    pub member_hosts: &'a [String],
}

/// Picks a host for `vcpus`/`ram_mib`, or `None` ("No valid host was found").
///
/// Among hosts with room, the one left with the smallest free share of its scarcer
/// resource wins (best fit: big holes stay open for big servers); ties go to the host
/// name. Hard policies filter hosts; soft ones prefer, then fall back.
pub fn place(
    hosts: &[HostUsage],
    vcpus: u64,
    ram_mib: u64,
    group: Option<&GroupConstraint<'_>>,
) -> Option<String> {
    let fits = |h: &&HostUsage| {
        h.vcpus.saturating_sub(h.vcpus_used) >= vcpus
            && h.ram_mib.saturating_sub(h.ram_used_mib) >= ram_mib
    };
    let members_on = |h: &HostUsage| {
        group.map_or(0, |g| {
            g.member_hosts.iter().filter(|m| **m == h.name).count()
        })
    };
    let best = |candidates: Vec<&HostUsage>| {
        candidates
            .into_iter()
            .min_by(|a, b| {
                score(a, vcpus, ram_mib)
                    .total_cmp(&score(b, vcpus, ram_mib))
                    .then_with(|| a.name.cmp(&b.name))
            })
            .map(|h| h.name.clone())
    };
    let room: Vec<&HostUsage> = hosts.iter().filter(fits).collect();
    let Some(g) = group else { return best(room) };
    let first_member = g.member_hosts.is_empty();
    match g.policy {
        Policy::AntiAffinity => best(room.into_iter().filter(|h| members_on(h) == 0).collect()),
        Policy::Affinity if first_member => best(room),
        Policy::Affinity => best(room.into_iter().filter(|h| members_on(h) > 0).collect()),
        Policy::SoftAntiAffinity => {
            let fewest = room.iter().map(|h| members_on(h)).min()?;
            best(
                room.into_iter()
                    .filter(|h| members_on(h) == fewest)
                    .collect(),
            )
        }
        Policy::SoftAffinity => {
            let most = room.iter().map(|h| members_on(h)).max()?;
            best(room.into_iter().filter(|h| members_on(h) == most).collect())
        }
    }
}

/// The free share of the scarcer resource after placing: lower is a tighter fit.
fn score(h: &HostUsage, vcpus: u64, ram_mib: u64) -> f64 {
    let cpu = (h.vcpus - h.vcpus_used - vcpus) as f64 / h.vcpus.max(1) as f64;
    let ram = (h.ram_mib - h.ram_used_mib - ram_mib) as f64 / h.ram_mib.max(1) as f64;
    cpu.min(ram)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, vcpus_used: u64, ram_used_mib: u64) -> HostUsage {
        HostUsage {
            name: name.into(),
            vcpus: 32,
            ram_mib: 131_072,
            vcpus_used,
            ram_used_mib,
        }
    }

    #[test]
    fn best_fit_by_the_scarcer_resource() {
        // h2 is fuller on RAM, its scarcer resource: the tightest fit.
        let hosts = [
            host("h1", 4, 8192),
            host("h2", 4, 100_000),
            host("h3", 16, 8192),
        ];
        assert_eq!(place(&hosts, 2, 4096, None).as_deref(), Some("h2"));
        // Nothing fits a 40-vCPU server.
        assert_eq!(place(&hosts, 40, 1024, None), None);
        // A full host is skipped.
        let hosts = [host("h1", 32, 0), host("h2", 0, 0)];
        assert_eq!(place(&hosts, 1, 1024, None).as_deref(), Some("h2"));
    }

    #[test]
    fn anti_affinity_spreads_and_refuses_when_it_cannot() {
        let hosts = [host("h1", 0, 0), host("h2", 0, 0), host("h3", 0, 0)];
        let mut members: Vec<String> = Vec::new();
        for _ in 0..3 {
            let g = GroupConstraint {
                policy: Policy::AntiAffinity,
                member_hosts: &members,
            };
            let h = place(&hosts, 4, 8192, Some(&g)).expect("a host");
            assert!(!members.contains(&h));
            members.push(h);
        }
        let g = GroupConstraint {
            policy: Policy::AntiAffinity,
            member_hosts: &members,
        };
        assert_eq!(
            place(&hosts, 4, 8192, Some(&g)),
            None,
            "a 4th master has no host of its own"
        );
        // Soft anti-affinity falls back to the least-shared host.
        let g = GroupConstraint {
            policy: Policy::SoftAntiAffinity,
            member_hosts: &members,
        };
        assert!(place(&hosts, 4, 8192, Some(&g)).is_some());
    }

    #[test]
    fn affinity_keeps_members_together() {
        let hosts = [host("h1", 0, 0), host("h2", 10, 0)];
        let members = vec!["h1".to_string()];
        let g = GroupConstraint {
            policy: Policy::Affinity,
            member_hosts: &members,
        };
        assert_eq!(place(&hosts, 1, 512, Some(&g)).as_deref(), Some("h1"));
        assert_eq!(Policy::parse("anti-affinity"), Some(Policy::AntiAffinity));
        assert_eq!(Policy::parse("spread"), None);
    }
}
