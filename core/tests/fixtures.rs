//! The task-definition fixtures are the contract: valid ones register and read back equal,
//! invalid ones fail at the expected field path. The project carries its own set
//! (`fixtures/task-definitions/`); `WHARF_CONTRACT_FIXTURES` names another folder of the same
//! layout (an upstream copy of the contract) to check as well.

use serde_json::Value;
use std::path::{Path, PathBuf};
use wharf_core::task_definition::parse_registration;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/task-definitions")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("expected-errors.json"))
        .collect();
    files.sort();
    files
}

#[test]
fn valid_fixtures_register_unchanged() {
    check_valid(&fixtures());
}

#[test]
fn invalid_fixtures_fail_at_the_expected_path() {
    check_invalid(&fixtures().join("invalid"));
}

#[test]
fn an_upstream_contract_holds_too() {
    let Some(dir) = std::env::var_os("WHARF_CONTRACT_FIXTURES").map(PathBuf::from) else {
        eprintln!("skipped: WHARF_CONTRACT_FIXTURES names no upstream copy of the fixtures");
        return;
    };
    check_valid(&dir);
    check_invalid(&dir.join("invalid"));
}

fn check_valid(dir: &Path) {
    let files = json_files(dir);
    assert!(files.len() >= 4, "fixtures not found in {}", dir.display());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let reg = parse_registration(&text).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert!(reg.ignored_fields.is_empty());
        let back = serde_json::to_value(&reg.spec).unwrap();
        let original: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, original, "{} does not read back equal", path.display());
    }
}

fn check_invalid(dir: &Path) {
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected-errors.json")).unwrap()).unwrap();
    assert_eq!(json_files(dir).len(), expected.len());
    for (file, field) in expected {
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        let err = parse_registration(&text).expect_err(&file);
        match field {
            Value::Null => {
                assert_eq!(err.errors.len(), 1, "{file}");
                let msg = &err.errors[0].message;
                assert!(msg.contains("line") && msg.contains("column"), "{file}: {msg}");
            }
            Value::String(field) => assert!(
                err.errors.iter().any(|e| e.field == field),
                "{file}: expected an error at {field}, got {:?}",
                err.errors
            ),
            other => panic!("{file}: unexpected expectation {other}"),
        }
        for e in &err.errors {
            assert!(e.message.len() > 10, "{file}: message too terse: {e}");
        }
    }
}

#[test]
fn describe_output_registers_and_names_what_it_ignored() {
    let text = std::fs::read_to_string(fixtures().join("web-nginx.json")).unwrap();
    let mut td: Value = serde_json::from_str(&text).unwrap();
    let original = td.clone();
    td["taskDefinitionArn"] = "arn:aws:ecs:us-east-1:1:task-definition/web:7".into();
    td["revision"] = 7.into();
    td["status"] = "ACTIVE".into();
    td["requiresAttributes"] = serde_json::json!([{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]);
    td["compatibilities"] = serde_json::json!(["EC2"]);
    td["registeredAt"] = "2024-01-01T00:00:00Z".into();
    td["containerDefinitions"][0]["links"] = Value::Null; // the old console's explicit nulls
    let wrapped = serde_json::json!({ "taskDefinition": td });
    let reg = parse_registration(&wrapped.to_string()).unwrap();
    let mut ignored = reg.ignored_fields.clone();
    ignored.sort();
    assert_eq!(ignored, ["compatibilities", "registeredAt", "requiresAttributes", "revision", "status", "taskDefinitionArn"]);
    assert_eq!(serde_json::to_value(&reg.spec).unwrap(), original);
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = r#"{"family": "x y", "cpu": "lots", "containerDefinitions": [
        {"name": "a", "memory": 2, "essential": false, "portMappings": [{"containerPort": 70000}]},
        {"name": "a", "image": "busybox", "memory": 64, "essential": false, "dependsOn": [{"containerName": "zzz", "condition": "START"}]}]}"#;
    let err = parse_registration(text).unwrap_err();
    let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
    for f in ["family", "cpu", "containerDefinitions[0].image", "containerDefinitions[0].memory",
              "containerDefinitions[0].portMappings[0].containerPort", "containerDefinitions[1].name",
              "containerDefinitions[1].dependsOn[0].containerName", "containerDefinitions"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

#[test]
fn task_units_are_normalised_like_ecs() {
    let text = r#"{"family": "u", "cpu": "1 vCPU", "memory": "2 GB",
        "containerDefinitions": [{"name": "a", "image": "busybox"}]}"#;
    let reg = parse_registration(text).unwrap();
    assert_eq!(reg.spec.cpu.as_deref(), Some("1024"));
    assert_eq!(reg.spec.memory.as_deref(), Some("2048"));
}

#[test]
fn wrong_types_name_the_field() {
    let err = parse_registration(r#"{"family": "t", "containerDefinitions": [{"name": "a", "image": "b", "memory": "lots"}]}"#).unwrap_err();
    assert_eq!(err.errors[0].field, "containerDefinitions[0].memory", "{err:?}");
}
