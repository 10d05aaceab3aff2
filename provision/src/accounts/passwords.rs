//! Passwords: their rules, argon2id hashing and checking, one-time passwords, and a
//! user changing their own.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::hashing::hashing;
use super::{audit, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};
use crate::domain::{Actor, Outcome, User};
use crate::{Error, Result, Store};

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
pub(super) async fn dummy_hash() -> &'static str {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_init(|| async {
            hash_password("not-a-real-password-0123456789")
                .await
                .unwrap_or_default()
        })
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

/// 20 characters from an unambiguous alphabet (about 113 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
