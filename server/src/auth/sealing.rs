/*!
Secrets at rest: each value is sealed with AES-256-GCM (`aes-gcm`, RustCrypto) under the
server's key, with a fresh random 96-bit nonce and the secret's name as associated data, so a
sealed value copied onto another secret's row does not open.

The key is 32 bytes, given as base64 or hex in `WHARF_SECRETS_KEY`, or in a file
(`--secrets-key-file`); without either, one is made at first start in `DATA_DIR/secrets.key`
(mode 0600). Losing the key loses every secret's value.
*/

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;

/// What a sealed value starts with: the format, so a later one can be told apart.
const FORMAT: &str = "v1:";

#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    /// From the key's text: 32 bytes as base64 or as hex.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = match hex::decode(text) {
            Ok(b) => b,
            Err(_) => STANDARD.decode(text).map_err(|_| "the secrets key is neither base64 nor hex".to_string())?,
        };
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| format!("the secrets key is {} bytes; AES-256 needs 32", bytes.len()))?;
        Ok(Self { cipher })
    }

    /// The key from `path`, made there (readable by its owner only) when the file is absent.
    pub fn from_file_or_new(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_text(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| format!("no random key: {e}"))?;
                let text = STANDARD.encode(key);
                write_private(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
                Self::from_text(&text)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Seals `value` for the secret `name`.
    pub fn seal(&self, name: &str, value: &str) -> String {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system's random source is readable");
        let sealed = self.cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: name.as_bytes() }).expect("AES-GCM seals any value under 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{FORMAT}{}", STANDARD.encode(out))
    }

    /// Opens what [`Sealer::seal`] made for `name`; fails on another key, another name or any
    /// change to the stored text.
    pub fn open(&self, name: &str, sealed: &str) -> Result<String, String> {
        let bytes = sealed.strip_prefix(FORMAT).and_then(|b| STANDARD.decode(b).ok()).ok_or("the stored value is not in a known format")?;
        if bytes.len() < 12 + 16 {
            return Err("the stored value is truncated".into());
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: name.as_bytes() })
            .map_err(|_| "the stored value does not open with this server's secrets key".to_string())?;
        String::from_utf8(plain).map_err(|_| "the stored value is not text".into())
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Sealer {
        Sealer::from_text(&hex::encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_name() {
        let k = key(1);
        let sealed = k.seal("prod/db", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_ne!(sealed, k.seal("prod/db", "hunter2"), "a fresh nonce each time");
        assert_eq!(k.open("prod/db", &sealed).unwrap(), "hunter2");
        assert!(k.open("prod/other", &sealed).is_err(), "bound to its name");
        assert!(key(2).open("prod/db", &sealed).is_err(), "bound to its key");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(k.open("prod/db", &String::from_utf8(tampered).unwrap()).is_err(), "any change is refused");
        assert!(k.open("prod/db", "v1:AAAA").is_err());
    }

    #[test]
    fn keys_are_32_bytes_and_a_missing_key_file_is_made_private() {
        assert!(Sealer::from_text("c2hvcnQ=").unwrap_err().contains("32"));
        assert!(Sealer::from_text("%%%").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let made = Sealer::from_file_or_new(&path).unwrap();
        let again = Sealer::from_file_or_new(&path).unwrap();
        assert_eq!(again.open("n", &made.seal("n", "v")).unwrap(), "v", "the same key is read back");
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777, 0o600);
    }
}
