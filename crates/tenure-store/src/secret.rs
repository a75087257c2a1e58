//! Secrets: API tokens and write keys. Each is 192 random bits, shown once; only its SHA-256
//! is stored. A fast hash is right here (unlike for passwords): a random 192-bit secret cannot
//! be guessed, so there is nothing for a slow hash to protect.

use sha2::{Digest, Sha256};

use crate::{CredentialKind, StoreError};

/// A freshly generated secret and the id under which its hash is stored.
pub struct NewSecret {
    /// Public identifier, safe to log.
    pub id: String,
    /// The secret itself: print it once, never store it.
    pub secret: String,
    pub hash: String,
}

/// `bytes` random bytes from the system's source, as hex.
pub fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Invalid(format!("no randomness available: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The prefix that tells a secret's kind at a glance (and to secret scanners).
pub fn prefix(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::AdminToken => "tnr_admin_",
        CredentialKind::ApiToken => "tnr_api_",
        CredentialKind::WriteKey => "tnr_wk_",
    }
}

pub fn generate(kind: CredentialKind) -> Result<NewSecret, StoreError> {
    let secret = format!("{}{}", prefix(kind), random_hex(24)?);
    Ok(NewSecret {
        id: format!("cred_{}", random_hex(6)?),
        hash: hash(&secret),
        secret,
    })
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hashed() {
        let a = generate(CredentialKind::WriteKey).unwrap();
        let b = generate(CredentialKind::WriteKey).unwrap();
        assert!(a.secret.starts_with("tnr_wk_") && a.secret.len() == 7 + 48);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash(&a.secret));
        assert!(!a.hash.contains(&a.secret[7..]));
        assert_eq!(a.hash.len(), 64);
    }
}

/// Passwords: argon2id with the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane), a
/// random salt each, stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`) so the
/// parameters travel with the hash. Slow on purpose: a password, unlike a random token, can be
/// guessed.
pub mod password {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    use crate::StoreError;

    /// The shortest password accepted.
    pub const MIN_LENGTH: usize = 12;

    fn hasher() -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None).expect("valid argon2 parameters"),
        )
    }

    /// The PHC string of `password`, with a fresh random salt. Refuses a password shorter than
    /// `MIN_LENGTH` characters.
    pub fn hash(password: &str) -> Result<String, StoreError> {
        if password.chars().count() < MIN_LENGTH {
            return Err(StoreError::Invalid(format!(
                "the password is {} characters long: use at least {MIN_LENGTH}",
                password.chars().count()
            )));
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|e| StoreError::Invalid(format!("no randomness available: {e}")))?;
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| StoreError::Invalid(format!("salt: {e}")))?;
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Invalid(format!("hashing the password: {e}")))
    }

    /// Whether `password` matches the PHC string `stored` (false for a malformed one).
    pub fn verify(password: &str, stored: &str) -> bool {
        PasswordHash::new(stored)
            .is_ok_and(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
    }

    /// A generated password: 20 characters from a 54-letter alphabet without look-alikes
    /// (about 115 bits).
    pub fn generate() -> Result<String, StoreError> {
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut out = String::with_capacity(20);
        while out.len() < 20 {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b)
                .map_err(|e| StoreError::Invalid(format!("no randomness available: {e}")))?;
            // Rejection sampling keeps every letter equally likely.
            let limit = 256 - 256 % ALPHABET.len();
            out.extend(
                b.iter()
                    .filter(|x| usize::from(**x) < limit)
                    .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char),
            );
        }
        out.truncate(20);
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn passwords_verify_only_themselves() {
            let h = hash("correct horse battery").unwrap();
            assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
            assert!(verify("correct horse battery", &h));
            assert!(!verify("correct horse batterY", &h));
            assert!(!verify("correct horse battery", "not a hash"));
            // A fresh salt each time.
            assert_ne!(h, hash("correct horse battery").unwrap());
            assert!(hash("short")
                .unwrap_err()
                .to_string()
                .contains("at least 12"));
            let g = generate().unwrap();
            assert_eq!(g.len(), 20);
            assert!(verify(&g, &hash(&g).unwrap()));
        }

        #[test]
        fn hashes_made_by_another_implementation_verify() {
            // Made with the reference implementation (Python's argon2-cffi: argon2id, m=19456,
            // t=2, p=1) for "tenure-password".
            let phc = "$argon2id$v=19$m=19456,t=2,p=1$V9Y3SmbREMwM4IvWCEnQZA$roUHXoUlETbdo6hr7l12Umn3Qun/xDmu3XXKlwbGrYE";
            assert!(verify("tenure-password", phc));
            assert!(!verify("tenure-passwore", phc));
        }
    }
}
