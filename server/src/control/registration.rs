/*!
Registering a host as a container instance (ECS RegisterContainerInstance): the agent
presents a join token once and receives the instance's own credential, shown once and stored
as a hash. Token check, token use and the new instance are one transaction.

Credentials rotate: the server offers a new one over the agent's session, keeps it beside the
old until the agent confirms it saved it (or signs in with it), then the old stops working.
Whichever step a crash interrupts, the agent holds a credential that works.
*/

use super::join_tokens::{hash_secret, verify_in};
use crate::store::{self, Store, instances};
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::instance::{ContainerInstance, RegisterInstanceInput};

pub async fn register(store: &Store, input: RegisterInstanceInput) -> Result<(ContainerInstance, String)> {
    let reg = input.validate()?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (secret, credential) = new_credential(&id);
    let now = store::now();
    let mut w = store.write().await?;
    let token = verify_in(w.conn(), &reg.token, &now).await?;
    if let Some(wanted) = reg.cluster.as_deref().filter(|c| *c != token.cluster_name) {
        return Err(WharfError::invalid_field(
            "cluster",
            format!("the join token belongs to cluster '{}', not '{wanted}'", token.cluster_name),
        ));
    }
    let cluster = store::clusters::get(w.conn(), &token.cluster_name).await?.ok_or_else(WharfError::internal)?;
    let attributes = super::agents::weigh_claims(&reg.hostname, reg.attributes, &cluster.trusted_attributes, &token.attributes);
    let new = instances::NewInstance {
        id: &id,
        cluster: &token.cluster_name,
        name: &reg.hostname,
        resources: &to_json(&reg.registered_resources),
        attributes: &to_json(&attributes),
        version_info: &to_json(&reg.version_info),
        credential_hash: &hash_secret(&secret),
        join_token_id: &token.id,
    };
    instances::insert(w.conn(), &new, &now).await?;
    let instance = instances::get(w.conn(), &token.cluster_name, &id).await?.ok_or_else(WharfError::internal)?;
    w.commit().await?;
    tracing::info!(cluster = %token.cluster_name, instance = %id, host = %reg.hostname, "container instance registered");
    Ok((instance, credential))
}

/// A fresh secret (two v4 UUIDs: 244 random bits) and the credential that carries it.
fn new_credential(instance_id: &str) -> (String, String) {
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let credential = format!("wic_{instance_id}_{secret}");
    (secret, credential)
}

/// Whom a WebSocket belongs to, once its credential checked out.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    pub instance_id: String,
    pub cluster: String,
    /// When the credential it signed in with was issued (RFC 3339).
    pub credential_issued_at: String,
}

/// Checks `wic_<instance>_<secret>`. A credential offered and not yet confirmed is confirmed
/// by signing in with it: the agent saved it and the confirmation was lost.
pub async fn authenticate(store: &Store, credential: &str) -> Result<AgentIdentity> {
    let refuse = || WharfError::unauthorized("credential", "the instance credential is not valid; register the host again with a join token");
    let rest = credential.strip_prefix("wic_").ok_or_else(refuse)?;
    let (id, secret) = rest.split_once('_').ok_or_else(refuse)?;
    let hash = hash_secret(secret);
    let mut conn = store.pool().acquire().await.map_err(store::StoreError::from)?;
    let found = instances::credential(&mut conn, id).await?.ok_or_else(refuse)?;
    drop(conn);
    let current = found.hash.as_deref().is_some_and(|h| eq(h, &hash));
    let offered = found.next_hash.as_deref().is_some_and(|h| eq(h, &hash));
    if !current && !offered {
        return Err(refuse());
    }
    if found.status == "INACTIVE" {
        return Err(WharfError::unauthorized("credential", "this container instance was deregistered; register the host again with a join token"));
    }
    let mut issued_at = found.issued_at;
    if offered && !current {
        // Confirmed here only if still on offer; a concurrent sign-in may have confirmed it.
        match confirm_credential(store, id, &hash).await? {
            Some(at) => {
                issued_at = at;
                tracing::info!(instance = %id, "the instance signed in with its new credential; the old one no longer works");
            }
            None => {
                let mut conn = store.pool().acquire().await.map_err(store::StoreError::from)?;
                let now = instances::credential(&mut conn, id).await?.ok_or_else(refuse)?;
                if !now.hash.as_deref().is_some_and(|h| eq(h, &hash)) {
                    return Err(refuse());
                }
                issued_at = now.issued_at;
            }
        }
    }
    Ok(AgentIdentity { instance_id: id.to_string(), cluster: found.cluster, credential_issued_at: issued_at })
}

/// Hashes compared in constant time.
fn eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A credential on offer to a connected agent: `hash` identifies it when the agent confirms.
pub struct Offer {
    pub credential: String,
    pub hash: String,
}

/// Offers the instance a new credential; None when the instance was deregistered meanwhile.
pub async fn offer_credential(store: &Store, instance_id: &str) -> Result<Option<Offer>> {
    let (secret, credential) = new_credential(instance_id);
    let hash = hash_secret(&secret);
    let mut w = store.write().await?;
    if !instances::offer_credential(w.conn(), instance_id, &hash).await? {
        return Ok(None);
    }
    w.commit().await?;
    Ok(Some(Offer { credential, hash }))
}

/// The agent saved the offered credential: it replaces the old one. Returns when it was
/// issued, or None when the offer was replaced meanwhile (the agent keeps what works).
pub async fn confirm_credential(store: &Store, instance_id: &str, offer_hash: &str) -> Result<Option<String>> {
    let now = store::now();
    let mut w = store.write().await?;
    if !instances::confirm_credential(w.conn(), instance_id, offer_hash, &now).await? {
        return Ok(None);
    }
    w.commit().await?;
    Ok(Some(now))
}

/// These types are plain data; serialising them cannot fail.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
