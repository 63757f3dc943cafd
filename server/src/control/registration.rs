/*!
Registering a host as a container instance (ECS RegisterContainerInstance): the agent
presents a join token once and receives the instance's own credential, shown once and stored
as a hash. Token check, token use and the new instance are one transaction.
*/

use super::join_tokens::{hash_secret, verify_in};
use crate::store::{self, Store, instances};
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::instance::{ContainerInstance, RegisterInstanceInput};

pub async fn register(store: &Store, input: RegisterInstanceInput) -> Result<(ContainerInstance, String)> {
    let reg = input.validate()?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
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
    Ok((instance, format!("wic_{id}_{secret}")))
}

/// These types are plain data; serialising them cannot fail.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
