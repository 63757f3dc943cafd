/*!
Joining a cluster: a join token is traded once for the instance's id and its own credential
(`POST /agent/v1/register`), which are kept in the state directory and used from then on.
*/

use crate::host::HostFacts;
use crate::state::Identity;
use serde::Deserialize;
use wharf_core::instance::{RegisterInstanceInput, VersionInfo};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Registered {
    container_instance: Instance,
    credential: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    id: String,
    cluster_name: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
    #[serde(default)]
    errors: Vec<FieldProblem>,
}

#[derive(Deserialize)]
struct FieldProblem {
    field: String,
    message: String,
}

/// Registers the host. `cluster`, when given, must be the token's cluster.
pub async fn register(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    cluster: Option<&str>,
    host: &HostFacts,
    version: VersionInfo,
) -> Result<Identity, String> {
    let input = RegisterInstanceInput {
        token: Some(token.to_string()),
        cluster: cluster.map(str::to_string),
        hostname: Some(host.hostname.clone()),
        cpu: Some(host.cpu),
        memory: Some(host.memory),
        attributes: Some(host.attributes.clone()),
        version_info: Some(version),
    };
    let url = format!("{}/agent/v1/register", server.trim_end_matches('/'));
    let response = http.post(&url).json(&input).send().await.map_err(|e| format!("cannot reach {url}: {}", causes(&e)))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        let detail = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) if !e.errors.is_empty() => {
                e.errors.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
            }
            Ok(e) => e.message,
            Err(_) => String::from_utf8_lossy(&body).chars().take(300).collect(),
        };
        return Err(format!("registration refused ({status}): {detail}"));
    }
    let registered: Registered = serde_json::from_slice(&body).map_err(|e| format!("{url}: unexpected answer: {e}"))?;
    Ok(Identity {
        container_instance_id: registered.container_instance.id,
        cluster: registered.container_instance.cluster_name,
        server: server.trim_end_matches('/').to_string(),
        credential: registered.credential,
        previous_credential: None,
    })
}

/// An error with its causes (a refused certificate is a few levels down a request error).
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
