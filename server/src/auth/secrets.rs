/*!
Secrets Wharf hands out (session ids, API tokens) and the passwords people choose. Random
bytes come from the operating system (`getrandom`); high-entropy secrets are kept as SHA-256
hashes (`sha2`), passwords as argon2id hashes (`argon2`) with OWASP's parameters.
*/

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

/// `n` random bytes from the OS, as hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source is readable");
    hex::encode(bytes)
}

/// SHA-256 of a high-entropy secret, as hex: what the store keeps of it.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// argon2id, 19 MiB, 2 passes, 1 lane (OWASP's password storage recommendation).
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"))
}

/// A password's PHC string (algorithm, parameters, salt and hash). CPU-heavy: call it off
/// the async workers.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(password.as_bytes(), &salt).expect("argon2 hashes any password").to_string()
}

/// Whether `password` matches a stored PHC string (a malformed one matches nothing).
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Something to verify against when the account does not exist, so that a missing user
/// costs as long as a wrong password (no timing tells which names exist).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_hex(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves_and_are_salted() {
        let a = hash_password("correct horse battery staple");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify_password(&a, "correct horse battery staple"));
        assert!(!verify_password(&a, "correct horse battery stapl"));
        assert_ne!(a, hash_password("correct horse battery staple"));
        assert!(!verify_password("not a hash", "anything"));
    }

    #[test]
    fn random_secrets_differ_and_hash_to_hex() {
        assert_ne!(random_hex(32), random_hex(32));
        assert_eq!(random_hex(32).len(), 64);
        assert_eq!(hash("x").len(), 64);
    }
}
