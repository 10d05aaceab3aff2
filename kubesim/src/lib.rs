//! The Kubernetes API of a localcloud cluster. No kube-apiserver, kubelet or container
//! runtime runs on these machines, so this crate answers real clients (kubectl, the
//! Python client) the way kube-apiserver does for the part of the API a managed
//! cluster's users need, over mTLS with the cluster's CA. It is honest: nodes say they
//! are simulated, and nothing claims to run a container.
//!
//! The request path: [`server`] accepts TLS connections (a client certificate of the
//! cluster's CA is required; its CN and O are the caller's user and groups), routes each
//! request to [`discovery`], [`lists`], [`resources`] or [`subresources`] (the kinds of
//! [`kinds`], changed by [`patch`]), which read and write the [`store`] (kept on disk by
//! [`journal`]; [`finalizers`] hold deleted objects). A write passes [`admission`] under
//! the store's lock: [`services`] (cluster IPs from a [`cidr`], node ports) and
//! [`claims`] (default StorageClass, claim immutability and resize).
//! [`table`] and [`table_storage`] draw the `kubectl get` columns ([`columns`]); [`status`]
//! is the error shape. Before any handler, [`authz`] authorizes the
//! request with [`rbac`] (the store's roles and bindings; [`policy`] makes the default
//! ones); [`reviews`] answer what callers ask about themselves, read from JSON or
//! [`protobuf`]. Beside the requests, [`controllers`] run the cluster's control loop
//! (with [`volumes`], the PersistentVolume binder and protection controllers).

pub mod admission;
pub mod authz;
pub mod bootstrap;
pub mod cidr;
pub mod claims;
pub mod columns;
pub mod controllers;
pub mod discovery;
pub mod finalizers;
pub mod journal;
pub mod key;
pub mod kinds;
pub mod kubelet;
pub mod lists;
pub mod meta;
pub mod node_agent;
pub mod node_lifecycle;
pub mod patch;
pub mod policy;
pub mod protobuf;
pub mod protobuf_messages;
pub mod quantity;
pub mod rbac;
pub mod resources;
pub mod reviews;
pub mod server;
pub mod services;
pub mod stamps;
pub mod state;
pub mod status;
pub mod store;
pub mod subresources;
pub mod table;
pub mod table_storage;
pub mod tls;
pub mod volumes;
pub mod watch;

pub use server::{start, Config, Running};
