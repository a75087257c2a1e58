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

fn random_hex(bytes: usize) -> Result<String, StoreError> {
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
