//! The cloud's own credentials: never a well-known password. A user configured without
//! one gets a random password made once and kept in the data directory
//! (`<user>.password`, mode 0600), so the cloud and whoever reads that directory (the
//! `clouds.yaml` written beside it, Shipyard's embedded cloud) agree across restarts.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::{Cloud, UserConfig};

/// What a client needs to authenticate as one user.
#[derive(Clone)]
pub struct Credentials {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("project", &self.project)
            .finish()
    }
}

/// Creates the data directory, readable by its owner only.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Gives every user without a password the one kept in `dir` for them, made now if
/// there is none yet.
pub fn resolve(dir: &Path, users: &mut [UserConfig]) -> anyhow::Result<()> {
    for u in users.iter_mut().filter(|u| u.password.is_none()) {
        if u.name.is_empty()
            || !u
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || u.name.starts_with('.')
        {
            anyhow::bail!("user name {:?} cannot name a password file", u.name);
        }
        let path = dir.join(format!("{}.password", u.name));
        u.password = Some(kept_or_new(&path)?);
    }
    Ok(())
}

fn kept_or_new(path: &Path) -> anyhow::Result<String> {
    match fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => anyhow::bail!(
            "{} is empty: delete it to have a new password made",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
    let password = random_password();
    write_private(path, &format!("{password}\n"), true)?;
    Ok(password)
}

/// 24 characters from 62: about 143 bits.
fn random_password() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Writes `body` to `path` with mode 0600 (also when the file was there with another
/// mode); `new_only` fails if it exists.
fn write_private(path: &Path, body: &str, new_only: bool) -> anyhow::Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true);
    if new_only {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        o.mode(0o600);
        let mut f = o.open(path)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(body.as_bytes())?;
    }
    #[cfg(not(unix))]
    o.open(path)?.write_all(body.as_bytes())?;
    Ok(())
}

/// YAML's single-quoted scalar: any text, `'` doubled.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A `clouds.yaml` (mode 0600) with one entry, `localcloud`, for the first configured
/// user, so that `OS_CLIENT_CONFIG_FILE=<data-dir>/clouds.yaml OS_CLOUD=localcloud
/// openstack ...` works.
pub fn write_clouds_yaml(cloud: &Cloud) -> anyhow::Result<()> {
    let Some(user) = cloud.config.users.first() else {
        return Ok(());
    };
    let yaml = format!(
        "clouds:\n  localcloud:\n    auth:\n      auth_url: {}/identity/v3\n      username: {}\n      password: {}\n      project_name: {}\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {}\n    identity_api_version: 3\n    interface: public\n",
        cloud.base_url,
        quoted(&user.name),
        quoted(user.password.as_deref().unwrap_or_default()),
        quoted(&user.project),
        quoted(&cloud.config.region)
    );
    write_private(&cloud.config.data_dir.join("clouds.yaml"), &yaml, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn user(password: Option<&str>) -> UserConfig {
        UserConfig {
            name: "admin".into(),
            password: password.map(String::from),
            project: "admin".into(),
            admin: true,
        }
    }

    #[test]
    fn a_data_dir_keeps_one_random_password_readable_by_its_owner_only() {
        let dir = std::env::temp_dir().join(format!("lc-cred-{}", crate::new_id()));
        private_dir(&dir).unwrap();
        let mut a = [user(None)];
        resolve(&dir, &mut a).unwrap();
        let pw = a[0].password.clone().unwrap();
        assert_eq!(pw.len(), 24);
        assert_ne!(pw, "admin");
        let file = dir.join("admin.password");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // The same directory gives the same password; another gives another.
        let mut again = [user(None)];
        resolve(&dir, &mut again).unwrap();
        assert_eq!(again[0].password.as_deref(), Some(pw.as_str()));
        let other = std::env::temp_dir().join(format!("lc-cred-{}", crate::new_id()));
        private_dir(&other).unwrap();
        let mut b = [user(None)];
        resolve(&other, &mut b).unwrap();
        assert_ne!(b[0].password, a[0].password);
        // A password that was set is kept as given, and no file is made for it.
        let mut set = [UserConfig {
            name: "ops".into(),
            ..user(Some("given"))
        }];
        resolve(&dir, &mut set).unwrap();
        assert_eq!(set[0].password.as_deref(), Some("given"));
        assert!(!dir.join("ops.password").exists());
        assert!(format!(
            "{:?}",
            Credentials {
                auth_url: String::new(),
                username: "a".into(),
                password: pw.clone(),
                project: "p".into()
            }
        )
        .find(&pw)
        .is_none());
        let _ = fs::remove_dir_all(dir);
        let _ = fs::remove_dir_all(other);
    }

    #[test]
    fn user_names_cannot_walk_out_of_the_data_dir() {
        let dir = std::env::temp_dir();
        for name in ["../x", "", ".hidden", "a/b"] {
            let mut u = [UserConfig {
                name: name.into(),
                ..user(None)
            }];
            assert!(resolve(&dir, &mut u).is_err(), "{name}");
        }
    }

    #[test]
    fn yaml_quoting_survives_any_password() {
        assert_eq!(quoted("it's: #x"), "'it''s: #x'");
    }
}
