/*!
Stage one of registering: untrusted text → a typed [`TaskDefinitionSpec`].

People paste three shapes: a `RegisterTaskDefinition` input, the output of
`describe-task-definition` (with read-only fields), or that output still wrapped as
`{"taskDefinition": {…}}`. All three register; read-only fields are dropped and named back
to the caller. Explicit `null`s mean "absent" (ECS's old console wrote them).
*/

use super::{TaskDefinitionSpec, validate};
use crate::{FieldError, WharfError};
use serde_json::Value;

/// Fields that describe a registered revision and are set by the server, never by the user.
const READ_ONLY: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "requiresAttributes",
    "compatibilities",
    "deleteRequestedAt",
];

/// A checked document, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub spec: TaskDefinitionSpec,
    /// Read-only fields found in the document and ignored (e.g. `revision`).
    pub ignored_fields: Vec<String>,
}

/// Parses and validates a task definition document typed by a person.
pub fn parse_registration(text: &str) -> Result<Registration, WharfError> {
    parse_registration_value(parse_document(text)?)
}

/// Parses JSON text; a syntax error names the line and column.
pub fn parse_document(text: &str) -> Result<Value, WharfError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        WharfError::invalid(vec![FieldError {
            field: String::new(),
            message: format!(
                "the document is not valid JSON: {} at line {}, column {}",
                describe_json_error(&e),
                e.line(),
                e.column()
            ),
        }])
    })?;
    match crate::text::find_nul(&value) {
        Some(field) => Err(WharfError::invalid_field(field, crate::text::NUL_MESSAGE)),
        None => Ok(value),
    }
}

/// Like [`parse_registration`], for a document already parsed as JSON.
pub fn parse_registration_value(value: Value) -> Result<Registration, WharfError> {
    let Value::Object(mut object) = strip_nulls(value) else {
        return Err(WharfError::invalid_field("", "a task definition is a JSON object ({ … })"));
    };
    let mut ignored_fields = Vec::new();
    // The output of describe-task-definition: {"taskDefinition": {…}, "tags": […]}.
    if !object.contains_key("containerDefinitions")
        && let Some(Value::Object(inner)) = object.remove("taskDefinition") {
            let outer_tags = object.remove("tags");
            ignored_fields.extend(object.keys().cloned());
            object = inner;
            if let (Some(tags), false) = (outer_tags, object.contains_key("tags")) {
                object.insert("tags".into(), tags);
            }
        }
    for field in READ_ONLY {
        if object.remove(field).is_some() {
            ignored_fields.push(field.to_string());
        }
    }
    let mut spec: TaskDefinitionSpec =
        serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            WharfError::invalid_field(field, humane_serde_message(&e.inner().to_string()))
        })?;
    let errors = validate(&spec);
    if errors.is_empty() {
        normalise(&mut spec);
    }
    errors.finish(Registration { spec, ignored_fields })
}

/// Stores task cpu/memory the way ECS returns them: integer strings.
fn normalise(spec: &mut TaskDefinitionSpec) {
    if let Some(cpu) = spec.cpu.as_deref().and_then(|c| crate::units::parse_cpu(c).ok()) {
        spec.cpu = Some(cpu.to_string());
    }
    if let Some(mem) = spec.memory.as_deref().and_then(|m| crate::units::parse_memory(m).ok()) {
        spec.memory = Some(mem.to_string());
    }
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "the document ends early".to_string(),
        _ => {
            let text = e.to_string();
            text.split(" at line ").next().unwrap_or(&text).to_string()
        }
    }
}

/// serde speaks of `i64` and `sequence`; people speak of numbers and lists.
fn humane_serde_message(message: &str) -> String {
    message
        .replace("expected i64", "expected a whole number")
        .replace("expected a sequence", "expected a list [ … ]")
        .replace("expected a boolean", "expected true or false")
        .replace("invalid type: ", "wrong type: ")
        .replace("struct ", "")
        .replace("a string", "text")
}
