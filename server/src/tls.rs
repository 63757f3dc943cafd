/*!
HTTPS for the portal, the API and the agents' WebSocket (rustls, with ring's cryptography).
The certificate is the operator's (`--tls-cert`, `--tls-key`) or one made at first start and
kept in the data directory (`--tls-self-signed`, rcgen). Agents pin it by the SHA-256 of its
DER encoding, which the install command carries, so a new host checks the server before it
sends its join token (as `kubeadm join --discovery-token-ca-cert-hash` does).
*/

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("{path}: no PEM {what} in it")]
    Pem { path: String, what: &'static str },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A loaded certificate chain and key, with the fingerprint agents pin.
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate's DER, lower-case hex: what agents pin.
    pub sha256: String,
    /// SHA-256 of its public key (SubjectPublicKeyInfo), base64: what curl pins
    /// (`--pinnedpubkey sha256//…`) when it fetches the install script and the agent.
    pub public_key_sha256: String,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::File { path: path.display().to_string(), source })
}

/// Loads a PEM certificate chain and private key.
pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    let pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    let leaf = chain.first().ok_or_else(|| TlsError::Pem { path: cert.display().to_string(), what: "certificate" })?;
    let sha256 = hex::encode(Sha256::digest(leaf.as_ref()));
    let spki = webpki::EndEntityCert::try_from(leaf).map_err(|e| TlsError::Pem { path: format!("{} ({e:?})", cert.display()), what: "usable certificate" })?.subject_public_key_info();
    let public_key_sha256 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, Sha256::digest(spki.as_ref()));
    let key = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|_| TlsError::Pem { path: key.display().to_string(), what: "private key" })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?.with_no_client_auth().with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Identity { config: Arc::new(config), sha256, public_key_sha256 })
}

/// The certificate kept in `dir` (made on first use for `names`), as PEM file paths.
pub fn self_signed(dir: &Path, names: Vec<String>) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::File { path: dir.display().to_string(), source })?;
    let made = rcgen::generate_simple_self_signed(names)?;
    let write = |path: &Path, text: String| std::fs::write(path, text).map_err(|source| TlsError::File { path: path.display().to_string(), source });
    write_private(&key, made.signing_key.serialize_pem())?;
    write(&cert, made.cert.pem())?;
    Ok((cert, key))
}

/// The key file is the server's alone from the moment it exists.
fn write_private(path: &Path, text: String) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |source| TlsError::File { path: path.display().to_string(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)
}

/// Serves `app` over TLS on `listener` until `shutdown` completes. Each connection's peer
/// address is handed to the app as axum's `ConnectInfo`, as the plain server does.
pub async fn serve(listener: tokio::net::TcpListener, identity: &Identity, app: Router, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.config.clone());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A client that never finishes its handshake holds nothing for long.
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(axum::body::Body::new))
            });
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection_with_upgrades(TokioIo::new(tls), service).await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
