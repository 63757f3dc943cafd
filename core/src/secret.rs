/*!
Secrets a team keeps in Wharf for its tasks, in the shape of AWS Secrets Manager: a task
definition's `secrets` (`{"name": "DB_PASSWORD", "valueFrom": "prod/db"}`) name them, and the
agent that runs the task receives the value and sets it in the container's environment. The
value is written once and never read back through the API.
*/

use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

/// The attribute of an agent that sets secrets in containers' environment (ECS's name); an
/// agent without it is sent no value.
pub const CAPABILITY: &str = "ecs.capability.secrets.asm.environment-variables";

/// Secrets one task may name: a start message carries every value, and must stay well under
/// an agent's frame limit.
pub const MAX_PER_TASK: usize = 50;

/// Secrets Manager's limit on a secret's size.
pub const MAX_VALUE_BYTES: usize = 65_536;
/// Secrets Manager's limit on a name's length.
pub const MAX_NAME_CHARS: usize = 512;

/// `arn:wharf:secretsmanager:<region>:<account>:secret:<name>`.
pub fn arn(name: &str) -> String {
    format!("arn:wharf:secretsmanager:{}:{}:secret:{name}", crate::arn::REGION, crate::arn::ACCOUNT)
}

/// The secret a `valueFrom` names: its name, or its ARN.
pub fn name_of(value_from: &str) -> &str {
    value_from.strip_prefix(&arn("")).unwrap_or(value_from)
}

/// Secrets Manager's rule for names: 1 to 512 of letters, digits and `/_+=.@-`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("is 1 to {MAX_NAME_CHARS} characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c))) {
        return Err(format!("may hold letters, digits and / _ + = . @ - only, not {c:?}"));
    }
    Ok(())
}

/// A value as it may be stored and handed to a container's environment.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_VALUE_BYTES {
        return Err(format!("is 1 to {MAX_VALUE_BYTES} bytes"));
    }
    if value.contains('\0') {
        return Err("cannot hold a NUL character (an environment variable cannot)".into());
    }
    Ok(())
}

/// A secret's value in transit: its `Debug` never shows it, so a logged message or spec does
/// not carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateSecretInput {
    #[serde(default)]
    pub name: Option<String>,
    /// The value; never returned.
    #[serde(default)]
    pub secret_string: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The team that owns it; the caller's only team when absent.
    #[serde(default)]
    pub team: Option<String>,
}

impl CreateSecretInput {
    pub fn validate(&self) -> Result<(), WharfError> {
        let mut errors = FieldErrors::new();
        match self.name.as_deref() {
            None => errors.push("name", "a secret needs a name"),
            Some(n) => {
                if let Err(m) = check_name(n) {
                    errors.push("name", format!("a secret's name {m}"));
                }
            }
        }
        check_secret_string(&mut errors, self.secret_string.as_deref());
        check_description(&mut errors, self.description.as_deref());
        errors.finish(())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutSecretValueInput {
    /// The new value; never returned.
    #[serde(default)]
    pub secret_string: Option<String>,
}

impl PutSecretValueInput {
    pub fn validate(&self) -> Result<(), WharfError> {
        let mut errors = FieldErrors::new();
        check_secret_string(&mut errors, self.secret_string.as_deref());
        errors.finish(())
    }
}

fn check_secret_string(errors: &mut FieldErrors, value: Option<&str>) {
    match value {
        None => errors.push("secretString", "a secret needs a value"),
        Some(v) => {
            if let Err(m) = check_value(v) {
                errors.push("secretString", format!("a secret's value {m}"));
            }
        }
    }
}

fn check_description(errors: &mut FieldErrors, description: Option<&str>) {
    if description.is_some_and(|d| d.chars().count() > 2048 || d.contains('\0')) {
        errors.push("description", "a description is at most 2048 characters, without NUL");
    }
}

/// A secret as listed and described: never its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Secret {
    pub name: String,
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub description: String,
    pub created_date: String,
    pub last_changed_date: String,
    pub created_by: String,
    /// How many times the value was set (1 after creation).
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_arns_follow_secrets_manager() {
        assert!(check_name("prod/db-password_1+=.@").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").unwrap_err().contains("' '"));
        assert!(check_name(&"x".repeat(513)).is_err());
        assert!(check_value("").is_err());
        assert!(check_value("a\0b").unwrap_err().contains("NUL"));
        assert!(check_value(&"v".repeat(MAX_VALUE_BYTES + 1)).is_err());
        assert_eq!(name_of(&arn("prod/db")), "prod/db");
        assert_eq!(name_of("prod/db"), "prod/db");
        let e = CreateSecretInput { name: Some("ok".into()), ..Default::default() }.validate().unwrap_err();
        assert_eq!(e.errors[0].field, "secretString");
    }

    #[test]
    fn task_definitions_name_secrets_by_name_or_wharf_arn_and_a_bounded_number_of_them() {
        let spec = |secrets: serde_json::Value| -> crate::task_definition::TaskDefinitionSpec {
            serde_json::from_value(serde_json::json!({ "family": "f", "containerDefinitions": [{ "name": "a", "image": "i", "memory": 8,
                "environment": [{ "name": "PLAIN", "value": "x" }], "secrets": secrets }] })).unwrap()
        };
        let problems = |secrets| crate::task_definition::validate(&spec(secrets)).into_vec();
        assert!(problems(serde_json::json!([{ "name": "A", "valueFrom": "team/db" }, { "name": "B", "valueFrom": arn("team/db") }])).is_empty());
        let bad = problems(serde_json::json!([{ "name": "PLAIN", "valueFrom": "x" }, { "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/p" },
            { "name": "C", "valueFrom": format!("{}:password::", arn("db")) }]));
        let fields: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["containerDefinitions[0].secrets[0].name", "containerDefinitions[0].secrets[1].name", "containerDefinitions[0].secrets[1].valueFrom", "containerDefinitions[0].secrets[2].valueFrom"], "{bad:?}");
        assert!(bad[2].message.contains("not a Wharf secret") && bad[3].message.contains("JSON key"));
        let many: Vec<_> = (0..=MAX_PER_TASK).map(|i| serde_json::json!({ "name": format!("V{i}"), "valueFrom": "s" })).collect();
        assert_eq!(problems(serde_json::Value::Array(many))[0].field, "containerDefinitions");
        let nul = CreateSecretInput { name: Some("n".into()), secret_string: Some("v".into()), description: Some("a\0b".into()), team: None };
        assert_eq!(nul.validate().unwrap_err().errors[0].field, "description");
    }

    #[test]
    fn a_value_never_shows_in_debug_output() {
        let v = SecretValue::new("hunter2".into());
        assert!(!format!("{v:?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"hunter2\"");
    }
}
