/*! Target groups: where a rule sends requests, how their targets' health is checked, and how
long a deregistered target may finish its requests. */

use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

/// ALB's defaults.
pub const DEFAULT_INTERVAL_SECONDS: i64 = 30;
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 5;
pub const DEFAULT_HEALTHY_THRESHOLD: i64 = 5;
pub const DEFAULT_UNHEALTHY_THRESHOLD: i64 = 2;
pub const DEFAULT_DEREGISTRATION_DELAY_SECONDS: i64 = 300;
pub const DEFAULT_MATCHER: &str = "200";

/// `HttpCode` of ELB's matcher: codes and ranges, comma separated ("200", "200-299,404").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Matcher {
    #[serde(default)]
    pub http_code: Option<String>,
}

/// The body of CreateTargetGroup. Absent fields take ALB's defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTargetGroupInput {
    #[serde(default)]
    pub target_group_name: Option<String>,
    /// The owning team; the only team where the caller is a maintainer when absent.
    #[serde(default)]
    pub team_name: Option<String>,
    /// HTTP (the only one so far).
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(flatten)]
    pub settings: TargetGroupSettings,
}

/// What ModifyTargetGroup may change (and CreateTargetGroup sets); absent = unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetGroupSettings {
    #[serde(default)]
    pub health_check_path: Option<String>,
    /// 1 to 300 seconds (ALB: 5 to 300; Wharf allows shorter).
    #[serde(default)]
    pub health_check_interval_seconds: Option<i64>,
    /// 1 to 120 seconds, shorter than the interval.
    #[serde(default)]
    pub health_check_timeout_seconds: Option<i64>,
    /// Passes in a row that make a target healthy (1 to 10).
    #[serde(default)]
    pub healthy_threshold_count: Option<i64>,
    /// Failures in a row that make it unhealthy (1 to 10).
    #[serde(default)]
    pub unhealthy_threshold_count: Option<i64>,
    #[serde(default)]
    pub matcher: Option<Matcher>,
    /// How long a deregistered target may finish its requests (0 to 3600 seconds; ELB's
    /// `deregistration_delay.timeout_seconds`).
    #[serde(default, alias = "deregistrationDelay")]
    pub deregistration_delay_seconds: Option<i64>,
}

/// A target group's settings with every default filled in, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetGroupConfig {
    pub protocol: String,
    pub health_check_path: String,
    pub health_check_interval_seconds: i64,
    pub health_check_timeout_seconds: i64,
    pub healthy_threshold_count: i64,
    pub unhealthy_threshold_count: i64,
    pub matcher: Matcher,
    pub deregistration_delay_seconds: i64,
}

impl Default for TargetGroupConfig {
    fn default() -> Self {
        Self {
            protocol: "HTTP".into(),
            health_check_path: "/".into(),
            health_check_interval_seconds: DEFAULT_INTERVAL_SECONDS,
            health_check_timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            healthy_threshold_count: DEFAULT_HEALTHY_THRESHOLD,
            unhealthy_threshold_count: DEFAULT_UNHEALTHY_THRESHOLD,
            matcher: Matcher { http_code: Some(DEFAULT_MATCHER.into()) },
            deregistration_delay_seconds: DEFAULT_DEREGISTRATION_DELAY_SECONDS,
        }
    }
}

impl TargetGroupConfig {
    /// The matcher's codes as inclusive ranges (valid once checked).
    pub fn matcher_ranges(&self) -> Vec<(u16, u16)> {
        parse_matcher(self.matcher.http_code.as_deref().unwrap_or(DEFAULT_MATCHER)).unwrap_or_else(|_| vec![(200, 200)])
    }
}

/// A target group as described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetGroup {
    pub target_group_arn: String,
    pub target_group_name: String,
    pub cluster_name: String,
    /// The owning team; none for an admin's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_name: Option<String>,
    #[serde(flatten)]
    pub config: TargetGroupConfig,
    pub created_at: String,
    /// Ports of the listeners whose rules forward to it.
    #[serde(default)]
    pub listener_ports: Vec<i64>,
    /// Services whose tasks it reaches.
    #[serde(default)]
    pub service_names: Vec<String>,
}

/// ELB's `TargetHealth`: `initial`, `healthy`, `unhealthy` or `draining`, with a reason code
/// and a description while not healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetHealth {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// ELB's `TargetDescription`: where the load balancer sends a target's requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetDescription {
    /// The instance's address.
    pub id: String,
    /// The task's host port.
    pub port: i64,
}

/// One entry of DescribeTargetHealth, with the task and container behind the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetHealthDescription {
    pub target: TargetDescription,
    pub target_health: TargetHealth,
    pub task_id: String,
    pub service_name: String,
    pub container_name: String,
    pub container_port: i64,
    /// When the load balancer last said something of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// ELB's rule for target group names: 1 to 32 letters, digits and hyphens, not starting or
/// ending with a hyphen.
pub fn check_target_group_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 {
        return Err(format!("a target group name is 1 to 32 characters; '{name}' has {}", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(format!("'{name}' contains '{bad}'; use only letters, digits and hyphens"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!("'{name}' may not start or end with a hyphen"));
    }
    Ok(())
}

/// "200-299,404" → [(200, 299), (404, 404)].
pub fn parse_matcher(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let code = |s: &str| match s.trim().parse::<u16>() {
        Ok(c) if (100..=599).contains(&c) => Ok(c),
        _ => Err(format!("'{}' is not an HTTP status code (100 to 599)", s.trim())),
    };
    let ranges = text
        .split(',')
        .map(|part| match part.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (code(low)?, code(high)?);
                if low > high { Err(format!("the range {low}-{high} runs backwards")) } else { Ok((low, high)) }
            }
            None => code(part).map(|c| (c, c)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ranges.len() > 20 {
        return Err("at most 20 codes or ranges".into());
    }
    Ok(ranges)
}

impl TargetGroupSettings {
    /// Applies these changes to `config`, checking each field and how they fit together.
    pub fn apply(&self, config: &TargetGroupConfig, errors: &mut FieldErrors) -> TargetGroupConfig {
        let mut next = config.clone();
        let mut number = |field: &str, value: Option<i64>, range: std::ops::RangeInclusive<i64>, unit: &str, slot: &mut i64| {
            if let Some(v) = value {
                if range.contains(&v) {
                    *slot = v;
                } else {
                    errors.push(field, format!("{v} is out of range ({} to {} {unit})", range.start(), range.end()));
                }
            }
        };
        number("healthCheckIntervalSeconds", self.health_check_interval_seconds, 1..=300, "seconds", &mut next.health_check_interval_seconds);
        number("healthCheckTimeoutSeconds", self.health_check_timeout_seconds, 1..=120, "seconds", &mut next.health_check_timeout_seconds);
        number("healthyThresholdCount", self.healthy_threshold_count, 1..=10, "checks", &mut next.healthy_threshold_count);
        number("unhealthyThresholdCount", self.unhealthy_threshold_count, 1..=10, "checks", &mut next.unhealthy_threshold_count);
        number("deregistrationDelaySeconds", self.deregistration_delay_seconds, 0..=3600, "seconds", &mut next.deregistration_delay_seconds);
        if let Some(path) = &self.health_check_path {
            if !path.starts_with('/') || path.len() > 1024 || path.chars().any(|c| !c.is_ascii_graphic()) {
                errors.push("healthCheckPath", "a path starts with '/' and has at most 1024 printable characters without spaces");
            } else if path.contains('#') {
                errors.push("healthCheckPath", "a request path has no fragment ('#')");
            } else {
                next.health_check_path = path.clone();
            }
        }
        if let Some(matcher) = &self.matcher {
            match matcher.http_code.as_deref().map(parse_matcher) {
                None => errors.push("matcher.httpCode", "the status codes that count as healthy are required, e.g. \"200\" or \"200-399\""),
                Some(Err(e)) => errors.push("matcher.httpCode", e),
                Some(Ok(_)) => next.matcher = matcher.clone(),
            }
        }
        if next.health_check_timeout_seconds >= next.health_check_interval_seconds {
            errors.push(
                "healthCheckTimeoutSeconds",
                format!("the timeout ({} s) must be shorter than the interval ({} s)", next.health_check_timeout_seconds, next.health_check_interval_seconds),
            );
        }
        next
    }
}

impl CreateTargetGroupInput {
    /// The name and the checked configuration.
    pub fn validate(&self) -> Result<(String, TargetGroupConfig), WharfError> {
        let mut errors = FieldErrors::new();
        let name = self.target_group_name.clone().unwrap_or_default();
        if let Err(e) = check_target_group_name(&name) {
            errors.push("targetGroupName", e);
        }
        if let Some(p) = self.protocol.as_deref().filter(|p| *p != "HTTP") {
            errors.push("protocol", format!("'{p}' is not supported; target groups speak HTTP"));
        }
        if let Some(team) = self.team_name.as_deref()
            && let Err(e) = crate::names::check_name(team)
        {
            errors.push("teamName", e);
        }
        let config = self.settings.apply(&TargetGroupConfig::default(), &mut errors);
        errors.finish((name, config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: serde_json::Value) -> Result<(String, TargetGroupConfig), WharfError> {
        serde_json::from_value::<CreateTargetGroupInput>(json).unwrap().validate()
    }

    #[test]
    fn albs_defaults_fill_what_is_absent() {
        let (name, config) = create(serde_json::json!({"targetGroupName": "web-1"})).unwrap();
        assert_eq!(name, "web-1");
        assert_eq!(config, TargetGroupConfig::default());
        assert_eq!(config.health_check_interval_seconds, 30);
        assert_eq!(config.deregistration_delay_seconds, 300);
        assert_eq!(config.matcher_ranges(), [(200, 200)]);
    }

    #[test]
    fn shorter_checks_are_allowed_and_nonsense_is_named_by_field() {
        let (_, config) = create(serde_json::json!({"targetGroupName": "fast", "healthCheckIntervalSeconds": 2, "healthCheckTimeoutSeconds": 1,
            "healthyThresholdCount": 1, "deregistrationDelay": 5, "matcher": {"httpCode": "200-399"}, "healthCheckPath": "/healthz?deep=1"}))
        .unwrap();
        assert_eq!((config.health_check_interval_seconds, config.deregistration_delay_seconds), (2, 5));
        assert_eq!(config.matcher_ranges(), [(200, 399)]);

        let err = create(serde_json::json!({"targetGroupName": "-bad_", "protocol": "UDP", "healthCheckIntervalSeconds": 0,
            "healthCheckTimeoutSeconds": 40, "unhealthyThresholdCount": 11, "matcher": {"httpCode": "200-99,abc"},
            "healthCheckPath": "health", "deregistrationDelaySeconds": -1}))
        .unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["targetGroupName", "protocol", "healthCheckIntervalSeconds", "unhealthyThresholdCount", "deregistrationDelaySeconds",
             "healthCheckPath", "matcher.httpCode", "healthCheckTimeoutSeconds"]
        );
    }

    #[test]
    fn matchers_take_codes_and_ranges() {
        assert_eq!(parse_matcher("200,202-204").unwrap(), [(200, 200), (202, 204)]);
        assert!(parse_matcher("99").is_err());
        assert!(parse_matcher("300-200").unwrap_err().contains("backwards"));
        assert!(parse_matcher("").is_err());
    }
}
