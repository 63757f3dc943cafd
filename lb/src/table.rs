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

/// ELB's `host-header` and `path-pattern` conditions: a rule matches when the request's host
/// matches one of `hosts` (any when empty) and its path one of `paths` (any when empty).
/// Patterns take `*` and `?`; hosts ignore case, paths do not.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub priority: u32,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
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
    /// Healthy when last seen (by a balancer before a restart): it starts healthy rather than
    /// `initial`, so a restart neither hides every target nor stalls a deployment.
    pub healthy: bool,
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
                (rule.hosts.is_empty() || rule.hosts.iter().any(|h| glob_matches(h, host, true)))
                    && (rule.paths.is_empty() || rule.paths.iter().any(|p| glob_matches(p, path, false)))
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

/// A pattern of ELB's conditions: `*` any run of characters, `?` any one.
pub fn glob_matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // Iterative with one backtrack point: linear enough for the short patterns rules hold.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, hosts: &[&str], paths: &[&str], group: &str) -> Rule {
        Rule {
            priority,
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
            target_group: group.into(),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_default_takes_the_rest() {
        let listener = Listener {
            port: 8080,
            rules: vec![
                rule(1, &["api.example.com"], &["/v2/*"], "api-v2"),
                rule(2, &["api.example.com"], &[], "api"),
                rule(3, &[], &["/static/*", "/assets/*"], "static"),
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
    fn patterns_match_as_elb_conditions_do() {
        assert!(glob_matches("/api/*", "/api/users", false));
        assert!(glob_matches("/api/*", "/api/", false));
        assert!(!glob_matches("/api/*", "/api", false));
        assert!(glob_matches("/api", "/api", false));
        assert!(!glob_matches("/API/*", "/api/x", false), "paths are case sensitive");
        assert!(glob_matches("*.example.com", "Shop.Example.com", true), "hosts are not");
        assert!(glob_matches("img?.example.com", "img1.example.com", true));
        assert!(!glob_matches("*.example.com", "example.com", true));
        assert!(glob_matches("*", "", false));
        assert!(glob_matches("a*b*c", "aXXbYYc", false));
        assert!(!glob_matches("a*b*c", "aXXbYY", false));
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
