//! Clusters and node groups: what a user asks for ([`spec`]), what a change would do
//! ([`plan`]), the core's rules for each change ([`lifecycle`], [`node_groups`]), what
//! the pages show ([`views`]) and the operations that make it real in the cloud (one
//! saga per file: [`create`], [`delete`], [`node_group_sagas`], [`repair`],
//! [`repair_master`], [`rotate`], sharing
//! [`saga`]). How they are stored is in [`crate::store`].

pub mod access;
pub mod autoscaling;
pub mod bootstrap;
mod cluster_steps;
mod create;
mod delete;
pub mod flavors;
pub mod kube_status;
mod lifecycle;
mod node_group_sagas;
mod node_groups;
mod outputs;
pub mod plan;
pub mod repair;
pub mod repair_master;
pub mod rotate;
pub mod saga;
mod saga_shared;
pub(crate) mod spec;
pub mod versions;
mod views;
pub mod workloads;

pub use crate::store::{Cluster, ClusterFilter, ClusterSummary, NodeGroup};
pub use autoscaling::{node_group_autoscale, Autoscaling, RESIZE_REFUSED};
pub use lifecycle::{
    cluster_for, create, delete, kubeconfig, prepare, rotate_ca, search_in, Started,
};
pub use node_groups::{
    node_group_create, node_group_create_plan, node_group_delete, node_group_delete_plan, scale,
    scale_change, scale_plan, ScaleChange,
};
pub use spec::{
    check_dns_label, ApiEndpoint, ClusterSpec, NodeGroupChange, NodeGroupSpec, MAX_NODES,
};
pub use views::{
    groups, view, workloads, ClusterView, LoadBalancerView, NodeView, VolumeView, WorkloadsView,
};
