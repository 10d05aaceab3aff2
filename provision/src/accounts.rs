//! Accounts: validation, argon2id password hashing, sign-up, sign-in with throttling,
//! password changes and the first admin. Every outcome is written to the audit log.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::{Actor, AuditEntry, AuditFilter, NewAudit, Outcome, Project, User};
use crate::{now_ms, Error, Result, Store};

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const EMAIL_MAX_CHARS: usize = 254;
/// Failed sign-ins allowed per account and per client address in [`THROTTLE_WINDOW_MS`].
pub const THROTTLE_MAX_FAILURES: i64 = 10;
pub const THROTTLE_WINDOW_MS: i64 = 5 * 60 * 1000;
/// How long an attempt on an account over [`THROTTLE_MAX_FAILURES`] waits before its
/// password is checked: the account is slowed, not locked (OWASP), so failures from
/// other addresses cannot lock its owner out, while guessing it stays slow.
pub const ACCOUNT_SLOWDOWN: std::time::Duration = std::time::Duration::from_secs(1);
const SETTING_SIGNUP_OPEN: &str = "signup_open";
/// Sign-ups allowed per client address in [`SIGNUP_WINDOW_MS`] (each costs an argon2
/// hash and makes a project with its own quota).
pub const SIGNUP_MAX_PER_ADDRESS: i64 = 10;
pub const SIGNUP_WINDOW_MS: i64 = 60 * 60 * 1000;

/// At most this many argon2 computations run at once (each holds 19 MiB for tens of
/// milliseconds); the rest wait their turn. Without a bound, a burst of sign-ups or
/// sign-ins ran one per blocking thread: up to 512 at once, about 9.5 GiB.
type HashJob = Box<dyn FnOnce() + Send>;

/// The threads that run argon2: [`max_hashing`] of them, started on first use, each
/// taking the next job from one queue. A fixed set (not the blocking pool) bounds memory
/// too: every thread that ever hashed keeps its allocator arena, so a burst spread over
/// many blocking threads kept hundreds of MiB after the work was done.
fn hashers() -> &'static std::sync::mpsc::Sender<HashJob> {
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::Sender<HashJob>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..max_hashing(cpus) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("start an argon2 thread");
        }
        tx
    })
}

/// As many hashes at once as there are CPUs (more would only queue on them), 2 to 16.
fn max_hashing(cpus: usize) -> usize {
    cpus.clamp(2, 16)
}

/// Runs one argon2 computation on the [`hashers`]; waits its turn behind the others.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        // A caller that went away (its request dropped) while queued costs nothing.
        if !done.is_closed() {
            let _ = done.send(work());
        }
    });
    hashers().send(job).map_err(Error::internal)?;
    result.await.map_err(Error::internal)
}

/// Checks and normalises an email address (trimmed, lower-cased).
pub fn validate_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(Error::invalid("email", "Enter your email address."));
    }
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(Error::invalid(
            "email",
            format!("Email is too long (at most {EMAIL_MAX_CHARS} characters)."),
        ));
    }
    let malformed = || {
        Error::invalid(
            "email",
            "Email is malformed: it should look like name@example.com.",
        )
    };
    let (local, domain) = email.split_once('@').ok_or_else(malformed)?;
    let domain_ok = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '@' && c != '<' && c != '>');
    if !domain_ok || !local_ok {
        return Err(malformed());
    }
    Ok(email)
}

/// Checks a new password's length (in characters, not bytes).
pub fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n == 0 {
        return Err(Error::invalid("password", "Enter a password."));
    }
    if n < PASSWORD_MIN_CHARS {
        return Err(Error::invalid(
            "password",
            format!("Password is too short: use at least {PASSWORD_MIN_CHARS} characters."),
        ));
    }
    if n > PASSWORD_MAX_CHARS {
        return Err(Error::invalid(
            "password",
            format!("Password is too long (at most {PASSWORD_MAX_CHARS} characters)."),
        ));
    }
    Ok(())
}

/// argon2id with OWASP's floor: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password on the blocking pool (it takes tens of milliseconds).
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    hashing(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("argon2: {e}")))
    })
    .await?
}

/// Verifies on the blocking pool; a malformed stored hash counts as a mismatch.
pub async fn verify_password(password: &str, hash: &str) -> Result<bool> {
    let password = password.to_owned();
    let hash = hash.to_owned();
    hashing(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
}

/// A hash of a random password, verified against when the account does not exist so
/// that timing does not tell which emails have accounts.
async fn dummy_hash() -> &'static str {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_init(|| async {
            hash_password("not-a-real-password-0123456789")
                .await
                .unwrap_or_default()
        })
        .await
}

pub async fn signup_open(store: &Store) -> Result<bool> {
    Ok(store.setting_get(SETTING_SIGNUP_OPEN).await?.as_deref() != Some("false"))
}

pub async fn set_signup_open(store: &Store, actor: &Actor, open: bool) -> Result<()> {
    require_admin(actor)?;
    store
        .setting_set(SETTING_SIGNUP_OPEN, if open { "true" } else { "false" })
        .await?;
    audit(
        store,
        actor,
        None,
        "settings.signup",
        if open { "open" } else { "closed" },
        Outcome::Success,
        "",
    )
    .await
}

/// Creates an account and its personal project, with the default throttle
/// ([`SIGNUP_MAX_PER_ADDRESS`]).
pub async fn sign_up(
    store: &Store,
    email: &str,
    password: &str,
    client_addr: &str,
) -> Result<(User, Project)> {
    sign_up_limited(store, email, password, client_addr, SIGNUP_MAX_PER_ADDRESS).await
}

/// Creates an account and its personal project; at most `max_per_address` sign-ups
/// (successful or not) from one client address in [`SIGNUP_WINDOW_MS`].
pub async fn sign_up_limited(
    store: &Store,
    email: &str,
    password: &str,
    client_addr: &str,
    max_per_address: i64,
) -> Result<(User, Project)> {
    let email = validate_email(email)?;
    validate_password(password)?;
    if !signup_open(store).await? {
        return Err(Error::Forbidden(
            "Sign-up is closed on this Shipyard; ask an administrator for an account.".into(),
        ));
    }
    let now = now_ms();
    let (attempts, oldest) = store
        .signup_attempt(client_addr, now, now - SIGNUP_WINDOW_MS)
        .await?;
    if attempts > max_per_address {
        let oldest = oldest.unwrap_or(now);
        let retry_after_secs = ((oldest + SIGNUP_WINDOW_MS - now).max(1000) + 999) / 1000;
        return Err(Error::Throttled {
            message: format!(
                "Too many sign-ups from your address. Try again in {} minutes.",
                (retry_after_secs + 59) / 60
            ),
            retry_after_secs: retry_after_secs as u64,
        });
    }
    let hash = hash_password(password).await?;
    let created = store
        .user_create_with_project(&email, &hash, false, false)
        .await;
    let (outcome, detail) = match &created {
        Ok(_) => (Outcome::Success, String::new()),
        Err(e) => (Outcome::Failure, e.external_message()),
    };
    let user_id = created.as_ref().ok().map(|(u, _)| u.id.as_str());
    let project_id = created.as_ref().ok().map(|(_, p)| p.id.as_str());
    store
        .audit_insert(&NewAudit {
            actor_id: user_id,
            actor_email: &email,
            project_id,
            action: "user.sign_up",
            object: &format!("user:{email}"),
            outcome,
            client_addr,
            detail: &detail,
        })
        .await?;
    created
}

/// Checks credentials, with throttling per account and per client address.
pub async fn sign_in(
    store: &Store,
    email: &str,
    password: &str,
    client_addr: &str,
) -> Result<User> {
    let email_raw = email.trim().to_lowercase();
    if email_raw.is_empty() {
        return Err(Error::invalid("email", "Enter your email address."));
    }
    if password.is_empty() {
        return Err(Error::invalid("password", "Enter your password."));
    }
    if email_raw.chars().count() > EMAIL_MAX_CHARS || password.chars().count() > PASSWORD_MAX_CHARS
    {
        return Err(Error::Unauthenticated("Wrong email or password.".into()));
    }
    let now = now_ms();
    let since = now - THROTTLE_WINDOW_MS;
    // The attempt counts as a failure from the start (a success clears it): parallel
    // guesses each see the others, so no more than the limit are ever checked.
    store
        .login_failure_record(&email_raw, client_addr, now)
        .await?;
    let [(account_failures, _), (address_failures, oldest)] = store
        .login_failure_window(&email_raw, client_addr, since)
        .await?;
    if address_failures > THROTTLE_MAX_FAILURES {
        let oldest = oldest.unwrap_or(now);
        let retry_after_secs = ((oldest + THROTTLE_WINDOW_MS - now).max(1000) + 999) / 1000;
        audit_sign_in(
            store,
            None,
            &email_raw,
            Outcome::Denied,
            client_addr,
            "throttled",
        )
        .await?;
        return Err(Error::Throttled {
            message: format!(
                "Too many failed sign-in attempts. Try again in {} seconds.",
                retry_after_secs
            ),
            retry_after_secs: retry_after_secs as u64,
        });
    }
    if account_failures > THROTTLE_MAX_FAILURES {
        tokio::time::sleep(ACCOUNT_SLOWDOWN).await;
    }

    let user = store.user_by_email(&email_raw).await?;
    let ok = match &user {
        Some(u) => verify_password(password, &u.password_hash).await?,
        None => {
            verify_password(password, dummy_hash().await).await?;
            false
        }
    };
    let failure = |detail: &'static str| async move {
        audit_sign_in(
            store,
            None,
            &email_raw,
            Outcome::Failure,
            client_addr,
            detail,
        )
        .await
    };
    match user {
        Some(user) if ok && !user.disabled => {
            store.login_failures_clear_email(&user.email).await?;
            audit_sign_in(
                store,
                Some(&user.id),
                &user.email,
                Outcome::Success,
                client_addr,
                "",
            )
            .await?;
            Ok(user)
        }
        Some(user) if ok && user.disabled => {
            failure("account disabled").await?;
            Err(Error::Forbidden(
                "This account is disabled; ask an administrator.".into(),
            ))
        }
        _ => {
            failure("wrong email or password").await?;
            Err(Error::Unauthenticated("Wrong email or password.".into()))
        }
    }
}

/// One sign-in attempt in the audit log.
async fn audit_sign_in(
    store: &Store,
    user_id: Option<&str>,
    email: &str,
    outcome: Outcome,
    client_addr: &str,
    detail: &str,
) -> Result<()> {
    store
        .audit_insert(&NewAudit {
            actor_id: user_id,
            actor_email: email,
            project_id: None,
            action: "user.sign_in",
            object: &format!("user:{email}"),
            outcome,
            client_addr,
            detail,
        })
        .await
}

/// Records a sign-out.
pub async fn sign_out(store: &Store, actor: &Actor) -> Result<()> {
    audit(
        store,
        actor,
        None,
        "user.sign_out",
        &format!("user:{}", actor.email),
        Outcome::Success,
        "",
    )
    .await
}

/// Why a user who signed in with a one-time password may do nothing else yet.
pub const MUST_CHANGE_PASSWORD: &str =
    "Change your one-time password on the Account page first; until then nothing else is allowed.";

/// Refuses a user who must still change their password (signed in with a one-time
/// password): until they do, the change itself is all they may do.
pub fn require_own_password(user: &User) -> Result<()> {
    if user.must_change_password {
        return Err(Error::Forbidden(MUST_CHANGE_PASSWORD.into()));
    }
    Ok(())
}

/// A password change, done.
#[derive(Debug)]
pub struct PasswordChanged {
    /// The user as they are now: their session epoch has moved on, so every session
    /// begun before is over; the caller begins the current one again with this.
    pub user: User,
    /// How many live API tokens were revoked with it (when asked).
    pub tokens_revoked: u64,
}

/// Changes the actor's own password after checking the current one. Every session of
/// the user ends with it (the caller re-begins its own); with `revoke_tokens`, every
/// live API token too.
pub async fn change_password(
    store: &Store,
    actor: &Actor,
    current: &str,
    new: &str,
    revoke_tokens: bool,
) -> Result<PasswordChanged> {
    if current.is_empty() {
        return Err(Error::invalid("current", "Enter your current password."));
    }
    validate_password(new).map_err(|e| match e {
        Error::Invalid { message, .. } => Error::Invalid {
            field: Some("new"),
            message: message.replace("Password", "New password"),
        },
        other => other,
    })?;
    let user = store
        .user_by_id(&actor.user_id)
        .await?
        .ok_or_else(|| Error::Unauthenticated("Sign in again.".into()))?;
    let object = format!("user:{}", user.email);
    if !verify_password(current, &user.password_hash).await? {
        audit(
            store,
            actor,
            None,
            "user.password_change",
            &object,
            Outcome::Failure,
            "wrong current password",
        )
        .await?;
        return Err(Error::invalid("current", "The current password is wrong."));
    }
    if current == new {
        return Err(Error::invalid(
            "new",
            "The new password must differ from the current one.",
        ));
    }
    let hash = hash_password(new).await?;
    store.user_set_password(&user.id, &hash, false).await?;
    let tokens_revoked = if revoke_tokens {
        crate::tokens::revoke_all(store, actor).await?
    } else {
        0
    };
    audit(
        store,
        actor,
        None,
        "user.password_change",
        &object,
        Outcome::Success,
        &format!("other sessions ended; {tokens_revoked} API tokens revoked"),
    )
    .await?;
    let user = store
        .user_by_id(&actor.user_id)
        .await?
        .ok_or_else(|| Error::Unauthenticated("Sign in again.".into()))?;
    Ok(PasswordChanged {
        user,
        tokens_revoked,
    })
}

/// The first admin: created at start when no admin exists. Returns the generated
/// one-time password when none was given, so the caller can print it once.
pub async fn ensure_admin(
    store: &Store,
    email: &str,
    password: Option<&str>,
) -> Result<Option<(String, Option<String>)>> {
    if store.admin_count().await? > 0 {
        return Ok(None);
    }
    let email = validate_email(email)?;
    let (password, generated) = match password {
        Some(p) if !p.is_empty() => {
            validate_password(p)?;
            (p.to_string(), None)
        }
        _ => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let hash = hash_password(&password).await?;
    match store.user_by_email(&email).await? {
        Some(existing) => {
            store.user_set_admin(&existing.id, true).await?;
            store
                .user_set_password(&existing.id, &hash, generated.is_some())
                .await?;
        }
        None => {
            store
                .user_create_with_project(&email, &hash, true, generated.is_some())
                .await?;
        }
    }
    store
        .audit_insert(&NewAudit {
            actor_id: None,
            actor_email: "system",
            project_id: None,
            action: "user.bootstrap_admin",
            object: &format!("user:{email}"),
            outcome: Outcome::Success,
            client_addr: "local",
            detail: "",
        })
        .await?;
    Ok(Some((email, generated)))
}

/// 20 characters from an unambiguous alphabet (about 113 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn require_admin(actor: &Actor) -> Result<()> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(Error::Forbidden("Only administrators can do this.".into()))
    }
}

/// Writes one audit entry for an actor.
pub async fn audit(
    store: &Store,
    actor: &Actor,
    project_id: Option<&str>,
    action: &str,
    object: &str,
    outcome: Outcome,
    detail: &str,
) -> Result<()> {
    store
        .audit_insert(&NewAudit {
            actor_id: Some(&actor.user_id),
            actor_email: &actor.email,
            project_id,
            action,
            object,
            outcome,
            client_addr: &actor.client_addr,
            detail,
        })
        .await
}

/// The audit log's filter as typed in a form or a query string: empty fields are not
/// filters; times are UTC, `2026-11-29`, `2026-11-29T10:30` (a browser's
/// datetime-local), with seconds, or RFC 3339. A date alone as `until` means the end
/// of that day.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: String,
    pub project: String,
    pub action: String,
    pub outcome: String,
    pub since: String,
    pub until: String,
    pub limit: Option<i64>,
}

impl AuditQuery {
    pub fn filter(&self) -> Result<AuditFilter> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let outcome = text(&self.outcome);
        if let Some(o) = &outcome {
            if !["success", "failure", "denied"].contains(&o.as_str()) {
                return Err(Error::invalid(
                    "outcome",
                    "The outcome is success, failure or denied.",
                ));
            }
        }
        let since = parse_time("since", &self.since, false)?;
        let until = parse_time("until", &self.until, true)?;
        if let (Some(a), Some(b)) = (since, until) {
            if a > b {
                return Err(Error::invalid("until", "'Until' is before 'since'."));
            }
        }
        Ok(AuditFilter {
            actor_email: text(&self.actor).map(|a| a.to_lowercase()),
            project_id: text(&self.project),
            action: text(&self.action),
            outcome,
            since_ms: since,
            until_ms: until,
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
        })
    }
}

/// A UTC time in one of the shapes [`AuditQuery`] takes, as Unix milliseconds.
pub fn parse_time(field: &'static str, s: &str, end_of_day: bool) -> Result<Option<i64>> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{Date, OffsetDateTime, PrimitiveDateTime};
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bare = s.strip_suffix('Z').unwrap_or(s);
    let at = if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        Some(t)
    } else if let Ok(d) = Date::parse(bare, format_description!("[year]-[month]-[day]")) {
        let t = d.midnight().assume_utc();
        Some(if end_of_day {
            t + time::Duration::days(1) - time::Duration::milliseconds(1)
        } else {
            t
        })
    } else {
        PrimitiveDateTime::parse(
            bare,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .or_else(|_| {
            PrimitiveDateTime::parse(
                bare,
                format_description!("[year]-[month]-[day]T[hour]:[minute]"),
            )
        })
        .ok()
        .map(|t| t.assume_utc())
    };
    match at {
        Some(t) => Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as i64)),
        None => Err(Error::invalid(
            field,
            format!("'{s}' is not a time; write 2026-11-29 or 2026-11-29T10:30 (UTC)."),
        )),
    }
}

/// The audit log, newest first, filtered (admins only).
pub async fn audit_search(
    store: &Store,
    actor: &Actor,
    query: &AuditQuery,
) -> Result<Vec<AuditEntry>> {
    require_admin(actor)?;
    store.audit_list(&query.filter()?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_query_times() {
        let q = |since: &str, until: &str| AuditQuery {
            since: since.into(),
            until: until.into(),
            ..Default::default()
        };
        let f = q("2026-11-29", "2026-11-29").filter().unwrap();
        assert_eq!(f.since_ms, Some(1_795_910_400_000));
        assert_eq!(f.until_ms, Some(1_795_910_400_000 + 86_400_000 - 1));
        let f = q("2026-11-29T10:30", "2026-11-29T10:30:15Z")
            .filter()
            .unwrap();
        assert_eq!(f.since_ms, Some(1_795_910_400_000 + 37_800_000));
        assert_eq!(f.until_ms, Some(1_795_910_400_000 + 37_815_000));
        let f = q("2026-11-29T11:30:00+01:00", "").filter().unwrap();
        assert_eq!(f.since_ms, Some(1_795_910_400_000 + 37_800_000));
        assert!(q("yesterday", "").filter().is_err());
        assert!(q("2026-11-30", "2026-11-29").filter().is_err());
        let bad = AuditQuery {
            outcome: "maybe".into(),
            ..Default::default()
        };
        assert!(bad.filter().is_err());
        let f = AuditQuery {
            actor: " Alice@Example.com ".into(),
            ..Default::default()
        }
        .filter()
        .unwrap();
        assert_eq!(f.actor_email.as_deref(), Some("alice@example.com"));
        assert_eq!(f.project_id, None);
    }

    #[test]
    fn email_rules() {
        assert_eq!(
            validate_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@b..c",
            "a b@c.d",
            "a@.com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(300));
        assert!(validate_email(&long)
            .unwrap_err()
            .to_string()
            .contains("too long"));
        assert!(validate_email("")
            .unwrap_err()
            .to_string()
            .contains("Enter"));
    }

    #[test]
    fn password_rules() {
        assert!(validate_password("")
            .unwrap_err()
            .to_string()
            .contains("Enter"));
        assert!(validate_password("short")
            .unwrap_err()
            .to_string()
            .contains("at least 12"));
        assert!(validate_password(&"x".repeat(129))
            .unwrap_err()
            .to_string()
            .contains("too long"));
        // Characters, not bytes: 12 multi-byte characters are enough.
        assert!(validate_password("ééééééééééé").is_err());
        assert!(validate_password("éééééééééééé").is_ok());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_floor() {
        let h = hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h).await.unwrap());
        assert!(!verify_password("wrong horse battery", &h).await.unwrap());
        assert!(!verify_password("x", "not a hash").await.unwrap());
    }

    #[test]
    fn generated_passwords_are_valid_and_distinct() {
        let a = generate_password();
        assert!(validate_password(&a).is_ok());
        assert_ne!(a, generate_password());
    }
}

#[cfg(test)]
mod hashing_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn as_many_hashes_as_cpus_within_bounds() {
        assert_eq!(super::max_hashing(1), 2);
        assert_eq!(super::max_hashing(8), 8);
        assert_eq!(super::max_hashing(128), 16);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_hashes_waits_for_a_hashing_thread() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let burst: Vec<_> = (0..16)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(super::hashing(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in burst {
            task.await.unwrap().unwrap();
        }
        let permits =
            super::max_hashing(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let most = most.load(Ordering::SeqCst);
        assert!(most <= permits, "{most} ran at once, {permits} allowed");
        assert!(
            most >= 2,
            "they still run side by side: {most} of {permits}"
        );
    }
}
