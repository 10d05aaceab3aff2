//! The clusters of the current project: the list (search, status filter, pages), the
//! create form with its plan, a cluster's page with live progress, its services and
//! volumes, its node groups, and its deletion. One module per page or pair of pages.

mod create;
mod detail;
mod list;
mod node_groups;
mod workloads;

pub use create::NewClusterPage;
pub use detail::{ClusterPage, DeleteClusterPage};
pub use list::ClustersPage;
pub use node_groups::{AddNodeGroupPage, NodeGroupPage};
pub use workloads::WorkloadsPage;
