//! How to reach an OpenStack cloud: credentials and tuning, from the usual `OS_*`
//! environment variables or a `clouds.yaml`, as the `openstack` CLI reads them, so an
//! operator configures Shipyard the way they already configure their tools.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{CloudError, ErrorKind};

/// Bounded exponential backoff with jitter for retryable errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1 = never retry).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0-based): doubling, capped, and jittered
    /// into its upper half so that many clients do not retry in step.
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_backoff);
        let jitter: f64 = rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..=1.0);
        full.mul_f64(jitter)
    }
}

/// Credentials and tuning. `Debug` leaves the password out, so a config can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenStackConfig {
    /// Keystone, e.g. `https://keystone.example.com/v3` (a missing `/v3` is added).
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    /// Scopes by id instead of name when set (some clouds hand out only the id).
    pub project_id: Option<String>,
    pub user_domain_name: String,
    pub project_domain_name: String,
    pub region: Option<String>,
    /// Limit on each HTTP request.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// A token is renewed when less than this is left (or half its lifetime, when shorter).
    pub token_refresh_margin: Duration,
    /// Items asked for per page when listing servers and volumes.
    pub page_size: usize,
}

impl std::fmt::Debug for OpenStackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStackConfig")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("project_name", &self.project_name)
            .field("project_id", &self.project_id)
            .field("user_domain_name", &self.user_domain_name)
            .field("project_domain_name", &self.project_domain_name)
            .field("region", &self.region)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("token_refresh_margin", &self.token_refresh_margin)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl OpenStackConfig {
    /// Credentials with default tuning (30 s requests, 5 tries, renew 2 min early).
    pub fn new(
        auth_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
        project_name: impl Into<String>,
    ) -> Self {
        OpenStackConfig {
            auth_url: auth_url.into(),
            username: username.into(),
            password: password.into(),
            project_name: project_name.into(),
            project_id: None,
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            region: None,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            token_refresh_margin: Duration::from_secs(120),
            page_size: 500,
        }
    }

    /// `OS_AUTH_URL`, `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME` (or
    /// `OS_PROJECT_ID`), `OS_USER_DOMAIN_NAME`, `OS_PROJECT_DOMAIN_NAME` (both default
    /// to `Default`), `OS_REGION_NAME`.
    pub fn from_env() -> Result<Self, CloudError> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, CloudError> {
        let need = |k: &str| {
            var(k).ok_or_else(|| config_error(format!("{k} is not set in the environment")))
        };
        let auth_url = need("OS_AUTH_URL")?;
        let project_id = var("OS_PROJECT_ID").or_else(|| var("OS_TENANT_ID"));
        let project_name = match var("OS_PROJECT_NAME").or_else(|| var("OS_TENANT_NAME")) {
            Some(n) => n,
            None if project_id.is_some() => String::new(),
            None => need("OS_PROJECT_NAME")?,
        };
        let mut c = Self::new(
            auth_url,
            need("OS_USERNAME")?,
            need("OS_PASSWORD")?,
            project_name,
        );
        c.project_id = project_id;
        if let Some(d) = var("OS_USER_DOMAIN_NAME") {
            c.user_domain_name = d;
        }
        if let Some(d) = var("OS_PROJECT_DOMAIN_NAME") {
            c.project_domain_name = d;
        }
        c.region = var("OS_REGION_NAME");
        Ok(c)
    }

    /// The entry `cloud` of a `clouds.yaml` file.
    pub fn from_clouds_yaml(path: &Path, cloud: &str) -> Result<Self, CloudError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("reading {}: {e}", path.display())))?;
        Self::from_clouds_yaml_str(&text, cloud)
            .map_err(|e| config_error(format!("{}: {}", path.display(), e.message)))
    }

    /// Parses `clouds.yaml` text; a password left out of the file comes from `OS_PASSWORD`.
    pub fn from_clouds_yaml_str(text: &str, cloud: &str) -> Result<Self, CloudError> {
        let file: CloudsYaml = serde_yaml::from_str(text)
            .map_err(|e| config_error(format!("not a clouds.yaml: {e}")))?;
        let entry = file
            .clouds
            .get(cloud)
            .ok_or_else(|| config_error(format!("no cloud named {cloud:?}")))?;
        let a = &entry.auth;
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| config_error(format!("cloud {cloud:?} has no auth.{what}")))
        };
        let password = match &a.password {
            Some(p) => p.clone(),
            None => std::env::var("OS_PASSWORD")
                .map_err(|_| config_error(format!("cloud {cloud:?} has no auth.password")))?,
        };
        let mut c = Self::new(
            need(&a.auth_url, "auth_url")?,
            need(&a.username, "username")?,
            password,
            a.project_name.clone().unwrap_or_default(),
        );
        c.project_id = a.project_id.clone();
        if c.project_name.is_empty() && c.project_id.is_none() {
            return Err(config_error(format!(
                "cloud {cloud:?} has neither auth.project_name nor auth.project_id"
            )));
        }
        let domain = a.domain_name.clone();
        if let Some(d) = a.user_domain_name.clone().or(domain.clone()) {
            c.user_domain_name = d;
        }
        if let Some(d) = a.project_domain_name.clone().or(domain) {
            c.project_domain_name = d;
        }
        c.region = entry.region_name.clone();
        Ok(c)
    }

    /// The cloud named by `OS_CLOUD` in the first `clouds.yaml` found
    /// (`OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`, `~/.config/openstack/clouds.yaml`,
    /// `/etc/openstack/clouds.yaml`), else the `OS_*` variables; `Ok(None)` when the
    /// environment names no cloud at all.
    pub fn from_environment() -> Result<Option<Self>, CloudError> {
        if let Some(cloud) = std::env::var("OS_CLOUD").ok().filter(|c| !c.is_empty()) {
            let path = clouds_yaml_paths()
                .into_iter()
                .find(|p| p.is_file())
                .ok_or_else(|| config_error("OS_CLOUD is set but no clouds.yaml was found"))?;
            return Self::from_clouds_yaml(&path, &cloud).map(Some);
        }
        if std::env::var_os("OS_AUTH_URL").is_some() {
            return Self::from_env().map(Some);
        }
        Ok(None)
    }
}

fn clouds_yaml_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = std::env::var_os("OS_CLIENT_CONFIG_FILE") {
        paths.push(PathBuf::from(p));
    }
    paths.push(PathBuf::from("clouds.yaml"));
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".config/openstack/clouds.yaml"));
    }
    paths.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    paths
}

fn config_error(message: impl Into<String>) -> CloudError {
    CloudError::new(
        ErrorKind::Permanent,
        None,
        "read OpenStack configuration",
        message,
    )
}

#[derive(Deserialize)]
struct CloudsYaml {
    clouds: HashMap<String, CloudEntry>,
}

#[derive(Deserialize)]
struct CloudEntry {
    auth: AuthEntry,
    #[serde(default)]
    region_name: Option<String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth_url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    project_name: Option<String>,
    project_id: Option<String>,
    user_domain_name: Option<String>,
    project_domain_name: Option<String>,
    domain_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_yaml_as_localcloud_writes_it() {
        let yaml = "clouds:\n  localcloud:\n    auth:\n      auth_url: http://127.0.0.1:1/identity/v3\n      username: admin\n      password: secret\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    identity_api_version: 3\n    interface: public\n";
        let c = OpenStackConfig::from_clouds_yaml_str(yaml, "localcloud").expect("parses");
        assert_eq!(c.auth_url, "http://127.0.0.1:1/identity/v3");
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("admin", "secret")
        );
        assert_eq!(c.project_name, "admin");
        assert_eq!(c.region.as_deref(), Some("RegionOne"));
        assert!(
            !format!("{c:?}").contains("secret"),
            "Debug hides the password"
        );
        let e = OpenStackConfig::from_clouds_yaml_str(yaml, "other").expect_err("no such cloud");
        assert!(e.message.contains("other"), "{e}");
    }

    #[test]
    fn env_vars() {
        let vars: HashMap<&str, &str> = [
            ("OS_AUTH_URL", "https://k/v3"),
            ("OS_USERNAME", "u"),
            ("OS_PASSWORD", "p"),
            ("OS_PROJECT_NAME", "proj"),
            ("OS_USER_DOMAIN_NAME", "Users"),
            ("OS_REGION_NAME", "R1"),
        ]
        .into();
        let c = OpenStackConfig::from_vars(|k| vars.get(k).map(|v| v.to_string())).expect("ok");
        assert_eq!(c.user_domain_name, "Users");
        assert_eq!(c.project_domain_name, "Default");
        assert_eq!(c.region.as_deref(), Some("R1"));
        let e = OpenStackConfig::from_vars(|_| None).expect_err("nothing set");
        assert!(e.message.contains("OS_AUTH_URL"), "{e}");
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(800),
        };
        for retry in 0..40 {
            let d = p.backoff(retry);
            let full = Duration::from_millis(100 * 2u64.pow(retry.min(3))).min(p.max_backoff);
            assert!(d <= full && d >= full / 2, "retry {retry}: {d:?}");
        }
    }
}
