//! What the REST API answers: one typed view per body, serialized as JSON and described
//! in the OpenAPI document (`utoipa::ToSchema`) from the same types, so the document
//! cannot drift from the answers. Where a domain type is already the answer (a cluster,
//! a token, a project's quota) it is used as it is.

use provision::clusters::workloads::{PersistentVolume, Service};
use provision::clusters::{Cluster, NodeGroup};
use provision::ops::{OpState, OperationRow, StepState};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// An error: what went wrong in words, whether retrying may help, and the form field
/// when there is one.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorView,
}

/// The errors any route may answer, in the one [`ErrorBody`] shape.
#[derive(utoipa::IntoResponses)]
pub enum ApiErrors {
    /// Invalid input: nothing was changed.
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// No valid token or session.
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// Your role or token does not allow this.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Not found, or not visible to you.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Conflicts with the current state (another operation runs, the plan changed, …).
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// Too many requests; retry after Retry-After seconds.
    #[response(status = 429)]
    Throttled(ErrorBody),
}

#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    /// invalid, unauthenticated, forbidden, not_found, conflict, throttled, internal.
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OperationError {
    pub message: String,
    pub retryable: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OperationView {
    pub id: String,
    /// cluster.create, cluster.delete, nodegroup.scale, …
    pub kind: String,
    pub target_id: String,
    pub state: OpState,
    pub progress: Progress,
    pub error: Option<OperationError>,
    pub requested_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// In the admins' list of every project's operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

impl From<&OperationRow> for OperationView {
    fn from(o: &OperationRow) -> Self {
        OperationView {
            id: o.id.clone(),
            kind: o.kind.clone(),
            target_id: o.target_id.clone(),
            state: o.state,
            progress: Progress {
                done: o.steps_done,
                total: o.steps_total,
            },
            error: o.error.as_ref().map(|m| OperationError {
                message: m.clone(),
                retryable: o.retryable.unwrap_or(false),
            }),
            requested_by: o.requested_by.clone(),
            created_at: o.created_at,
            finished_at: o.finished_at,
            project_id: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NodeGroupView {
    pub id: String,
    pub name: String,
    pub flavor: String,
    pub node_count: i64,
    pub min_node_count: i64,
    pub max_node_count: i64,
    pub boot_volume_gib: i64,
    /// Kubernetes labels of its nodes.
    #[schema(value_type = Object)]
    pub labels: Value,
    /// Taints of its nodes (`key=value:Effect`).
    #[schema(value_type = Vec<String>)]
    pub taints: Value,
    /// Whether the autoscaler keeps it between its minimum and maximum (a manual
    /// resize is refused while it does).
    pub autoscale: bool,
}

impl From<&NodeGroup> for NodeGroupView {
    fn from(n: &NodeGroup) -> Self {
        NodeGroupView {
            id: n.id.clone(),
            name: n.name.clone(),
            flavor: n.flavor.clone(),
            node_count: n.node_count,
            min_node_count: n.min_node_count,
            max_node_count: n.max_node_count,
            boot_volume_gib: n.boot_volume_gib,
            labels: serde_json::from_str(&n.labels)
                .unwrap_or_else(|_| Value::Object(Default::default())),
            taints: serde_json::from_str(&n.taints).unwrap_or_else(|_| Value::Array(Vec::new())),
            autoscale: n.autoscale,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClusterList {
    pub clusters: Vec<Cluster>,
}

/// A cluster with its node groups and its operations, newest first.
#[derive(Serialize, ToSchema)]
pub struct ClusterDetail {
    #[serde(flatten)]
    pub cluster: Cluster,
    pub node_groups: Vec<NodeGroupView>,
    pub operations: Vec<OperationView>,
}

#[derive(Serialize, ToSchema)]
pub struct ClusterShown {
    pub cluster: ClusterDetail,
}

/// An accepted change to a cluster: the cluster as it is now and the operation that
/// carries the change out.
#[derive(Serialize, ToSchema)]
pub struct ClusterStarted {
    pub cluster: Cluster,
    pub operation: OperationView,
}

/// A plan: the resources a change would make or remove, the quota and capacity it
/// needs, its expected duration, and `plan_id` (pass it back to apply exactly this).
#[derive(Serialize, ToSchema)]
pub struct PlanBody {
    pub plan: provision::clusters::plan::Plan,
}

#[derive(Serialize, ToSchema)]
pub struct OperationStarted {
    pub operation: OperationView,
}

#[derive(Serialize, ToSchema)]
pub struct NodeGroupList {
    pub node_groups: Vec<NodeGroupView>,
}

#[derive(Serialize, ToSchema)]
pub struct NodeGroupShown {
    pub node_group: NodeGroupView,
}

/// A node group and the operation changing it (`null` when only its bounds changed).
#[derive(Serialize, ToSchema)]
pub struct NodeGroupChanged {
    pub node_group: NodeGroupView,
    pub operation: Option<OperationView>,
}

#[derive(Serialize, ToSchema)]
pub struct KubeconfigView {
    /// The kubeconfig itself.
    pub yaml: String,
    /// Its client certificate's serial number.
    pub serial: String,
    /// RFC 3339.
    pub expires_at: String,
    pub file_name: String,
    pub ca_generation: i64,
}

#[derive(Serialize, ToSchema)]
pub struct KubeconfigIssued {
    pub kubeconfig: KubeconfigView,
}

/// A kubeconfig file as YAML (what `application/yaml` answers carry).
#[derive(Serialize, ToSchema)]
pub struct KubeconfigFile {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(rename = "current-context")]
    pub current_context: String,
    #[schema(value_type = Vec<Object>)]
    pub clusters: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub users: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub contexts: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct CaRotation {
    pub generation: i64,
    /// RFC 3339.
    pub not_after: String,
    pub retired_generation: Option<i64>,
    pub invalidated_kubeconfigs: i64,
    pub message: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct CaRotated {
    pub ca: CaRotation,
    /// Rebuilds the cluster's servers with certificates of the new CA.
    pub operation: OperationView,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<Service>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceStarted {
    /// PENDING: the Service is in the cluster; its load balancer follows.
    pub service: Service,
}

#[derive(Serialize, ToSchema)]
pub struct VolumeList {
    pub volumes: Vec<PersistentVolume>,
}

#[derive(Serialize, ToSchema)]
pub struct VolumeStarted {
    /// PENDING: the claim is in the cluster; its volume follows.
    pub volume: PersistentVolume,
}

/// A Service or claim being deleted: its cloud side goes first, then the object.
#[derive(Serialize, ToSchema)]
pub struct Deleting {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    pub key: String,
    pub state: StepState,
    pub attempts: i64,
    pub error: Option<String>,
    /// What the step made (ids of cloud resources), once done.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub at: i64,
    pub step: Option<String>,
    pub event: String,
    pub detail: String,
}

impl From<provision::ops::StepRow> for StepView {
    fn from(s: provision::ops::StepRow) -> Self {
        StepView {
            key: s.step,
            state: s.state,
            attempts: s.attempts,
            error: s.error,
            output: s.output,
            started_at: s.started_at,
            finished_at: s.finished_at,
        }
    }
}

impl From<provision::ops::EventRow> for EventView {
    fn from(e: provision::ops::EventRow) -> Self {
        EventView {
            at: e.at,
            step: e.step,
            event: e.event,
            detail: e.detail,
        }
    }
}

/// An operation with its steps and its events.
#[derive(Serialize, ToSchema)]
pub struct OperationDetail {
    #[serde(flatten)]
    pub operation: OperationView,
    pub steps: Vec<StepView>,
    pub events: Vec<EventView>,
}

#[derive(Serialize, ToSchema)]
pub struct OperationShown {
    pub operation: OperationDetail,
}

#[derive(Serialize, ToSchema)]
pub struct OperationList {
    pub operations: Vec<OperationView>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<provision::clusters::versions::KubeVersion>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionShown {
    pub version: provision::clusters::versions::KubeVersion,
}

#[derive(Serialize, ToSchema)]
pub struct FlavorList {
    pub flavors: Vec<provision::clusters::flavors::FlavorOffer>,
}

#[derive(Serialize, ToSchema)]
pub struct FlavorShown {
    pub flavor: provision::clusters::flavors::FlavorOffer,
}

#[derive(Serialize, ToSchema)]
pub struct QuotaList {
    pub projects: Vec<provision::admin::ProjectQuota>,
}

#[derive(Serialize, ToSchema)]
pub struct QuotaSet {
    pub project_id: String,
    pub quota: provision::quotas::Quota,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: i64,
    pub actor_email: String,
    pub project_id: Option<String>,
    pub action: String,
    pub object: String,
    /// success, failure or denied.
    pub outcome: String,
    pub client_addr: String,
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditView>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<provision::tokens::ApiToken>,
}

#[derive(Serialize, ToSchema)]
pub struct NewTokenView {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub read_only: bool,
    /// Shown only in this answer.
    pub secret: String,
    pub note: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    pub token: NewTokenView,
}
