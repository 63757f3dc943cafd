/*!
Evaluating a parsed expression against one container instance. What an instance offers is a
[`Facts`] implementation, so the scheduler's compact snapshot and any other view of an
instance answer the same way.

Rules (ECS's, made precise where ECS is silent):
- an attribute without a value is present with the value `""`; a missing attribute fails
  every test except `!=`, `!~`, `not_in` and `!exists`;
- `>`/`<` compare numerically when both sides are numbers, dotted versions part by part
  (`agentVersion`), and as text otherwise (ISO dates order as text);
- `task:group` holds every group of the tasks on the instance: `==`/`in`/`=~` ask whether any
  task is in the group, `!=`/`not_in`/`!~` whether none is, `exists` whether it runs any task.
*/

use super::{CmpOp, Expr, Subject};
use std::cmp::Ordering;

/// What a condition can look at on one container instance.
pub trait Facts {
    /// `Some("")` for an attribute without a value, `None` when absent.
    fn attribute(&self, name: &str) -> Option<&str>;
    fn instance_id(&self) -> &str;
    fn agent_connected(&self) -> bool;
    fn agent_version(&self) -> &str;
    fn registered_at(&self) -> &str;
    /// Tasks on the instance that have not stopped.
    fn running_tasks_count(&self) -> u64;
    /// Whether any task on the instance is in a group for which `test` holds.
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool;
}

impl Expr {
    /// Whether the instance is a member of the group this expression describes.
    pub fn matches<F: Facts + ?Sized>(&self, facts: &F) -> bool {
        match self {
            Expr::And(a, b) => a.matches(facts) && b.matches(facts),
            Expr::Or(a, b) => a.matches(facts) || b.matches(facts),
            Expr::Not(a) => !a.matches(facts),
            Expr::Exists { subject: Subject::TaskGroup, negated } => facts.any_task_group(&mut |_| true) != *negated,
            Expr::Exists { subject, negated } => scalar(facts, subject).is_some() != *negated,
            Expr::In { subject: Subject::TaskGroup, values, negated } => {
                facts.any_task_group(&mut |g| values.iter().any(|v| v == g)) != *negated
            }
            Expr::In { subject, values, negated } => {
                scalar(facts, subject).is_some_and(|v| values.contains(&v)) != *negated
            }
            Expr::Compare { subject: Subject::TaskGroup, op, value, regex } => {
                let (negated, op) = match op {
                    CmpOp::Ne => (true, CmpOp::Eq),
                    CmpOp::NotMatches => (true, CmpOp::Matches),
                    other => (false, *other),
                };
                facts.any_task_group(&mut |g| compare(&Subject::TaskGroup, g, op, value, regex.as_ref())) != negated
            }
            Expr::Compare { subject, op, value, regex } => match scalar(facts, subject) {
                Some(actual) => compare(subject, &actual, *op, value, regex.as_ref()),
                None => matches!(op, CmpOp::Ne | CmpOp::NotMatches),
            },
        }
    }

    /// Whether the answer can change as tasks are placed (it reads task counts or groups).
    pub fn reads_tasks(&self) -> bool {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.reads_tasks() || b.reads_tasks(),
            Expr::Not(a) => a.reads_tasks(),
            Expr::Compare { subject, .. } | Expr::Exists { subject, .. } | Expr::In { subject, .. } => {
                matches!(subject, Subject::RunningTasksCount | Subject::TaskGroup)
            }
        }
    }
}

fn scalar<F: Facts + ?Sized>(facts: &F, subject: &Subject) -> Option<String> {
    match subject {
        Subject::Attribute(name) => facts.attribute(name).map(str::to_string),
        Subject::AgentConnected => Some(facts.agent_connected().to_string()),
        Subject::AgentVersion => Some(facts.agent_version().to_string()),
        Subject::InstanceId => Some(facts.instance_id().to_string()),
        Subject::RegisteredAt => Some(facts.registered_at().to_string()),
        Subject::RunningTasksCount => Some(facts.running_tasks_count().to_string()),
        Subject::TaskGroup => None,
    }
}

fn compare(subject: &Subject, actual: &str, op: CmpOp, value: &str, regex: Option<&regex_lite::Regex>) -> bool {
    let order = || order(subject, actual, value);
    match op {
        CmpOp::Eq => actual == value,
        CmpOp::Ne => actual != value,
        CmpOp::Gt => order() == Ordering::Greater,
        CmpOp::Ge => order() != Ordering::Less,
        CmpOp::Lt => order() == Ordering::Less,
        CmpOp::Le => order() != Ordering::Greater,
        CmpOp::Matches => regex.is_some_and(|r| r.is_match(actual)),
        CmpOp::NotMatches => !regex.is_some_and(|r| r.is_match(actual)),
    }
}

fn order(subject: &Subject, a: &str, b: &str) -> Ordering {
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    if *subject == Subject::AgentVersion {
        let parts = |s: &str| s.trim_start_matches('v').split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
        return parts(a).cmp(&parts(b));
    }
    a.cmp(b)
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    struct Host {
        attrs: Vec<(&'static str, &'static str)>,
        groups: Vec<&'static str>,
        tasks: u64,
    }

    impl Facts for Host {
        fn attribute(&self, name: &str) -> Option<&str> {
            self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        fn instance_id(&self) -> &str {
            "i-1"
        }
        fn agent_connected(&self) -> bool {
            true
        }
        fn agent_version(&self) -> &str {
            "1.10.2"
        }
        fn registered_at(&self) -> &str {
            "2026-11-20T10:00:00Z"
        }
        fn running_tasks_count(&self) -> u64 {
            self.tasks
        }
        fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
            self.groups.iter().any(|g| test(g))
        }
    }

    #[test]
    fn evaluates_like_ecs() {
        let host = Host { attrs: vec![("zone", "b"), ("gpu", ""), ("cores", "16")], groups: vec!["service:web"], tasks: 3 };
        let cases = [
            ("attribute:zone == b", true),
            ("attribute:zone != b", false),
            ("attribute:missing != b", true),
            ("attribute:missing == b", false),
            ("attribute:gpu exists", true),
            ("attribute:missing !exists", true),
            ("attribute:zone in [a, b]", true),
            ("attribute:zone not_in [a, b]", false),
            ("attribute:zone =~ [a-c]", true),
            ("attribute:cores > 8", true),
            ("attribute:cores <= 8", false),
            ("runningTasksCount < 4", true),
            ("runningTasksCount >= 4", false),
            ("agentVersion > 1.9.0", true),
            ("agentConnected == true", true),
            ("registeredAt < 2026-11-21", true),
            ("instanceId == i-1", true),
            ("task:group == service:web", true),
            ("task:group != service:web", false),
            ("task:group in [service:db, service:web]", true),
            ("task:group =~ service:.*", true),
            ("not (attribute:zone == a) and (attribute:gpu exists or attribute:x exists)", true),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap().matches(&host), want, "{text}");
        }
        assert!(parse("runningTasksCount < 4").unwrap().reads_tasks());
        assert!(!parse("attribute:zone == b").unwrap().reads_tasks());
    }
}
