//! The server's key that seals each CA's private key at rest: made, loaded, and used to
//! seal and open.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::{SECRET_KEY_ENV, SECRET_KEY_FILE};
use crate::{Error, Result};

/// The server's 256-bit key that seals CA private keys.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> SecretKey {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .expect("the system random source works");
        SecretKey(k)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<SecretKey> {
        let bytes = hex::decode(s.trim()).map_err(|_| bad_key())?;
        let k: [u8; 32] = bytes.try_into().map_err(|_| bad_key())?;
        Ok(SecretKey(k))
    }

    fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads the key from `path`, or creates the file (mode 0600) with a new key.
    pub fn load_or_create(path: &Path) -> Result<SecretKey> {
        match std::fs::read_to_string(path) {
            Ok(s) => SecretKey::from_hex(&s).map_err(|_| {
                Error::internal(format!(
                    "{}: not a secret key (64 hex digits expected)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let mut b = std::fs::DirBuilder::new();
                    b.recursive(true);
                    #[cfg(unix)]
                    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
                    b.create(dir).map_err(Error::internal)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut f) => {
                        use std::io::Write;
                        f.write_all(format!("{}\n", key.to_hex()).as_bytes())
                            .map_err(Error::internal)?;
                        f.sync_all().map_err(Error::internal)?;
                        Ok(key)
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        SecretKey::load_or_create(path)
                    }
                    Err(e) => Err(Error::internal(format!("{}: {e}", path.display()))),
                }
            }
            Err(e) => Err(Error::internal(format!("{}: {e}", path.display()))),
        }
    }

    /// `SHIPYARD_SECRET_KEY` when set, else `<data_dir>/secret.key` (created if absent).
    pub fn from_env_or_file(data_dir: &Path) -> Result<SecretKey> {
        match std::env::var(SECRET_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => SecretKey::from_hex(&v)
                .map_err(|_| Error::internal(format!("{SECRET_KEY_ENV} must be 64 hex digits"))),
            _ => SecretKey::load_or_create(&data_dir.join(SECRET_KEY_FILE)),
        }
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key"))
    }

    /// Encrypts `plain`, bound to `aad`: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plain: &[u8], aad: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random source works");
        let mut buf = plain.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .expect("sealing cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        B64.encode(out)
    }

    /// Decrypts what [`SecretKey::seal`] made with the same `aad`.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<Vec<u8>> {
        let wrong = || {
            Error::internal(
                "a sealed key does not open with this server's secret key (was SHIPYARD_SECRET_KEY or secret.key changed?)",
            )
        };
        let raw = B64.decode(sealed).map_err(|_| wrong())?;
        if raw.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut body = body.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut body)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

fn bad_key() -> Error {
    Error::internal("a secret key is 64 hex digits (32 bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_opens_only_with_the_same_key_and_aad() {
        let k = SecretKey::generate();
        let sealed = k.seal(b"private", "a");
        assert_eq!(k.open(&sealed, "a").unwrap(), b"private");
        assert!(k.open(&sealed, "b").is_err());
        assert!(SecretKey::generate().open(&sealed, "a").is_err());
        assert!(k.open("not base64!", "a").is_err());
        assert!(k.open("", "a").is_err());
        // Two seals of the same text differ (fresh nonces).
        assert_ne!(k.seal(b"x", "a"), k.seal(b"x", "a"));
    }

    #[test]
    fn hex_keys() {
        let k = SecretKey::generate();
        assert_eq!(SecretKey::from_hex(&k.to_hex()).unwrap().0, k.0);
        assert!(SecretKey::from_hex("abcd").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{k:?}"), "SecretKey(…)");
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("shipyard-key-{}", crate::new_id()));
        let path = dir.join(SECRET_KEY_FILE);
        let a = SecretKey::load_or_create(&path).unwrap();
        let b = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(SecretKey::load_or_create(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
