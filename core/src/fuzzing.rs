/*!
The entry points the fuzz targets drive (`fuzz/`), one per kind of untrusted input, each
running the same code the server or agent runs on it. Kept here so that every input a fuzzer
ever found is replayed by `cargo test` (`core/tests/fuzz_regressions.rs`) on the stable
toolchain.
*/

use crate::expr::Facts;
use crate::task_policy::TaskPolicy;

/// A pasted task definition: parse, type, validate, then the task policy's check.
pub fn task_definition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(registration) = crate::task_definition::parse_registration(text) {
        let _ = TaskPolicy::default().check_definition(&registration.spec);
        let _ = serde_json::to_string(&registration.spec);
    }
}

/// An agent's message as the server reads it, and the checks of every report in it.
pub fn agent_message(data: &[u8]) {
    use crate::protocol::AgentMessage;
    let Ok(text) = std::str::from_utf8(data) else { return };
    match crate::protocol::parse_agent_message(text) {
        Ok(AgentMessage::TaskStateChange { task }) => {
            let _ = task.validate();
        }
        Ok(AgentMessage::Reconcile { tasks } | AgentMessage::Hello { tasks, .. }) => {
            for task in &tasks {
                let _ = task.validate();
            }
        }
        _ => {}
    }
}

/// A server's message as an agent reads it: a start is checked against its limits and the
/// strictest policy before anything would run.
pub fn server_message(data: &[u8]) {
    use crate::protocol::ServerMessage;
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(ServerMessage::StartTask { task }) = serde_json::from_str::<ServerMessage>(text) {
        let _ = task.check_limits();
        let _ = TaskPolicy::default().check_spec(&task);
        let _ = task.static_host_ports();
    }
}

/// A placement constraint's expression, parsed and evaluated against one host.
pub fn expression(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(expr) = crate::expr::parse(text) {
        let _ = expr.matches(&Host);
    }
}

/// A host with a little of everything an expression can ask about.
struct Host;

impl Facts for Host {
    fn attribute(&self, name: &str) -> Option<&str> {
        match name {
            "ecs.availability-zone" => Some("us-east-1a"),
            "ecs.instance-type" => Some("t3.large"),
            "flag" => Some(""),
            _ => None,
        }
    }
    fn instance_id(&self) -> &str {
        "0123456789abcdef"
    }
    fn agent_connected(&self) -> bool {
        true
    }
    fn agent_version(&self) -> &str {
        "1.2.10"
    }
    fn registered_at(&self) -> &str {
        "2026-01-01T00:00:00.000Z"
    }
    fn running_tasks_count(&self) -> u64 {
        3
    }
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        ["service:web", "family:batch"].into_iter().any(test)
    }
}
