//! What a cluster's status can be, and what each allows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A cluster's status: stored, answered by the REST API and shown by the console in
/// these words (`CREATING`, `ACTIVE`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterStatus {
    /// Its create operation runs.
    Creating,
    /// Made and idle: every change may start.
    Active,
    /// A change runs (node groups, CA rotation); the API still serves.
    Updating,
    /// Its delete operation runs.
    Deleting,
    /// The create failed and was undone; only delete is left.
    Failed,
    /// Gone (kept as a record).
    Deleted,
}

impl ClusterStatus {
    /// Every status a live cluster can have, in the order a list offers them.
    pub const LIVE: [ClusterStatus; 5] = [
        ClusterStatus::Creating,
        ClusterStatus::Active,
        ClusterStatus::Updating,
        ClusterStatus::Deleting,
        ClusterStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Creating => "CREATING",
            ClusterStatus::Active => "ACTIVE",
            ClusterStatus::Updating => "UPDATING",
            ClusterStatus::Deleting => "DELETING",
            ClusterStatus::Failed => "FAILED",
            ClusterStatus::Deleted => "DELETED",
        }
    }

    /// The status these words name (as stored), any case.
    pub fn parse(s: &str) -> Option<ClusterStatus> {
        Self::LIVE
            .into_iter()
            .chain([ClusterStatus::Deleted])
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether its Kubernetes API serves (and kubeconfigs are issued): made, and not
    /// being deleted.
    pub fn serves_api(self) -> bool {
        matches!(self, ClusterStatus::Active | ClusterStatus::Updating)
    }

    /// Whether a change (scale, node groups, services, CA rotation) may start now.
    pub fn accepts_changes(self) -> bool {
        self == ClusterStatus::Active
    }

    /// Whether the console shows it as healthy, failed, or busy.
    pub fn tone(self) -> Tone {
        match self {
            ClusterStatus::Active => Tone::Good,
            ClusterStatus::Failed => Tone::Bad,
            _ => Tone::Busy,
        }
    }
}

/// How a status reads at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Busy,
}

impl fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClusterStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ClusterStatus::parse(s).ok_or_else(|| format!("'{s}' is not a cluster status"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in ClusterStatus::LIVE
            .into_iter()
            .chain([ClusterStatus::Deleted])
        {
            assert_eq!(ClusterStatus::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<ClusterStatus>(&json).unwrap(), s);
        }
        assert_eq!(ClusterStatus::parse("active"), Some(ClusterStatus::Active));
        assert_eq!(ClusterStatus::parse("RUNNING"), None);
    }
}
