/*!
Join tokens: created with a random secret shown once, stored as a SHA-256 hash, revocable,
optionally expiring. Agents present one to register a host into the token's cluster.
*/

use super::cluster_not_found;
use crate::store::{self, Store, clusters, join_tokens as sql};
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::join_token::{CreateJoinTokenInput, JoinToken, split_token};

use crate::auth::secrets::hash;

/// 16 hex characters of id and 64 of secret, from the OS's random source.
fn fresh_token() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    (id, secret)
}

pub async fn create(store: &Store, cluster: &str, input: CreateJoinTokenInput) -> Result<(JoinToken, String)> {
    input.validate()?;
    let now = chrono::Utc::now();
    let lifetime = input.expires_in_seconds.unwrap_or(wharf_core::join_token::DEFAULT_EXPIRY_SECONDS);
    let expires_at = Some((now + chrono::Duration::seconds(lifetime)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let now = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (id, secret) = fresh_token();
    let mut w = store.write().await?;
    clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let new = sql::NewToken {
        id: &id,
        cluster,
        description: input.description.as_deref().unwrap_or_default(),
        secret_hash: &hash(&secret),
        expires_at: expires_at.as_deref(),
        max_uses: input.max_uses,
        attributes: &serde_json::to_string(&input.attributes.unwrap_or_default()).map_err(|_| WharfError::internal())?,
    };
    sql::insert(w.conn(), &new, &now).await?;
    let token = sql::get(w.conn(), cluster, &id, &now).await?.ok_or_else(WharfError::internal)?;
    w.commit().await?;
    Ok((token, format!("wjt_{id}_{secret}")))
}

pub async fn list(conn: &mut sqlx::AnyConnection, cluster: &str) -> Result<Vec<JoinToken>> {
    clusters::get(conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    Ok(sql::list(conn, cluster, &store::now()).await?)
}

pub async fn revoke(store: &Store, cluster: &str, id: &str) -> Result<JoinToken> {
    let now = store::now();
    let mut w = store.write().await?;
    clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    sql::get(w.conn(), cluster, id, &now)
        .await?
        .ok_or_else(|| WharfError::not_found(format!("no join token '{id}' in cluster '{cluster}'")))?;
    sql::revoke(w.conn(), cluster, id, &now).await?;
    let token = sql::get(w.conn(), cluster, id, &now).await?.ok_or_else(WharfError::internal)?;
    w.commit().await?;
    Ok(token)
}

/// Checks a clear token and records its use, in the caller's transaction; returns the token,
/// whose cluster the host may join. Every refusal says why, without telling a guesser whether
/// the id exists.
pub async fn verify_in(conn: &mut sqlx::AnyConnection, token: &str, now: &str) -> Result<JoinToken> {
    let refused = |why: &str| WharfError::unauthorized("token", format!("the join token is {why}; ask for a new one"));
    let (id, secret) = split_token(token.trim()).ok_or_else(|| refused("malformed"))?;
    let (found, stored_hash) = sql::find(conn, id, now).await?.ok_or_else(|| refused("not valid"))?;
    if stored_hash != hash(secret) {
        return Err(refused("not valid"));
    }
    match found.status.as_str() {
        "REVOKED" => return Err(refused("revoked")),
        "EXPIRED" => return Err(refused("expired")),
        "USED_UP" => return Err(refused("used up (as many hosts joined with it as it allows)")),
        _ => {}
    }
    // Counted under the write lock: two hosts racing for the last use cannot both have it.
    if !sql::mark_used(conn, id, now).await? {
        return Err(refused("used up (as many hosts joined with it as it allows)"));
    }
    Ok(found)
}

/// [`verify_in`] in a transaction of its own.
pub async fn verify(store: &Store, token: &str) -> Result<JoinToken> {
    let mut w = store.write().await?;
    let found = verify_in(w.conn(), token, &store::now()).await?;
    w.commit().await?;
    Ok(found)
}

/// SHA-256 in hex, for secrets stored as hashes (join tokens, instance credentials).
pub fn hash_secret(secret: &str) -> String {
    hash(secret)
}
