/*!
Routes agents and new hosts call: registration (a join token for the instance's own
credential), the agent's WebSocket, and the agent binary with its install script.
*/

use super::error::{ApiResult, Body};
use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wharf_core::protocol::{MAX_FRAME_BYTES, SOCKET_BUFFER_BYTES};
use serde::Serialize;
use utoipa::ToSchema;
use wharf_core::WharfError;
use wharf_core::instance::{ContainerInstance, RegisterInstanceInput};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    container_instance: ContainerInstance,
    /// The instance's own credential (`wic_…`), returned this once; the agent keeps it.
    credential: String,
}

/// Registers a host into the join token's cluster (ECS RegisterContainerInstance).
#[utoipa::path(post, path = "/agent/v1/register", tag = "container instances", request_body = RegisterInstanceInput,
    responses((status = 201, body = Registered), (status = 400, body = WharfError), (status = 401, body = WharfError)))]
pub async fn register(State(state): State<AppState>, Body(input): Body<RegisterInstanceInput>) -> ApiResult<(StatusCode, Json<Registered>)> {
    let (container_instance, credential) = state.control.register_container_instance(input).await?;
    Ok((StatusCode::CREATED, Json(Registered { container_instance, credential })))
}

/// An agent's WebSocket. The instance credential goes in `Authorization: Bearer wic_…`; a
/// bad one is refused with 401 before the upgrade. Messages: `wharf_core::protocol`.
pub async fn connect(State(state): State<AppState>, extensions: axum::http::Extensions, headers: HeaderMap, ws: WebSocketUpgrade) -> ApiResult<Response> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| WharfError::unauthorized("authorization", "send the instance credential as Authorization: Bearer wic_…"))?;
    let who = crate::control::agents::authenticate(state.control.store(), credential.trim()).await?;
    let control = (*state.control).clone();
    let (heartbeat, rotation) = (state.agent.heartbeat, state.agent.credential_rotation);
    // Encrypted to this server, or to a trusted proxy in front of it, or never on a network.
    // Where the load balancer reaches this host's tasks: the address it connects from.
    let address = extensions.get::<crate::client_address::ClientAddress>().map(|c| c.ip.to_canonical());
    let secure = control.certificate_pins().is_some()
        || extensions.get::<crate::client_address::ClientAddress>().is_some_and(|c| c.local || (c.proxied && c.https_at_proxy));
    Ok(ws
        .max_message_size(MAX_FRAME_BYTES)
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| crate::agents::session::run(control, who, heartbeat, rotation, secure, address, socket)))
}

/// The agent binary this server hands out, with its SHA-256 (computed once).
async fn agent_binary(state: &AppState) -> ApiResult<(std::path::PathBuf, String)> {
    static DIGEST: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let missing = || WharfError::new(wharf_core::ErrorKind::NotFound, "this server has no wharf-agent binary to hand out; build it (cargo build -p wharf-agent) or set --agent-binary");
    let path = state.agent.binary.clone().filter(|p| p.is_file()).ok_or_else(missing)?;
    let hashed = path.clone();
    let digest = DIGEST
        .get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                use sha2::{Digest, Sha256};
                let mut file = std::fs::File::open(&hashed)?;
                let mut hasher = Sha256::new();
                std::io::copy(&mut file, &mut hasher)?;
                Ok(format!("{:x}", hasher.finalize()))
            })
            .await
            .map_err(|_| WharfError::internal())?
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the agent binary");
                WharfError::internal()
            })
        })
        .await?;
    Ok((path, digest.clone()))
}

/// `GET /agent/wharf-agent`: the binary, with `x-wharf-sha256`.
pub async fn binary(State(state): State<AppState>) -> ApiResult<Response> {
    let (path, digest) = agent_binary(&state).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|_| WharfError::internal())?;
    let length = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
            (header::HeaderName::from_static("x-wharf-sha256"), digest),
        ],
        body,
    )
        .into_response())
}

/// `GET /agent/install.sh`: fetches the agent from this server, checks its digest, writes
/// the configuration and a systemd unit, and starts it.
pub async fn install_script(State(state): State<AppState>) -> ApiResult<Response> {
    let (_, digest) = agent_binary(&state).await?;
    let script = INSTALL_SCRIPT.replace("@SERVER@", state.control.public_url()).replace("@SHA256@", &digest);
    Ok(([(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")], script).into_response())
}

const INSTALL_SCRIPT: &str = include_str!("install.sh");
