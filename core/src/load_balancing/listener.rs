/*! Listeners: a port on the load balancer, its rules, and where the rest goes. */

use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

/// The most rules a listener holds (ALB's default quota is 100).
pub const MAX_RULES: usize = 100;
/// Values a rule's condition may list (ALB: 5 per condition).
pub const MAX_CONDITION_VALUES: usize = 5;

/// ELB's action; `forward` to a target group is the one Wharf has.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListenerAction {
    /// `forward`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// A target group of the listener's cluster, by ARN or by name.
    #[serde(default)]
    pub target_group_arn: Option<String>,
}

/// ELB's rule condition: `host-header` or `path-pattern`, with up to five patterns
/// (`*` and `?` as wildcards; hosts ignore case, paths do not).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleCondition {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

/// The body of CreateListener. Ports are the load balancer's, so one port is one listener
/// across all clusters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateListenerInput {
    #[serde(default)]
    pub port: Option<i64>,
    /// HTTP (HTTP/1.1 and HTTP/2 with prior knowledge).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Where requests no rule takes go; none answers 404.
    #[serde(default)]
    pub default_actions: Option<Vec<ListenerAction>>,
}

/// The body of ModifyListener.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModifyListenerInput {
    #[serde(default)]
    pub default_actions: Option<Vec<ListenerAction>>,
}

/// The body of CreateRule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateRuleInput {
    /// 1 to 50000; lower goes first, and each is used once per listener.
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub conditions: Option<Vec<RuleCondition>>,
    #[serde(default)]
    pub actions: Option<Vec<ListenerAction>>,
}

/// A rule as stored and described: its conditions and the target group it forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListenerRule {
    pub rule_arn: String,
    pub priority: i64,
    pub conditions: Vec<RuleCondition>,
    pub actions: Vec<ListenerAction>,
    /// The team of the target group it forwards to, which owns the rule (none: an admin's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_name: Option<String>,
}

impl ListenerRule {
    /// The patterns of one condition field.
    pub fn values(&self, field: &str) -> Vec<String> {
        self.conditions.iter().filter(|c| c.field.as_deref() == Some(field)).flat_map(|c| c.values.clone().unwrap_or_default()).collect()
    }

    pub fn target_group_arn(&self) -> &str {
        self.actions.first().and_then(|a| a.target_group_arn.as_deref()).unwrap_or_default()
    }
}

/// A listener as described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Listener {
    pub listener_arn: String,
    pub cluster_name: String,
    pub port: i64,
    pub protocol: String,
    pub default_actions: Vec<ListenerAction>,
    /// By priority.
    pub rules: Vec<ListenerRule>,
    pub created_at: String,
    /// Whether this server serves the port: `ACTIVE`, `PROVISIONING` (not bound yet) or
    /// `FAILED` (with `stateReason`, e.g. the port is taken).
    #[serde(default)]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// Where a browser reaches it: `http://<the server's host>:<port>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

pub fn listener_arn(cluster: &str, port: i64) -> String {
    super::arn(&format!("listener/app/{cluster}/{port}"))
}

pub fn rule_arn(cluster: &str, port: i64, priority: i64) -> String {
    super::arn(&format!("listener-rule/app/{cluster}/{port}/{priority}"))
}

/// Checks a list of actions: exactly one `forward` with a target group.
fn check_actions(errors: &mut FieldErrors, field: &str, actions: &[ListenerAction], required: bool) {
    if actions.is_empty() {
        if required {
            errors.push(field, "one action is required: {\"type\": \"forward\", \"targetGroupArn\": …}");
        }
        return;
    }
    if actions.len() > 1 {
        errors.push(field, "one action per rule or listener (forward to one target group)");
    }
    for (i, action) in actions.iter().enumerate() {
        if action.kind.as_deref() != Some("forward") {
            errors.push(format!("{field}[{i}].type"), "the action type is 'forward'");
        }
        if action.target_group_arn.as_deref().is_none_or(str::is_empty) {
            errors.push(format!("{field}[{i}].targetGroupArn"), "the target group to forward to (its ARN or name) is required");
        }
    }
}

impl CreateListenerInput {
    /// The port and the default actions (target groups as given, not yet resolved).
    pub fn validate(&self) -> Result<(i64, Vec<ListenerAction>), WharfError> {
        let mut errors = FieldErrors::new();
        let port = match self.port {
            None => {
                errors.push("port", "the port to listen on is required (1 to 65535)");
                0
            }
            Some(p) if !(1..=65535).contains(&p) => {
                errors.push("port", format!("{p} is not a port (1 to 65535)"));
                0
            }
            Some(p) => p,
        };
        if let Some(p) = self.protocol.as_deref().filter(|p| *p != "HTTP") {
            errors.push("protocol", format!("'{p}' is not supported; listeners speak HTTP"));
        }
        let actions = self.default_actions.clone().unwrap_or_default();
        check_actions(&mut errors, "defaultActions", &actions, false);
        errors.finish((port, actions))
    }
}

impl ModifyListenerInput {
    pub fn validate(&self) -> Result<Vec<ListenerAction>, WharfError> {
        let mut errors = FieldErrors::new();
        let actions = self.default_actions.clone().unwrap_or_default();
        check_actions(&mut errors, "defaultActions", &actions, false);
        errors.finish(actions)
    }
}

impl CreateRuleInput {
    /// The priority, the conditions and the action (its target group not yet resolved).
    pub fn validate(&self) -> Result<(i64, Vec<RuleCondition>, ListenerAction), WharfError> {
        let mut errors = FieldErrors::new();
        let priority = match self.priority {
            Some(p) if (1..=50_000).contains(&p) => p,
            Some(p) => {
                errors.push("priority", format!("{p} is out of range (1 to 50000)"));
                0
            }
            None => {
                errors.push("priority", "a priority is required (1 to 50000; lower goes first)");
                0
            }
        };
        let conditions = self.conditions.clone().unwrap_or_default();
        if conditions.is_empty() {
            errors.push("conditions", "at least one condition (host-header or path-pattern) is required; a listener's default action takes the rest");
        }
        let mut fields = std::collections::HashSet::new();
        for (i, condition) in conditions.iter().enumerate() {
            let at = |name: &str| format!("conditions[{i}].{name}");
            let field = condition.field.as_deref().unwrap_or_default();
            if !matches!(field, "host-header" | "path-pattern") {
                errors.push(at("field"), format!("'{field}' is not a condition Wharf knows; use host-header or path-pattern"));
            } else if !fields.insert(field) {
                errors.push(at("field"), format!("{field} appears twice; list its patterns in one condition"));
            }
            let values = condition.values.as_deref().unwrap_or_default();
            if values.is_empty() || values.len() > MAX_CONDITION_VALUES {
                errors.push(at("values"), format!("1 to {MAX_CONDITION_VALUES} patterns"));
            }
            for (j, value) in values.iter().enumerate() {
                let bad = value.is_empty()
                    || value.len() > 128
                    || value.chars().any(|c| !c.is_ascii_graphic())
                    || (field == "path-pattern" && !value.starts_with('/') && !value.starts_with('*'));
                if bad {
                    let what = if field == "path-pattern" { "a path pattern starts with '/'" } else { "a host pattern" };
                    errors.push(format!("conditions[{i}].values[{j}]"), format!("{what} is 1 to 128 printable characters without spaces ('*' and '?' as wildcards)"));
                }
            }
        }
        let actions = self.actions.clone().unwrap_or_default();
        check_actions(&mut errors, "actions", &actions, true);
        let action = actions.into_iter().next().unwrap_or_default();
        errors.finish((priority, conditions, action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_needs_a_priority_conditions_and_one_forward() {
        let input: CreateRuleInput = serde_json::from_value(json!({"priority": 10,
            "conditions": [{"field": "host-header", "values": ["*.shop.example"]}, {"field": "path-pattern", "values": ["/api/*"]}],
            "actions": [{"type": "forward", "targetGroupArn": "api"}]}))
        .unwrap();
        let (priority, conditions, action) = input.validate().unwrap();
        assert_eq!((priority, conditions.len(), action.target_group_arn.as_deref()), (10, 2, Some("api")));

        let bad: CreateRuleInput = serde_json::from_value(json!({"priority": 0,
            "conditions": [{"field": "query-string", "values": ["a"]}, {"field": "path-pattern", "values": ["api", "/ok"]},
                           {"field": "path-pattern", "values": []}],
            "actions": [{"type": "redirect"}]}))
        .unwrap();
        let err = bad.validate().unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["priority", "conditions[0].field", "conditions[1].values[0]", "conditions[2].field", "conditions[2].values", "actions[0].type", "actions[0].targetGroupArn"]
        );
    }

    #[test]
    fn a_listener_needs_a_port_and_at_most_one_default() {
        let ok: CreateListenerInput = serde_json::from_value(json!({"port": 8080})).unwrap();
        assert_eq!(ok.validate().unwrap(), (8080, vec![]));
        let bad: CreateListenerInput = serde_json::from_value(json!({"port": 70000, "protocol": "TCP",
            "defaultActions": [{"type": "forward", "targetGroupArn": "a"}, {"type": "forward", "targetGroupArn": "b"}]}))
        .unwrap();
        let fields: Vec<String> = bad.validate().unwrap_err().errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["port", "protocol", "defaultActions"]);
    }
}
