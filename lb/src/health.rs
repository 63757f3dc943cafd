/*!
Target health, ELB's way: a target starts `initial` and becomes `healthy` after
`healthyThresholdCount` passing checks in a row, `unhealthy` after `unhealthyThresholdCount`
failing ones, and moves between the two by the same counts. Each state carries ELB's reason
code and a description a person can act on. The tracker is pure; [`probe`] does one check.
*/

use crate::table::HealthCheck;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Initial,
    Healthy,
    Unhealthy,
    Draining,
}

impl State {
    /// ELB's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Draining => "draining",
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Answered with a status the matcher does not take.
    Status(u16),
    TimedOut,
    /// No answer: refused, reset, not HTTP.
    Failed(String),
}

/// A target's health as ELB describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub state: State,
    /// ELB's reason code (`Elb.InitialHealthChecking`, `Target.ResponseCodeMismatch`, …);
    /// none when healthy.
    pub reason: Option<&'static str>,
    pub description: Option<String>,
}

impl Health {
    pub fn initial() -> Self {
        Self { state: State::Initial, reason: Some("Elb.InitialHealthChecking"), description: Some("Initial health checks in progress".into()) }
    }

    pub fn draining() -> Self {
        Self { state: State::Draining, reason: Some("Target.DeregistrationInProgress"), description: Some("Target deregistration is in progress".into()) }
    }
}

/// Consecutive results of one target's checks.
#[derive(Debug, Clone)]
pub struct Tracker {
    health: Health,
    passes: u32,
    failures: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Self { health: Health::initial(), passes: 0, failures: 0 }
    }
}

impl Tracker {
    /// A target known healthy: it stays so until its checks fail the unhealthy count.
    pub fn healthy() -> Self {
        Self { health: Health { state: State::Healthy, reason: None, description: None }, passes: 0, failures: 0 }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Takes one check's outcome; returns the new health when the state or its reason changed.
    pub fn observe(&mut self, outcome: &Outcome, check: &HealthCheck) -> Option<Health> {
        let before = self.health.clone();
        if *outcome == Outcome::Passed {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
            if self.health.state != State::Healthy && self.passes >= check.healthy_threshold.max(1) {
                self.health = Health { state: State::Healthy, reason: None, description: None };
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
            if self.failures >= check.unhealthy_threshold.max(1) {
                let (reason, description) = match outcome {
                    Outcome::Status(code) => ("Target.ResponseCodeMismatch", format!("Health checks failed with these codes: [{code}]")),
                    Outcome::TimedOut => ("Target.Timeout", "Request timed out".to_string()),
                    Outcome::Failed(why) => ("Target.FailedHealthChecks", format!("Health checks failed: {why}")),
                    Outcome::Passed => unreachable!("handled above"),
                };
                self.health = Health { state: State::Unhealthy, reason: Some(reason), description: Some(description) };
            }
        }
        (self.health != before).then(|| self.health.clone())
    }
}

pub type ProbeClient = Client<HttpConnector, Empty<Bytes>>;

/// A client for checks: a fresh connection each time (a pooled one would hide a target that
/// stopped accepting), as ELB's checker does.
pub fn probe_client() -> ProbeClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector)
}

/// One check: `GET path` on the target within the timeout.
pub async fn probe(client: &ProbeClient, addr: SocketAddr, check: &HealthCheck) -> Outcome {
    let uri = match format!("http://{addr}{}", check.path).parse::<hyper::Uri>() {
        Ok(uri) => uri,
        Err(e) => return Outcome::Failed(format!("bad health check path: {e}")),
    };
    let request = hyper::Request::get(uri)
        .header(hyper::header::USER_AGENT, "Wharf-HealthChecker/1.0")
        .body(Empty::new())
        .expect("a GET with a parsed URI is a valid request");
    match tokio::time::timeout(check.timeout, client.request(request)).await {
        Err(_) => Outcome::TimedOut,
        Ok(Err(e)) => Outcome::Failed(if e.is_connect() { "connection refused or unreachable".into() } else { e.to_string() }),
        Ok(Ok(response)) if check.passes(response.status().as_u16()) => Outcome::Passed,
        Ok(Ok(response)) => Outcome::Status(response.status().as_u16()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(healthy: u32, unhealthy: u32) -> HealthCheck {
        HealthCheck {
            path: "/".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
            matcher: vec![(200, 200)],
        }
    }

    #[test]
    fn a_target_turns_healthy_after_the_threshold_of_passes_in_a_row() {
        let check = check(3, 2);
        let mut t = Tracker::default();
        assert_eq!(t.health().state, State::Initial);
        assert_eq!(t.observe(&Outcome::Passed, &check), None);
        assert_eq!(t.observe(&Outcome::Passed, &check), None);
        // A failure below the unhealthy threshold only resets the run.
        assert_eq!(t.observe(&Outcome::Status(500), &check), None);
        assert_eq!(t.observe(&Outcome::Passed, &check), None);
        assert_eq!(t.observe(&Outcome::Passed, &check), None);
        assert_eq!(t.observe(&Outcome::Passed, &check).map(|h| h.state), Some(State::Healthy));
        assert_eq!(t.observe(&Outcome::Passed, &check), None, "no news while nothing changes");
    }

    #[test]
    fn failures_say_why_and_a_new_reason_is_news() {
        let check = check(2, 2);
        let mut t = Tracker::default();
        t.observe(&Outcome::Passed, &check);
        t.observe(&Outcome::Passed, &check);
        assert_eq!(t.observe(&Outcome::TimedOut, &check), None);
        let down = t.observe(&Outcome::TimedOut, &check).unwrap();
        assert_eq!((down.state, down.reason), (State::Unhealthy, Some("Target.Timeout")));
        let next = t.observe(&Outcome::Status(503), &check).unwrap();
        assert_eq!(next.reason, Some("Target.ResponseCodeMismatch"));
        assert_eq!(next.description.as_deref(), Some("Health checks failed with these codes: [503]"));
        assert_eq!(t.observe(&Outcome::Status(503), &check), None);
        t.observe(&Outcome::Passed, &check);
        assert_eq!(t.observe(&Outcome::Passed, &check).map(|h| h.state), Some(State::Healthy));
    }

    #[test]
    fn an_initial_target_that_never_passes_turns_unhealthy() {
        let check = check(5, 2);
        let mut t = Tracker::default();
        t.observe(&Outcome::Failed("refused".into()), &check);
        let down = t.observe(&Outcome::Failed("refused".into()), &check).unwrap();
        assert_eq!((down.state, down.reason), (State::Unhealthy, Some("Target.FailedHealthChecks")));
    }
}
