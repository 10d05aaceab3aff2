//! Clusters end to end through the engine, the OpenStack driver and an in-process
//! localcloud, on SQLite and PostgreSQL: a create reaches ACTIVE with masters spread
//! over hosts, etcd volumes attached and the API load balancer; a create that cannot be
//! placed unwinds to an empty inventory; a delete leaves nothing of the cluster in the
//! cloud; with 20 % injected errors both still converge; bad input and other projects
//! are refused.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod lifecycle;
mod node_groups;
mod quotas;
mod sagas;
mod search;
mod workloads;
