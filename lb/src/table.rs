/*!
What the load balancer serves: listeners (a port and its rules), the target groups the rules
forward to, and each group's targets. The control plane builds a new table whenever any of it
changes and hands it over whole; the data path only ever reads one.
*/

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The whole configuration at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub listeners: BTreeMap<u16, Listener>,
    /// By target group ARN.
    pub target_groups: BTreeMap<Arc<str>, TargetGroup>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub port: u16,
    /// By priority, lowest first: the first rule that matches wins.
    pub rules: Vec<Rule>,
    /// Where a request that no rule matches goes; none answers 404.
    pub default_target_group: Option<Arc<str>>,
}

/// ELB's `host-header` and `path-pattern` conditions, as prefixes: a rule matches when the
/// request's host is one of `hosts` (any when empty) and its path starts with one of
/// `path_prefixes` (any when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub priority: u32,
    pub hosts: Vec<String>,
    pub path_prefixes: Vec<String>,
    pub target_group: Arc<str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroup {
    pub arn: Arc<str>,
    pub health_check: HealthCheck,
    /// How long a deregistered target may finish what it has in flight.
    pub deregistration_delay: Duration,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// Status codes that count as a pass, as inclusive ranges (ELB's matcher "200-399,404").
    pub matcher: Vec<(u16, u16)>,
}

impl HealthCheck {
    pub fn passes(&self, status: u16) -> bool {
        self.matcher.iter().any(|&(low, high)| (low..=high).contains(&status))
    }
}

/// One task's container port, reachable at `addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The task's id: what health and drain reports name.
    pub task: Arc<str>,
    pub addr: SocketAddr,
    /// Deregistering: no new requests, in-flight ones finish.
    pub draining: bool,
}

/// Identifies a target within the balancer: a group and an address in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    pub target_group: Arc<str>,
    pub addr: SocketAddr,
}

impl Listener {
    /// The target group a request for `host` and `path` goes to.
    pub fn route(&self, host: &str, path: &str) -> Option<&Arc<str>> {
        // A Host header may carry a port; rules name hosts without one, in any case.
        let host = strip_port(host);
        self.rules
            .iter()
            .find(|rule| {
                (rule.hosts.is_empty() || rule.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
                    && (rule.path_prefixes.is_empty() || rule.path_prefixes.iter().any(|p| path.starts_with(p.as_str())))
            })
            .map(|rule| &rule.target_group)
            .or(self.default_target_group.as_ref())
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:8080
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, hosts: &[&str], paths: &[&str], group: &str) -> Rule {
        Rule {
            priority,
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            path_prefixes: paths.iter().map(|s| s.to_string()).collect(),
            target_group: group.into(),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_default_takes_the_rest() {
        let listener = Listener {
            port: 8080,
            rules: vec![
                rule(1, &["api.example.com"], &["/v2/"], "api-v2"),
                rule(2, &["api.example.com"], &[], "api"),
                rule(3, &[], &["/static/", "/assets/"], "static"),
            ],
            default_target_group: Some("web".into()),
        };
        let route = |host, path| listener.route(host, path).map(|g| g.to_string());
        assert_eq!(route("api.example.com", "/v2/users").as_deref(), Some("api-v2"));
        assert_eq!(route("API.example.com:8080", "/v1/users").as_deref(), Some("api"), "case and port do not matter");
        assert_eq!(route("other", "/assets/x.css").as_deref(), Some("static"));
        assert_eq!(route("other", "/").as_deref(), Some("web"));
        assert_eq!(route("[::1]:8080", "/static/a").as_deref(), Some("static"));
        let bare = Listener { default_target_group: None, ..listener };
        assert_eq!(bare.route("other", "/"), None);
    }

    #[test]
    fn matchers_take_ranges_and_lists() {
        let check = HealthCheck {
            path: "/".into(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: vec![(200, 299), (404, 404)],
        };
        assert!(check.passes(200) && check.passes(204) && check.passes(404));
        assert!(!check.passes(301) && !check.passes(500));
    }
}
