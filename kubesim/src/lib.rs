//! The Kubernetes API of a localcloud cluster. No kube-apiserver, kubelet or container
//! runtime runs on these machines, so this crate answers real clients (kubectl, the
//! Python client) the way kube-apiserver does for the part of the API a managed
//! cluster's users need, over mTLS with the cluster's CA. It is honest: nodes say they
//! are simulated, and nothing claims to run a container.
//!
//! The request path: [`server`] accepts TLS connections (a client certificate of the
//! cluster's CA is required; its CN and O are the caller's user and groups), routes each
//! request to [`discovery`] or [`resources`] (the kinds of [`kinds`], changed by
//! [`patch`]), which read and write the [`store`]; [`table`] draws the `kubectl get`
//! columns; [`status`] is the error shape.

pub mod controllers;
pub mod discovery;
pub mod kinds;
pub mod kubelet;
pub mod patch;
pub mod quantity;
pub mod resources;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

pub use server::{start, Config, Running};
