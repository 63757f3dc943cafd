/*! Users, teams and API tokens as the API takes and shows them, with their rules. */

use crate::access::{Grant, Membership, Role};
use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

/// Shortest and longest password accepted (NIST 800-63B: at least 8; long passphrases welcome).
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 256;

/// A user or team name: 1 to 64 of lower-case letters, digits, `.`, `_` and `-`, starting with
/// a letter or digit.
pub fn check_account_name(field: &str, name: &str, errors: &mut FieldErrors) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok {
        errors.push(field, "1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit");
    }
}

pub fn check_password(field: &str, password: &str, errors: &mut FieldErrors) {
    let n = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        errors.push(field, format!("a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters"));
    }
}

/// Sign-in, and the first admin's account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

impl Credentials {
    /// The rules for a new account (sign-in only needs both present).
    pub fn validate_new(&self) -> Result<(), WharfError> {
        let mut errors = FieldErrors::new();
        check_account_name("username", &self.username, &mut errors);
        check_password("password", &self.password, &mut errors);
        errors.finish(())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserInput {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub admin: bool,
}

/// An admin's change of an account: disable or enable it, or set a new password.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateUserInput {
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordInput {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub username: String,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: String,
    pub teams: Vec<Membership>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTeamInput {
    #[serde(default)]
    pub team_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub team_name: String,
    pub created_at: String,
    pub members: Vec<Member>,
    /// Clusters shared with the team.
    pub clusters: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub username: String,
    pub role: Role,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetMemberInput {
    #[serde(default)]
    pub role: String,
}

impl SetMemberInput {
    pub fn role(&self) -> Result<Role, WharfError> {
        Role::parse(&self.role).ok_or_else(|| WharfError::invalid_field("role", "one of viewer, deployer, maintainer"))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokenInput {
    /// What the token is for.
    #[serde(default)]
    pub name: Option<String>,
    /// admin, maintainer, deployer or viewer; the creator's own highest when absent.
    #[serde(default)]
    pub role: Option<String>,
    /// A team token acts for the team, not for its creator.
    #[serde(default)]
    pub team: Option<String>,
    /// `30m`, `12h`, `7d`, or seconds; no expiry when absent.
    #[serde(default)]
    pub expires_in: Option<String>,
}

impl CreateTokenInput {
    /// The role asked for and the lifetime in seconds.
    pub fn validate(&self) -> Result<(Option<Grant>, Option<i64>), WharfError> {
        let mut errors = FieldErrors::new();
        let grant = match self.role.as_deref() {
            None => None,
            Some(r) => match Grant::parse(r) {
                Some(g) => Some(g),
                None => {
                    errors.push("role", "one of admin, maintainer, deployer, viewer");
                    None
                }
            },
        };
        if matches!(grant, Some(Grant::Admin)) && self.team.is_some() {
            errors.push("role", "a team token's role is maintainer, deployer or viewer");
        }
        if self.name.as_deref().is_some_and(|n| n.chars().count() > 128) {
            errors.push("name", "a token's name is at most 128 characters");
        }
        let expires = match self.expires_in.as_deref() {
            None => None,
            Some(text) => match parse_duration(text) {
                Some(s) if (60..=366 * 24 * 3600).contains(&s) => Some(s),
                _ => {
                    errors.push("expiresIn", "a lifetime from 1m to 366d, as 30m, 12h, 7d or seconds");
                    None
                }
            },
        };
        errors.finish((grant, expires))
    }
}

/// `90`, `90s`, `30m`, `12h`, `7d` → seconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// A token as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub role: String,
    pub created_by: String,
    pub created_at: String,
    /// ACTIVE, EXPIRED or REVOKED.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("1d"), Some(86_400));
        assert_eq!(parse_duration("12h"), Some(43_200));
        assert_eq!(parse_duration("30m"), Some(1_800));
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("0d"), None);
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("99999999999999999d"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn names_and_passwords_are_checked_with_their_field() {
        let e = Credentials { username: "Ann Smith".into(), password: "short".into() }.validate_new().unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["username", "password"]);
        assert!(Credentials { username: "ann".into(), password: "a long enough one".into() }.validate_new().is_ok());
    }
}

/// One change or refused attempt: who, when, what, from where, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub team: Option<String>,
    pub action: String,
    pub target: String,
    /// The address the request came from.
    pub source: String,
    /// `allowed`, `denied` or `failed`.
    pub result: String,
    pub detail: String,
}
