//! Wire types: what the browser receives. Secrets never appear here.

pub use model::{ClusterId, ClusterStatus, NodeGroupId, OperationId, PlanId, ProjectId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDto {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The caller's role: owner, member or viewer.
    pub role: String,
    pub personal: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: UserDto,
    pub projects: Vec<ProjectDto>,
    pub current: Option<ProjectDto>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDto {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub created_at: i64,
}

/// An open invitation to a project (see `provision::invitations`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationDto {
    pub project_id: String,
    pub project_name: String,
    pub email: String,
    pub role: String,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDetails {
    pub project: ProjectDto,
    pub members: Vec<MemberDto>,
    pub invitations: Vec<InvitationDto>,
    pub can_edit: bool,
    pub can_manage: bool,
}

/// The project page in one answer: the user's own open invitations and the current
/// project's details (none without a current project).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPageDto {
    pub mine: Vec<InvitationDto>,
    pub current: Option<ProjectDetails>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDto {
    pub id: i64,
    pub at: i64,
    pub actor_email: String,
    pub project_id: Option<String>,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub client_addr: String,
    pub detail: String,
}

/// The admin's users page: the sign-up policy and every account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUsers {
    pub signup_open: bool,
    /// How many projects a user may own.
    pub project_limit: i64,
    pub users: Vec<UserDto>,
}

/// The admin's audit page: the log filtered as asked, and the filter's choices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAudit {
    pub audit: Vec<AuditDto>,
    /// The filter the audit entries answer, as typed.
    pub audit_filter: AuditFilterDto,
    /// Why the filter was refused (the entries are then unfiltered).
    pub audit_error: Option<String>,
    /// Every action the log holds, for the filter's choice.
    pub audit_actions: Vec<String>,
    /// `(id, name)` of every project, for the filter's choice.
    pub projects: Vec<(String, String)>,
    /// Every account's email, offered as the actor.
    pub emails: Vec<String>,
}

/// The audit log's filter as the form holds it (empty: no filter).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilterDto {
    pub actor: String,
    pub project: String,
    pub action: String,
    pub outcome: String,
    pub since: String,
    pub until: String,
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM UTC` (no time-zone database needed).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(
            super::format_time(1_795_891_920_000),
            "2026-11-28 18:52 UTC"
        );
    }
}

/// A cluster in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRowDto {
    pub id: String,
    pub name: String,
    pub status: ClusterStatus,
    pub status_reason: Option<String>,
    pub version: String,
    pub masters: i64,
    pub nodes: i64,
    pub created_at: i64,
    pub created_by: String,
}

/// One page of the clusters list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPage {
    pub items: Vec<ClusterRowDto>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// The create form as typed (strings, so that any input comes back as it was typed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterForm {
    pub name: String,
    pub kubernetes_version: String,
    pub master_count: String,
    pub master_flavor: String,
    pub pod_cidr: String,
    pub service_cidr: String,
    pub api_endpoint: String,
    pub ng_name: String,
    pub ng_flavor: String,
    pub ng_count: String,
    pub ng_min: String,
    pub ng_max: String,
}

impl ClusterForm {
    /// The form's fields as `(name, value)`, in order (for hidden inputs and links).
    pub fn fields(&self) -> [(&'static str, &str); 12] {
        [
            ("name", &self.name),
            ("kubernetes_version", &self.kubernetes_version),
            ("master_count", &self.master_count),
            ("master_flavor", &self.master_flavor),
            ("pod_cidr", &self.pod_cidr),
            ("service_cidr", &self.service_cidr),
            ("api_endpoint", &self.api_endpoint),
            ("ng_name", &self.ng_name),
            ("ng_flavor", &self.ng_flavor),
            ("ng_count", &self.ng_count),
            ("ng_min", &self.ng_min),
            ("ng_max", &self.ng_max),
        ]
    }

    /// Blank fields take the defaults a console suggests.
    pub fn with_defaults(mut self, newest_version: &str) -> ClusterForm {
        let fill = |v: &mut String, d: &str| {
            if v.trim().is_empty() {
                *v = d.to_string();
            }
        };
        fill(&mut self.kubernetes_version, newest_version);
        fill(&mut self.master_count, "3");
        fill(&mut self.master_flavor, "m1.medium");
        fill(&mut self.pod_cidr, "10.244.0.0/16");
        fill(&mut self.service_cidr, "10.96.0.0/12");
        fill(&mut self.api_endpoint, "public");
        fill(&mut self.ng_name, "default-worker");
        fill(&mut self.ng_flavor, "m1.medium");
        fill(&mut self.ng_count, "2");
        fill(&mut self.ng_min, "1");
        fill(&mut self.ng_max, "5");
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorDto {
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    /// On offer for new clusters and node groups.
    pub enabled: bool,
}

/// What the create form offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOptions {
    pub versions: Vec<String>,
    pub flavors: Vec<FlavorDto>,
}

/// A plan as the console shows it. Its report comes drawn from the server, as HTML
/// ([`PlanReport`]; docs/DECISIONS.md: the hydrate bundle): the page itself needs only
/// what its button does with the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDto {
    pub plan_id: PlanId,
    /// Whether the cloud's hosts can take it (`None`: the cloud does not say).
    pub fits: Option<bool>,
    pub quota_fits: bool,
    /// The [`PlanReport`], drawn.
    pub html: String,
}

impl PlanDto {
    /// Whether the plan may be applied: within quota, and the cloud does not refuse it.
    pub fn can_apply(&self) -> bool {
        self.quota_fits && self.fits != Some(false)
    }
}

/// What a plan makes or removes, and what it leaves: what the server draws of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanReport {
    pub rows: Vec<PlanRow>,
    /// `(what, amount)` pairs: servers, vCPUs, RAM, volume GiB, load balancers.
    pub totals: Vec<(String, String)>,
    pub fits: Option<bool>,
    pub quota_fits: bool,
    /// `(what, left after the plan)`.
    pub quota_left: Vec<(String, i64)>,
    /// Whole seconds: the page shows no fractions.
    pub expected_seconds: u64,
    /// A plan that only removes (a cluster's deletion): the list alone.
    pub removal: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRow {
    pub action: String,
    pub kind: String,
    pub name: String,
    pub detail: String,
}

/// A cluster's record and node groups (the node group pages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterGroups {
    pub cluster: ClusterRowDto,
    pub node_groups: Vec<NodeGroupDto>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeGroupDto {
    pub name: String,
    pub flavor: String,
    pub node_count: i64,
    pub min_node_count: i64,
    pub max_node_count: i64,
    /// The autoscaler keeps it between its bounds (no manual resize meanwhile).
    pub autoscale: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDto {
    pub name: String,
    pub role: String,
    pub node_group: Option<String>,
    pub status: String,
    pub host: Option<String>,
    pub address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerDto {
    pub name: String,
    pub role: String,
    pub vip: Option<String>,
    pub status: String,
    pub operating_status: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeDto {
    pub name: String,
    pub role: String,
    pub size_gib: u64,
    pub status: String,
    pub attached_to: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationDto {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub done: i64,
    pub total: i64,
    /// The steps running now (for an unfinished operation).
    pub current: Vec<String>,
    pub error: Option<String>,
    pub retryable: bool,
    pub created_at: i64,
    pub finished: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDto {
    pub step: String,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDto {
    pub at: i64,
    pub step: Option<String>,
    pub event: String,
    pub detail: String,
}

/// One operation with its steps and events (its page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationDetail {
    pub operation: OperationDto,
    /// The cluster it works on.
    pub cluster_id: String,
    pub steps: Vec<StepDto>,
    /// The newest last.
    pub events: Vec<EventDto>,
    /// Whether the caller may retry or abort it.
    pub can_act: bool,
    pub is_admin: bool,
}

/// The cluster's page as the browser gets it: its body drawn on the server, from a
/// [`ClusterDetail`], as HTML (docs/DECISIONS.md: the hydrate bundle), and what the page
/// itself needs to follow an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPageDto {
    pub id: String,
    /// An operation of the cluster is under way: the page follows it.
    pub busy: bool,
    pub html: String,
}

/// Everything the cluster's page shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDetail {
    pub cluster: ClusterRowDto,
    pub api_address: Option<String>,
    pub api_endpoint: String,
    pub master_flavor: String,
    pub pod_cidr: String,
    pub service_cidr: String,
    pub node_groups: Vec<NodeGroupDto>,
    pub nodes: Vec<NodeDto>,
    pub load_balancers: Vec<LoadBalancerDto>,
    pub volumes: Vec<VolumeDto>,
    pub operations: Vec<OperationDto>,
    pub can_edit: bool,
    pub cloud_error: Option<String>,
    /// What the cluster's own API says (None before it has one).
    pub kubernetes: Option<KubeDto>,
}

/// The cluster as its Kubernetes API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeDto {
    pub reachable: bool,
    pub version: Option<String>,
    pub error: Option<String>,
    pub nodes: Vec<KubeNodeDto>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeNodeDto {
    pub name: String,
    /// The Ready condition: True, False or Unknown.
    pub ready: String,
    pub version: String,
    pub pods: u32,
    pub simulated: bool,
}

/// The "Services and volumes" page of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterWorkloads {
    pub id: String,
    pub name: String,
    pub status: ClusterStatus,
    pub status_reason: Option<String>,
    pub services: Vec<ServiceDto>,
    pub persistent_volumes: Vec<PersistentVolumeDto>,
    pub can_edit: bool,
    /// An operation of the cluster is under way: the page follows it.
    pub busy: bool,
    /// Why the lists show only what Shipyard made in the cloud (the cluster's API did
    /// not answer).
    pub api_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDto {
    pub name: String,
    /// `80→30000, 443→30001`
    pub ports: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub vip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentVolumeDto {
    pub name: String,
    pub size_gib: i64,
    pub status: String,
    pub status_reason: Option<String>,
}

impl ClusterDetail {
    /// Whether an operation is still under way (the page follows it).
    pub fn busy(&self) -> bool {
        self.operations.iter().any(|o| !o.finished)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDto {
    pub name: String,
    pub vcpus_used: u64,
    pub vcpus: u64,
    pub ram_used_mib: u64,
    pub ram_mib: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOperationDto {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub project_id: String,
    pub target_id: String,
    pub done: i64,
    pub total: i64,
    pub error: Option<String>,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDto {
    pub version: String,
    pub image: String,
    pub enabled: bool,
}

/// The admin's overview: every project at a glance and the cloud's own figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOverview {
    pub clusters_by_status: Vec<(String, i64)>,
    pub operations_24h: Vec<(String, i64)>,
    pub hosts: Vec<HostDto>,
    pub load_balancers: usize,
    pub volumes: usize,
    pub volume_gib: u64,
    pub cloud_error: Option<String>,
    /// Operations running, failed or stuck, newest first.
    pub operations: Vec<AdminOperationDto>,
}

/// What the console offers: Kubernetes versions and the cloud's flavors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOffer {
    pub versions: Vec<VersionDto>,
    /// Every flavor of the cloud, with whether it is on offer.
    pub flavors: Vec<FlavorDto>,
    /// Why the cloud's flavors could not be read.
    pub cloud_error: Option<String>,
}

/// Limits, or what is used against them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaDto {
    pub clusters: i64,
    pub vcpus: i64,
    pub ram_mib: i64,
    pub volume_gib: i64,
    pub load_balancers: i64,
}

impl QuotaDto {
    /// `(form field, label, value)` for each limit.
    pub fn items(&self) -> [(&'static str, &'static str, i64); 5] {
        [
            ("clusters", "Clusters", self.clusters),
            ("vcpus", "vCPUs", self.vcpus),
            ("ram_mib", "RAM (MiB)", self.ram_mib),
            ("volume_gib", "Volumes (GiB)", self.volume_gib),
            ("load_balancers", "Load balancers", self.load_balancers),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectQuotaDto {
    pub project_id: String,
    pub name: String,
    /// Whose personal project it is, if it is one.
    pub personal_of: Option<String>,
    pub quota: QuotaDto,
    pub usage: QuotaDto,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDto {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// `None`: it never expires.
    pub expires_at: Option<i64>,
    pub expired: bool,
    pub read_only: bool,
}

/// The user's API tokens, and the secret of the one just made (shown this once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensView {
    pub tokens: Vec<TokenDto>,
    pub new_secret: Option<String>,
    /// A new token's lifetime unless another is picked.
    pub default_lifetime_days: u32,
}
