//! Where an object lives in the store. Its own module so the store's file
//! ([`crate::journal`]) and its default objects ([`crate::policy`]) can name keys
//! without depending on the store that uses them.

use serde::{Deserialize, Serialize};

/// Where an object lives: its resource (plural, e.g. `nodes`), its namespace (empty for
/// cluster-scoped ones) and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: &str, namespace: Option<&str>, name: &str) -> Self {
        Key {
            resource: resource.to_string(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }
}
