//! Accounts: validation, argon2id password hashing, sign-up, sign-in with throttling,
//! password changes and the first admin. Every outcome is written to the audit log.
//!
//! The pieces, each in its own file: the argon2 threads (`hashing`), passwords
//! (`passwords`), sign-up (`signup`), sign-in and sign-out (`signin`), the first
//! admin (`admins`) and the audit log (`audit`); email checks and the limits are
//! here.

use crate::{Error, Result};

mod admins;
mod audit;
mod hashing;
mod passwords;
mod signin;
mod signup;

pub use admins::{ensure_admin, require_admin};
pub use audit::{audit, audit_search, parse_time, AuditQuery};
pub use passwords::{
    change_password, generate_password, hash_password, require_own_password, validate_password,
    verify_password, PasswordChanged, MUST_CHANGE_PASSWORD,
};
pub use signin::{sign_in, sign_out};
pub use signup::{set_signup_open, sign_up, sign_up_limited, signup_open};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
