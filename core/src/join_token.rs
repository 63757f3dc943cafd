/*! Join tokens: what a host presents once to register into a cluster. */

use crate::task_definition::Attribute;
use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

/// Shortest and longest lifetime a token may be given.
pub const MIN_EXPIRY_SECONDS: i64 = 60;
pub const MAX_EXPIRY_SECONDS: i64 = 366 * 24 * 3600;
/// A token's lifetime when none is asked for: a token left lying around stops working.
pub const DEFAULT_EXPIRY_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateJoinTokenInput {
    /// What the token is for, e.g. "rack 3".
    #[serde(default)]
    pub description: Option<String>,
    /// Lifetime in seconds; a day when absent.
    #[serde(default)]
    pub expires_in_seconds: Option<i64>,
    /// How many hosts may join with it; any number until it expires when absent.
    #[serde(default)]
    pub max_uses: Option<i64>,
    /// Attributes the hosts that join with it get whatever they say of themselves, e.g.
    /// `ecs.availability-zone`: what placement may trust.
    #[serde(default)]
    pub attributes: Option<Vec<Attribute>>,
}

/// The most hosts one token may be limited to (a larger fleet takes a token without a limit).
pub const MAX_USES: i64 = 10_000;

impl CreateJoinTokenInput {
    pub fn validate(&self) -> Result<(), WharfError> {
        let mut errors = FieldErrors::new();
        if self.description.as_deref().is_some_and(|d| d.chars().count() > 256) {
            errors.push("description", "a description is at most 256 characters");
        }
        if let Some(s) = self.expires_in_seconds.filter(|s| !(MIN_EXPIRY_SECONDS..=MAX_EXPIRY_SECONDS).contains(s)) {
            errors.push(
                "expiresInSeconds",
                format!("{s} is out of range ({MIN_EXPIRY_SECONDS} to {MAX_EXPIRY_SECONDS} seconds); leave it out for a token that does not expire"),
            );
        }
        if let Some(n) = self.max_uses.filter(|n| !(1..=MAX_USES).contains(n)) {
            errors.push("maxUses", format!("{n} is out of range (1 to {MAX_USES}); leave it out for no limit"));
        }
        let attributes = self.attributes.as_deref().unwrap_or_default();
        if attributes.len() > MAX_TOKEN_ATTRIBUTES {
            errors.push("attributes", format!("at most {MAX_TOKEN_ATTRIBUTES} attributes; there are {}", attributes.len()));
        }
        crate::instance::check_given_attributes(&mut errors, "attributes", attributes);
        errors.finish(())
    }
}

/// A join token as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinToken {
    pub id: String,
    pub cluster_name: String,
    pub description: String,
    /// ACTIVE, EXPIRED, USED_UP (its `maxUses` hosts joined) or REVOKED.
    pub status: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<i64>,
    /// Hosts that joined with it.
    #[serde(default)]
    pub uses: i64,
    /// What its hosts get whatever they say of themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
}

/// The most attributes a join token sets.
pub const MAX_TOKEN_ATTRIBUTES: usize = 20;

/// The clear token is `wjt_<id>_<secret>`: the id finds the row, the secret proves it.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("wjt_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_and_garbage_is_refused() {
        let token = format!("wjt_{}_{}", "a".repeat(16), "b".repeat(64));
        assert_eq!(split_token(&token), Some(("aaaaaaaaaaaaaaaa", &*"b".repeat(64))));
        assert_eq!(split_token("wjt_zz_yy"), None);
        assert_eq!(split_token(""), None);
        assert!(CreateJoinTokenInput { expires_in_seconds: Some(5), ..Default::default() }.validate().is_err());
    }
}
