//! The ids of the core's things, one type each, so that a node group's id cannot be
//! passed where a cluster's is asked for. Each is the text the store and the URLs
//! carry (serialized as a bare string); it reads as `&str` wherever text is enough.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as the store and the URLs write it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A project's id (clusters, quotas and members belong to a project).
    ProjectId
);
id_type!(
    /// A cluster's id.
    ClusterId
);
id_type!(
    /// A node group's id, unique within its cluster.
    NodeGroupId
);
id_type!(
    /// An operation's id (a create, a delete, a scale: one saga run).
    OperationId
);
id_type!(
    /// A plan's id: a digest of what the plan would do, so that applying "the plan I
    /// read" can be checked against the plan as it is now.
    PlanId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_text_on_the_wire_and_in_reading() {
        let id = ClusterId::from("c-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"c-1\"");
        let back: ClusterId = serde_json::from_str("\"c-1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(id.len(), 3, "reads as &str");
        assert_eq!(id.to_string(), "c-1");
        assert!(id == "c-1");
    }
}
