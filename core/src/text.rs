//! Rules every piece of text obeys, whoever sent it.

use serde_json::Value;

/// PostgreSQL keeps no NUL in text or JSON; SQLite would. Refused at the door, so both
/// databases hold the same things and one sender's NUL cannot fail a write shared with others.
pub const NUL_MESSAGE: &str = "text may not contain the NUL character (\\u0000)";

/// The path (`containerDefinitions[0].environment[1].value`) of the first string or key in
/// `value` that holds a NUL character.
pub fn find_nul(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| find_nul(v).map(|rest| format!("[{i}]{}", dotted(&rest)))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(k.escape_default().to_string());
            }
            find_nul(v).map(|rest| format!("{k}{}", dotted(&rest)))
        }),
        _ => None,
    }
}

/// A nested path as it follows its parent: `[2]` as is, a key after a dot.
fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') { rest.to_string() } else { format!(".{rest}") }
}

/// Whether a JSON text may hold a NUL: raw NULs are not valid JSON, so only the escape can.
/// A cheap test before a walk of the parsed value.
pub fn may_hold_nul(json: &str) -> bool {
    json.contains("\\u0000")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_path_of_the_first_nul() {
        let doc = json!({ "family": "f", "containerDefinitions": [{ "name": "a" }, { "environment": [{ "name": "X", "value": "a\u{0}b" }] }] });
        assert_eq!(find_nul(&doc).as_deref(), Some("containerDefinitions[1].environment[0].value"));
        assert_eq!(find_nul(&json!(["ok", ["\u{0}"]])).as_deref(), Some("[1][0]"));
        assert_eq!(find_nul(&json!({ "tags": { "k\u{0}": "v" } })).as_deref(), Some("tags.k\\u{0}"));
        assert_eq!(find_nul(&json!({ "a": [1, "two", { "b": null }] })), None);
        assert!(may_hold_nul(r#"{"a":"\u0000"}"#) && !may_hold_nul(r#"{"a":"u0000"}"#));
    }
}
