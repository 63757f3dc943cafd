/*!
TLS to the server (rustls, ring). With a pin (`--server-cert-sha256`, which the install
command carries) the server must present exactly that certificate: a self-signed one is
trusted by its SHA-256 and nothing else, before the join token or credential is sent.
Without a pin, the usual web PKI decides (Mozilla's roots, `webpki-roots`).
*/

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Accepts the one certificate whose DER hashes to the pin; the handshake's signatures are
/// still checked against it, so only the holder of its key gets through.
#[derive(Debug)]
struct Pinned {
    sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("the server's certificate has SHA-256 {}, not the pinned one", hex::encode(Sha256::digest(end_entity.as_ref())))))
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads a pin: 64 hex digits (colons, as some tools print them, are allowed).
pub fn parse_pin(text: &str) -> Result<[u8; 32], String> {
    let clean: String = text.trim().chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&clean).map_err(|_| "--server-cert-sha256: 64 hexadecimal digits".to_string())?;
    bytes.try_into().map_err(|_| "--server-cert-sha256: 64 hexadecimal digits (a SHA-256)".to_string())
}

/// Refuses a pin that could not be checked: with a plain `http://` server there is no
/// certificate, and an agent told to pin one must not talk in the clear instead.
pub fn check_server(server: Option<&str>, pin: Option<&str>) -> Result<(), String> {
    match (server, pin) {
        (Some(url), Some(_)) if !url.starts_with("https://") => Err(format!("--server-cert-sha256 needs an https:// server, not {url}")),
        _ => Ok(()),
    }
}

/// The client configuration for a pin, or for the web PKI.
pub fn client_config(pin: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let config = match pin {
        Some(pin) => builder.dangerous().with_custom_certificate_verifier(Arc::new(Pinned { sha256: parse_pin(pin)?, provider })).with_no_client_auth(),
        None => {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// The HTTP client for registration, with the same trust as the WebSocket.
pub fn http_client(tls: &Arc<rustls::ClientConfig>, timeout: std::time::Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder().timeout(timeout).use_preconfigured_tls((**tls).clone()).build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pins_are_64_hex_digits() {
        let hex = "ab".repeat(32);
        assert!(super::parse_pin(&hex).is_ok());
        assert!(super::parse_pin(&"AB:".repeat(31).to_string().chars().chain("AB".chars()).collect::<String>()).is_ok());
        assert!(super::parse_pin("abc").is_err());
        assert!(super::parse_pin(&"zz".repeat(32)).is_err());
    }
}
