//! The authorization matrix: every route of the OpenAPI document, called by every kind of
//! caller on team a's objects, against the rule written here for it. A route without a rule
//! fails the test, so a new route cannot ship unchecked. Callers, weakest first: nobody, a
//! maintainer of another team, team a's viewer, deployer and maintainer, and an admin. The
//! portal's server functions are walked the same way (from the server's own list of them).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::agent::Agent;
use common::{Db, Harness};
use serde_json::{Value, json};
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    Outsider,
    Viewer,
    Deployer,
    Maintainer,
    Admin,
}

const CALLERS: [Who; 6] = [Who::Nobody, Who::Outsider, Who::Viewer, Who::Deployer, Who::Maintainer, Who::Admin];

/// The weakest caller a route lets through, for an object of team a on a cluster shared with
/// team a only (the outsider maintains team b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// Agents' own routes: their join token or credential decides, the same for every user.
    Agent,
    SignedIn,
    /// A maintainer of any team (the audit log of one's own teams).
    MaintainerOfAny,
    /// Team a's members (reading team a's objects and the clusters shared with it).
    Member,
    Deployer,
    Maintainer,
    Admin,
}

fn allowed(rule: Rule, who: Who) -> bool {
    use Who::*;
    match rule {
        Rule::Public | Rule::Agent => true,
        Rule::SignedIn => who != Nobody,
        Rule::MaintainerOfAny => matches!(who, Outsider | Maintainer | Admin),
        Rule::Member => matches!(who, Viewer | Deployer | Maintainer | Admin),
        Rule::Deployer => matches!(who, Deployer | Maintainer | Admin),
        Rule::Maintainer => matches!(who, Maintainer | Admin),
        Rule::Admin => who == Admin,
    }
}

/// Team a's objects and a token per caller.
struct World {
    h: Harness,
    tokens: Vec<(Who, String)>,
    instance: String,
    task: String,
    join_token: String,
    n: usize,
}

impl World {
    fn token(&self, who: Who) -> &str {
        self.tokens.iter().find(|(w, _)| *w == who).map(|(_, t)| t.as_str()).unwrap_or("")
    }

    async fn admin(&self, method: Method, uri: &str, body: Value) -> Value {
        let (status, value) = self.h.call(method.clone(), uri, (!body.is_null()).then(|| body.to_string())).await;
        assert!(status.is_success(), "setup {method} {uri}: {status} {value}");
        value
    }

    fn unique(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}-{}", self.n)
    }

    /// The rule of a route and a concrete request for it, with fresh objects where the call
    /// uses them up (a deleted service cannot be deleted by the next caller).
    async fn case(&mut self, method: &str, template: &str) -> Option<(Rule, String, Option<Value>)> {
        let td = || serde_json::from_str::<Value>(&common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", "\"fa\"")).unwrap();
        let (instance, task) = (self.instance.clone(), self.task.clone());
        let c = "/api/v1/clusters/ca";
        Some(match (method, template) {
            ("POST", "/agent/v1/register") => (Rule::Agent, template.into(), Some(json!({ "token": "wjt_0_0", "cluster": "ca", "hostname": "h", "cpu": 1, "memory": 1 }))),
            ("GET", "/api/v1/audit") => (Rule::MaintainerOfAny, template.into(), None),
            ("GET", "/api/v1/clusters") => (Rule::SignedIn, template.into(), None),
            ("POST", "/api/v1/clusters") => (Rule::Admin, template.into(), Some(json!({ "clusterName": self.unique("new") }))),
            ("GET", "/api/v1/clusters/{cluster}") => (Rule::Member, c.into(), None),
            ("PATCH", "/api/v1/clusters/{cluster}") => (Rule::Admin, c.into(), Some(json!({ "taskPolicy": { "level": "restricted" } }))),
            ("DELETE", "/api/v1/clusters/{cluster}") => {
                let name = self.unique("gone");
                self.admin(Method::POST, "/api/v1/clusters", json!({ "clusterName": name })).await;
                self.admin(Method::PUT, &format!("/api/v1/clusters/{name}/teams/a"), Value::Null).await;
                (Rule::Admin, format!("/api/v1/clusters/{name}"), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/container-instances") => (Rule::Member, format!("{c}/container-instances"), None),
            ("GET", "/api/v1/clusters/{cluster}/container-instances/{id}") => (Rule::Member, format!("{c}/container-instances/{instance}"), None),
            ("PATCH", "/api/v1/clusters/{cluster}/container-instances/{id}") => (Rule::Admin, format!("{c}/container-instances/{instance}"), Some(json!({ "status": "ACTIVE" }))),
            ("PUT", "/api/v1/clusters/{cluster}/container-instances/{id}/attributes") => {
                (Rule::Admin, format!("{c}/container-instances/{instance}/attributes"), Some(json!({ "attributes": [] })))
            }
            ("DELETE", "/api/v1/clusters/{cluster}/container-instances/{id}") => {
                let host = self.unique("host");
                let reg = self.admin(Method::POST, "/agent/v1/register", json!({ "token": self.join_token, "cluster": "ca", "hostname": host, "cpu": 1024, "memory": 512 })).await;
                (Rule::Admin, format!("{c}/container-instances/{}", reg["containerInstance"]["id"].as_str().unwrap()), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/join-tokens") => (Rule::Admin, format!("{c}/join-tokens"), None),
            ("POST", "/api/v1/clusters/{cluster}/join-tokens") => (Rule::Admin, format!("{c}/join-tokens"), Some(json!({}))),
            ("DELETE", "/api/v1/clusters/{cluster}/join-tokens/{id}") => {
                let t = self.admin(Method::POST, &format!("{c}/join-tokens"), json!({})).await;
                (Rule::Admin, format!("{c}/join-tokens/{}", t["joinToken"]["id"].as_str().unwrap()), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/services") => (Rule::Member, format!("{c}/services"), None),
            ("POST", "/api/v1/clusters/{cluster}/services") => {
                (Rule::Maintainer, format!("{c}/services"), Some(json!({ "serviceName": self.unique("svc"), "taskDefinition": "fa", "desiredCount": 0 })))
            }
            ("GET", "/api/v1/clusters/{cluster}/services/{service}") => (Rule::Member, format!("{c}/services/sa"), None),
            ("PATCH", "/api/v1/clusters/{cluster}/services/{service}") => (Rule::Deployer, format!("{c}/services/sa"), Some(json!({ "desiredCount": 0 }))),
            ("DELETE", "/api/v1/clusters/{cluster}/services/{service}") => {
                let name = self.unique("doomed");
                self.admin(Method::POST, &format!("{c}/services"), json!({ "serviceName": name, "taskDefinition": "fa", "desiredCount": 0 })).await;
                (Rule::Maintainer, format!("{c}/services/{name}"), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/services/{service}/scaling") => (Rule::Member, format!("{c}/services/sa/scaling"), None),
            ("GET", "/api/v1/clusters/{cluster}/services/{service}/metrics") => (Rule::Member, format!("{c}/services/sa/metrics"), None),
            ("GET", "/api/v1/clusters/{cluster}/container-instances/{id}/metrics") => (Rule::Member, format!("{c}/container-instances/{instance}/metrics"), None),
            ("PUT", "/api/v1/clusters/{cluster}/services/{service}/scalable-target") => {
                (Rule::Deployer, format!("{c}/services/sa/scalable-target"), Some(json!({ "minCapacity": 0, "maxCapacity": 3 })))
            }
            ("DELETE", "/api/v1/clusters/{cluster}/services/{service}/scalable-target") => {
                let name = self.unique("scaled");
                self.admin(Method::POST, &format!("{c}/services"), json!({ "serviceName": name, "taskDefinition": "fa", "desiredCount": 0 })).await;
                self.admin(Method::PUT, &format!("{c}/services/{name}/scalable-target"), json!({ "minCapacity": 0, "maxCapacity": 2 })).await;
                (Rule::Deployer, format!("{c}/services/{name}/scalable-target"), None)
            }
            ("PUT", "/api/v1/clusters/{cluster}/services/{service}/scaling-policies/{policy}") => {
                (Rule::Deployer, format!("{c}/services/sa/scaling-policies/cpu"), Some(scaling_policy()))
            }
            ("DELETE", "/api/v1/clusters/{cluster}/services/{service}/scaling-policies/{policy}") => {
                let name = self.unique("policy");
                self.admin(Method::PUT, &format!("{c}/services/sa/scaling-policies/{name}"), scaling_policy()).await;
                (Rule::Deployer, format!("{c}/services/sa/scaling-policies/{name}"), None)
            }
            ("PUT", "/api/v1/clusters/{cluster}/services/{service}/scheduled-actions/{action}") => {
                (Rule::Deployer, format!("{c}/services/sa/scheduled-actions/nightly"), Some(scheduled_action()))
            }
            ("DELETE", "/api/v1/clusters/{cluster}/services/{service}/scheduled-actions/{action}") => {
                let name = self.unique("action");
                self.admin(Method::PUT, &format!("{c}/services/sa/scheduled-actions/{name}"), scheduled_action()).await;
                (Rule::Deployer, format!("{c}/services/sa/scheduled-actions/{name}"), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/tasks") => (Rule::Member, format!("{c}/tasks"), None),
            ("POST", "/api/v1/clusters/{cluster}/tasks") => (Rule::Deployer, format!("{c}/tasks"), Some(json!({ "taskDefinition": "fa", "count": 1 }))),
            ("POST", "/api/v1/clusters/{cluster}/tasks/start") => (Rule::Deployer, format!("{c}/tasks/start"), Some(json!({ "taskDefinition": "fa", "containerInstances": [instance] }))),
            ("GET", "/api/v1/clusters/{cluster}/tasks/{id}") => (Rule::Member, format!("{c}/tasks/{task}"), None),
            ("GET", "/api/v1/clusters/{cluster}/tasks/{id}/logs") => (Rule::Member, format!("{c}/tasks/{task}/logs"), None),
            ("POST", "/api/v1/clusters/{cluster}/tasks/{id}/stop") => (Rule::Deployer, format!("{c}/tasks/{task}/stop"), Some(json!({ "reason": "matrix" }))),
            ("GET", "/api/v1/clusters/{cluster}/teams") => (Rule::Member, format!("{c}/teams"), None),
            ("PUT", "/api/v1/clusters/{cluster}/teams/{team}") | ("DELETE", "/api/v1/clusters/{cluster}/teams/{team}") => {
                // A cluster of its own: sharing "ca" with team b would let the outsider in.
                let name = self.unique("lent");
                self.admin(Method::POST, "/api/v1/clusters", json!({ "clusterName": name })).await;
                self.admin(Method::PUT, &format!("/api/v1/clusters/{name}/teams/a"), Value::Null).await;
                (Rule::Admin, format!("/api/v1/clusters/{name}/teams/a"), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/topology") => (Rule::Member, format!("{c}/topology"), None),
            ("GET", "/api/v1/events") => (Rule::SignedIn, template.into(), None),
            ("GET", "/api/v1/session") => (Rule::SignedIn, template.into(), None),
            ("POST", "/api/v1/session") => (Rule::Public, template.into(), Some(json!({ "username": "admin", "password": common::ADMIN_PASSWORD }))),
            ("DELETE", "/api/v1/session") => (Rule::Public, template.into(), None),
            ("PUT", "/api/v1/session/password") => (Rule::SignedIn, template.into(), Some(json!({ "currentPassword": "not it at all", "newPassword": "a new password here" }))),
            ("GET", "/api/v1/setup") => (Rule::Public, template.into(), None),
            ("POST", "/api/v1/setup") => (Rule::Public, template.into(), Some(json!({ "username": "second", "password": "another long one" }))),
            ("GET", "/api/v1/task-definition-families") | ("GET", "/api/v1/task-definitions") => (Rule::SignedIn, template.into(), None),
            ("POST", "/api/v1/task-definitions") => (Rule::Deployer, template.into(), Some(td())),
            ("GET", "/api/v1/task-definitions/{taskDefinition}") => (Rule::Member, "/api/v1/task-definitions/fa:1".into(), None),
            ("DELETE", "/api/v1/task-definitions/{taskDefinition}") => {
                let r = self.admin(Method::POST, "/api/v1/task-definitions?team=a", td()).await;
                (Rule::Maintainer, format!("/api/v1/task-definitions/fa:{}", r["taskDefinition"]["revision"]), None)
            }
            ("GET", "/api/v1/teams") => (Rule::SignedIn, template.into(), None),
            ("POST", "/api/v1/teams") => (Rule::Admin, template.into(), Some(json!({ "teamName": self.unique("team") }))),
            ("GET", "/api/v1/teams/{team}") => (Rule::Member, "/api/v1/teams/a".into(), None),
            ("DELETE", "/api/v1/teams/{team}") => {
                let name = self.unique("old");
                self.admin(Method::POST, "/api/v1/teams", json!({ "teamName": name })).await;
                (Rule::Admin, format!("/api/v1/teams/{name}"), None)
            }
            ("PUT", "/api/v1/teams/{team}/members/{username}") => (Rule::Maintainer, "/api/v1/teams/a/members/spare".into(), Some(json!({ "role": "viewer" }))),
            ("DELETE", "/api/v1/teams/{team}/members/{username}") => {
                self.admin(Method::PUT, "/api/v1/teams/a/members/spare", json!({ "role": "viewer" })).await;
                (Rule::Maintainer, "/api/v1/teams/a/members/spare".into(), None)
            }
            ("GET", "/api/v1/tokens") => (Rule::SignedIn, template.into(), None),
            ("POST", "/api/v1/tokens") => (Rule::SignedIn, template.into(), Some(json!({ "role": "viewer", "expiresIn": "1h" }))),
            ("DELETE", "/api/v1/tokens/{id}") => {
                let t = self.admin(Method::POST, "/api/v1/tokens", json!({ "team": "a", "role": "viewer" })).await;
                (Rule::Maintainer, format!("/api/v1/tokens/{}", t["apiToken"]["id"].as_str().unwrap()), None)
            }
            ("GET", "/api/v1/secrets") => (Rule::SignedIn, template.into(), None),
            ("POST", "/api/v1/secrets") => (Rule::Maintainer, template.into(), Some(json!({ "name": format!("a/{}", self.unique("made")), "secretString": "s3cret", "team": "a" }))),
            ("GET", "/api/v1/secrets/{name}") => (Rule::Member, "/api/v1/secrets/a%2Fdb".into(), None),
            ("PUT", "/api/v1/secrets/{name}/value") => (Rule::Maintainer, "/api/v1/secrets/a%2Fdb/value".into(), Some(json!({ "secretString": "rotated" }))),
            ("DELETE", "/api/v1/secrets/{name}") => {
                let name = self.unique("doomed-secret");
                self.admin(Method::POST, "/api/v1/secrets", json!({ "name": format!("a/{name}"), "secretString": "x", "team": "a" })).await;
                (Rule::Maintainer, format!("/api/v1/secrets/a%2F{name}"), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/target-groups") => (Rule::Member, format!("{c}/target-groups"), None),
            ("POST", "/api/v1/clusters/{cluster}/target-groups") => {
                (Rule::Maintainer, format!("{c}/target-groups"), Some(json!({ "targetGroupName": self.unique("tg"), "teamName": "a" })))
            }
            ("GET", "/api/v1/clusters/{cluster}/target-groups/{name}") => (Rule::Member, format!("{c}/target-groups/tga"), None),
            ("GET", "/api/v1/clusters/{cluster}/target-groups/{name}/targets") => (Rule::Member, format!("{c}/target-groups/tga/targets"), None),
            ("GET", "/api/v1/clusters/{cluster}/target-groups/{name}/http-sd") => (Rule::Member, format!("{c}/target-groups/tga/http-sd"), None),
            ("GET", "/api/v1/clusters/{cluster}/target-groups/{name}/endpoints") => (Rule::Member, format!("{c}/target-groups/tga/endpoints"), None),
            ("PATCH", "/api/v1/clusters/{cluster}/target-groups/{name}") => {
                (Rule::Maintainer, format!("{c}/target-groups/tga"), Some(json!({ "healthCheckPath": "/healthz" })))
            }
            ("DELETE", "/api/v1/clusters/{cluster}/target-groups/{name}") => {
                let name = self.unique("tg-doomed");
                self.admin(Method::POST, &format!("{c}/target-groups"), json!({ "targetGroupName": name, "teamName": "a" })).await;
                (Rule::Maintainer, format!("{c}/target-groups/{name}"), None)
            }
            ("GET", "/api/v1/clusters/{cluster}/listeners") => (Rule::Member, format!("{c}/listeners"), None),
            ("POST", "/api/v1/clusters/{cluster}/listeners") => {
                self.n += 1;
                (Rule::Admin, format!("{c}/listeners"), Some(json!({ "port": 20000 + self.n })))
            }
            ("GET", "/api/v1/clusters/{cluster}/listeners/{port}") => (Rule::Member, format!("{c}/listeners/18081"), None),
            ("PATCH", "/api/v1/clusters/{cluster}/listeners/{port}") => {
                (Rule::Admin, format!("{c}/listeners/18081"), Some(json!({ "defaultActions": [{ "type": "forward", "targetGroupArn": "tga" }] })))
            }
            ("DELETE", "/api/v1/clusters/{cluster}/listeners/{port}") => {
                self.n += 1;
                let port = 20000 + self.n;
                self.admin(Method::POST, &format!("{c}/listeners"), json!({ "port": port })).await;
                (Rule::Admin, format!("{c}/listeners/{port}"), None)
            }
            ("POST", "/api/v1/clusters/{cluster}/listeners/{port}/rules") => {
                self.n += 1;
                let rule = json!({ "priority": self.n, "conditions": [{ "field": "host-header", "values": [format!("a{}.example", self.n)] }],
                    "actions": [{ "type": "forward", "targetGroupArn": "tga" }] });
                (Rule::Maintainer, format!("{c}/listeners/18081/rules"), Some(rule))
            }
            ("DELETE", "/api/v1/clusters/{cluster}/listeners/{port}/rules/{priority}") => {
                self.n += 1;
                let rule = json!({ "priority": self.n, "conditions": [{ "field": "host-header", "values": ["a.example"] }],
                    "actions": [{ "type": "forward", "targetGroupArn": "tga" }] });
                self.admin(Method::POST, &format!("{c}/listeners/18081/rules"), rule).await;
                (Rule::Maintainer, format!("{c}/listeners/18081/rules/{}", self.n), None)
            }
            ("GET", "/api/v1/users") => (Rule::Admin, template.into(), None),
            ("POST", "/api/v1/users") => (Rule::Admin, template.into(), Some(json!({ "username": self.unique("user"), "password": "a long enough password" }))),
            ("PATCH", "/api/v1/users/{username}") => (Rule::Admin, "/api/v1/users/spare".into(), Some(json!({ "disabled": false }))),
            _ => return None,
        })
    }

    /// The status only: the events route streams and never ends.
    async fn status(&self, who: Who, method: &str, uri: &str, body: Option<Value>) -> StatusCode {
        let mut req = Request::builder().method(method).uri(uri);
        if who != Who::Nobody {
            req = req.header("authorization", format!("Bearer {}", self.token(who)));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
        self.h.router.clone().oneshot(req).await.unwrap().status()
    }
}

fn scaling_policy() -> Value {
    json!({ "policyType": "TargetTrackingScaling", "targetTrackingScalingPolicyConfiguration": { "targetValue": 60.0,
        "predefinedMetricSpecification": { "predefinedMetricType": "ECSServiceAverageCPUUtilization" } } })
}

fn scheduled_action() -> Value {
    json!({ "schedule": "cron(0 2 * * ? *)", "timezone": "Europe/Berlin", "scalableTargetAction": { "minCapacity": 0 } })
}

async fn world() -> World {
    let h = Harness::new(Db::Sqlite).await.unwrap();
    let control = h.state.control.clone();
    for user in ["outsider", "viewer", "deployer", "maintainer", "spare"] {
        let creds = wharf_core::account::Credentials { username: user.into(), password: "matrix password".into() };
        control.create_account(&creds, false, false).await.unwrap();
    }
    let mut w = World { h, tokens: Vec::new(), instance: String::new(), task: String::new(), join_token: String::new(), n: 0 };
    for team in ["a", "b"] {
        w.admin(Method::POST, "/api/v1/teams", json!({ "teamName": team })).await;
    }
    for (team, user, role) in [("b", "outsider", "maintainer"), ("a", "viewer", "viewer"), ("a", "deployer", "deployer"), ("a", "maintainer", "maintainer")] {
        w.admin(Method::PUT, &format!("/api/v1/teams/{team}/members/{user}"), json!({ "role": role })).await;
    }
    for (who, user) in [(Who::Outsider, "outsider"), (Who::Viewer, "viewer"), (Who::Deployer, "deployer"), (Who::Maintainer, "maintainer")] {
        w.tokens.push((who, control.issue_user_token(user, None, None, "matrix").await.unwrap().1));
    }
    w.tokens.push((Who::Admin, w.h.token.clone()));
    w.admin(Method::POST, "/api/v1/clusters", json!({ "clusterName": "ca", "taskPolicy": { "level": "baseline" } })).await;
    w.admin(Method::PUT, "/api/v1/clusters/ca/teams/a", Value::Null).await;
    let fa = common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", "\"fa\"");
    w.admin(Method::POST, "/api/v1/task-definitions?team=a", serde_json::from_str(&fa).unwrap()).await;
    let fb = common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", "\"fb\"");
    w.admin(Method::POST, "/api/v1/task-definitions?team=b", serde_json::from_str(&fb).unwrap()).await;
    w.admin(Method::POST, "/api/v1/clusters/ca/services", json!({ "serviceName": "sa", "taskDefinition": "fa", "desiredCount": 0 })).await;
    w.admin(Method::PUT, "/api/v1/clusters/ca/services/sa/scalable-target", json!({ "minCapacity": 0, "maxCapacity": 3 })).await;
    w.admin(Method::POST, "/api/v1/secrets", json!({ "name": "a/db", "secretString": "s3cret", "team": "a" })).await;
    w.admin(Method::POST, "/api/v1/clusters/ca/target-groups", json!({ "targetGroupName": "tga", "teamName": "a" })).await;
    w.admin(Method::POST, "/api/v1/clusters/ca/listeners", json!({ "port": 18081 })).await;
    w.join_token = w.admin(Method::POST, "/api/v1/clusters/ca/join-tokens", json!({})).await["token"].as_str().unwrap().to_string();
    let reg = w.admin(Method::POST, "/agent/v1/register", json!({ "token": w.join_token, "cluster": "ca", "hostname": "host-1", "cpu": 4096, "memory": 4096 })).await;
    w.instance = reg["containerInstance"]["id"].as_str().unwrap().to_string();
    // A task of team a, started while a scripted agent is connected; the agent then leaves.
    let addr = w.h.serve().await;
    let (agent, _) = Agent::connect(addr, reg["credential"].as_str().unwrap(), json!([])).await;
    let started = w.admin(Method::POST, "/api/v1/clusters/ca/tasks/start", json!({ "taskDefinition": "fa", "containerInstances": [w.instance] })).await;
    w.task = started["tasks"][0]["id"].as_str().expect("a task of team a").to_string();
    drop(agent);
    w
}

/// Every (method, path) of the OpenAPI document.
fn routes() -> Vec<(String, String)> {
    let doc = serde_json::to_value(<wharf_server::api::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if ops.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_answers_every_caller_as_its_rule_says() {
    let mut w = world().await;
    let routes = routes();
    let mut unruled = Vec::new();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (method, template) in &routes {
        for who in CALLERS {
            let Some((rule, uri, body)) = w.case(method, template).await else {
                unruled.push(format!("{method} {template}"));
                break;
            };
            let status = w.status(who, method, &uri, body).await;
            checked += 1;
            let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
            let fine = if rule == Rule::Agent {
                status == StatusCode::UNAUTHORIZED || status.is_client_error()
            } else if allowed(rule, who) {
                !denied && !status.is_server_error()
            } else {
                status == if who == Who::Nobody { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN }
            };
            if !fine {
                wrong.push(format!("{method} {uri} as {who:?} ({rule:?}): {status}"));
            }
        }
    }
    assert!(unruled.is_empty(), "routes without a rule in this test: {unruled:#?}");
    assert!(wrong.is_empty(), "{} of {checked} answers break their rule: {wrong:#?}", wrong.len());
    assert_eq!(checked, routes.len() * CALLERS.len());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("authorization matrix: {} routes x {} callers = {checked} answers checked\n", routes.len(), CALLERS.len()).as_bytes());
}

/// The last segment of a prepared path: the fresh object's name or id.
fn last(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_string()
}

impl World {
    /// The rule of a portal server function and its arguments, as the pages send them.
    async fn server_fn_case(&mut self, name: &str) -> Option<(Rule, Value)> {
        let (instance, task) = (self.instance.clone(), self.task.clone());
        let td = common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", "\"fa\"");
        Some(match name {
            "whoami" => (Rule::Public, json!({})),
            "my_abilities" => (Rule::SignedIn, json!({ "family": "fa" })),
            "list_clusters" | "list_families" | "active_revisions" | "dashboard_data" => (Rule::SignedIn, json!({})),
            "list_revisions" => (Rule::SignedIn, json!({ "family": "fa" })),
            "create_cluster" => (Rule::Admin, json!({ "cluster_name": self.unique("portal") })),
            "delete_cluster" => (Rule::Admin, json!({ "name": last(&self.case("DELETE", "/api/v1/clusters/{cluster}").await?.1) })),
            "cluster_overview" => (Rule::Member, json!({ "name": "ca" })),
            "update_cluster" => (Rule::Admin, json!({ "name": "ca", "input": { "taskPolicy": { "level": "baseline" } } })),
            "cluster_topology" => (Rule::Member, json!({ "cluster": "ca", "detail": null })),
            "first_topology" => (Rule::Member, json!({ "cluster": "ca", "level": null, "group_by": "" })),
            "list_join_tokens" => (Rule::Admin, json!({ "cluster": "ca" })),
            "create_join_token" => (Rule::Admin, json!({ "cluster": "ca", "input": {} })),
            "revoke_join_token" => (Rule::Admin, json!({ "cluster": "ca", "id": last(&self.case("DELETE", "/api/v1/clusters/{cluster}/join-tokens/{id}").await?.1), "deregister_instances": false })),
            "list_instances" => (Rule::Member, json!({ "cluster": "ca", "after": null, "limit": 10 })),
            "instance_detail" => (Rule::Member, json!({ "cluster": "ca", "id": instance, "after": null })),
            "set_instance_status" => (Rule::Admin, json!({ "cluster": "ca", "id": instance, "status": "ACTIVE" })),
            "deregister_instance" => {
                let path = self.case("DELETE", "/api/v1/clusters/{cluster}/container-instances/{id}").await?.1;
                (Rule::Admin, json!({ "cluster": "ca", "id": last(&path) }))
            }
            "start_task_here" => (Rule::Deployer, json!({ "cluster": "ca", "id": instance, "task_definition": "fa" })),
            "run_task" => (Rule::Deployer, json!({ "cluster": "ca", "input": { "taskDefinition": "fa", "count": 1 } })),
            "task_detail" => (Rule::Member, json!({ "cluster": "ca", "id": task })),
            "stop_task" => (Rule::Deployer, json!({ "cluster": "ca", "id": task, "reason": "portal" })),
            "get_service" => (Rule::Member, json!({ "cluster": "ca", "name": "sa" })),
            "service_tasks" => (Rule::Member, json!({ "cluster": "ca", "name": "sa", "after": null })),
            "create_service" => (Rule::Maintainer, json!({ "cluster": "ca", "input": { "serviceName": self.unique("psvc"), "taskDefinition": "fa", "desiredCount": 0 } })),
            "update_service" => (Rule::Deployer, json!({ "cluster": "ca", "name": "sa", "input": { "desiredCount": 0 } })),
            "delete_service" => {
                let path = self.case("DELETE", "/api/v1/clusters/{cluster}/services/{service}").await?.1;
                (Rule::Maintainer, json!({ "cluster": "ca", "name": last(&path), "force": false }))
            }
            "register_task_definition" => (Rule::Deployer, json!({ "document": td })),
            "get_revision" => (Rule::Member, json!({ "reference": "fa:1" })),
            "deregister" => (Rule::Maintainer, json!({ "reference": last(&self.case("DELETE", "/api/v1/task-definitions/{taskDefinition}").await?.1) })),
            "list_secrets" => (Rule::SignedIn, json!({})),
            "create_secret" => (Rule::Maintainer, json!({ "input": { "name": format!("a/{}", self.unique("portal-secret")), "secretString": "v", "team": "a" } })),
            "put_secret_value" => (Rule::Maintainer, json!({ "name": "a/db", "secret_string": "portal" })),
            "delete_secret" => (Rule::Maintainer, json!({ "name": last(&self.case("DELETE", "/api/v1/secrets/{name}").await?.1).replace("%2F", "/") })),
            "list_teams" => (Rule::SignedIn, json!({})),
            "describe_team" => (Rule::Member, json!({ "team": "a" })),
            "create_team" => (Rule::Admin, json!({ "team_name": self.unique("pteam") })),
            "set_member" => (Rule::Maintainer, json!({ "team": "a", "username": "spare", "role": "viewer" })),
            "remove_member" => {
                self.admin(Method::PUT, "/api/v1/teams/a/members/spare", json!({ "role": "viewer" })).await;
                (Rule::Maintainer, json!({ "team": "a", "username": "spare" }))
            }
            "share_cluster" => {
                let path = self.case("PUT", "/api/v1/clusters/{cluster}/teams/{team}").await?.1;
                let cluster = path.split('/').nth(4).unwrap_or_default().to_string();
                (Rule::Admin, json!({ "cluster": cluster, "team": "a", "share": true }))
            }
            "list_users" => (Rule::Admin, json!({})),
            "create_user" => (Rule::Admin, json!({ "input": { "username": self.unique("puser"), "password": "a long enough password", "admin": false } })),
            "set_user_disabled" => (Rule::Admin, json!({ "username": "spare", "disabled": false })),
            "audit_log" => (Rule::MaintainerOfAny, json!({ "team": null, "before": null })),
            "scaling_of_service" => (Rule::Member, json!({ "cluster": "ca", "service": "sa" })),
            "load_chart_of_service" => (Rule::Member, json!({ "cluster": "ca", "service": "sa" })),
            "preview_schedule" => (Rule::SignedIn, json!({ "input": scheduled_action() })),
            "register_scalable_target" => (Rule::Deployer, json!({ "cluster": "ca", "service": "sa", "input": { "minCapacity": 0, "maxCapacity": 3 } })),
            "deregister_scalable_target" => {
                let path = self.case("DELETE", "/api/v1/clusters/{cluster}/services/{service}/scalable-target").await?.1;
                (Rule::Deployer, json!({ "cluster": "ca", "service": path.split('/').nth(6).unwrap_or_default() }))
            }
            "put_scaling_policy" => (Rule::Deployer, json!({ "cluster": "ca", "service": "sa", "name": "portal-cpu", "input": scaling_policy() })),
            "delete_scaling_policy" => {
                let path = self.case("DELETE", "/api/v1/clusters/{cluster}/services/{service}/scaling-policies/{policy}").await?.1;
                (Rule::Deployer, json!({ "cluster": "ca", "service": "sa", "name": last(&path) }))
            }
            "put_scheduled_action" => (Rule::Deployer, json!({ "cluster": "ca", "service": "sa", "name": "portal-nightly", "input": scheduled_action() })),
            "delete_scheduled_action" => {
                let path = self.case("DELETE", "/api/v1/clusters/{cluster}/services/{service}/scheduled-actions/{action}").await?.1;
                (Rule::Deployer, json!({ "cluster": "ca", "service": "sa", "name": last(&path) }))
            }
            "balancing_of_service" => (Rule::Member, json!({ "cluster": "ca", "service": "sa" })),
            "list_target_groups" | "list_listeners" | "target_group_choices" => (Rule::Member, json!({ "cluster": "ca" })),
            "create_target_group" => (Rule::Maintainer, json!({ "cluster": "ca", "input": { "targetGroupName": self.unique("ptg"), "teamName": "a" } })),
            "create_listener" => {
                self.n += 1;
                (Rule::Admin, json!({ "cluster": "ca", "input": { "port": 30000 + self.n } }))
            }
            "create_rule" => {
                self.n += 1;
                let rule = json!({ "priority": self.n, "conditions": [{ "field": "host-header", "values": [format!("a{}.example", self.n)] }],
                    "actions": [{ "type": "forward", "targetGroupArn": "tga" }] });
                (Rule::Maintainer, json!({ "cluster": "ca", "port": 18081, "input": rule }))
            }
            "delete_rule" => {
                self.n += 1;
                let rule = json!({ "priority": self.n, "conditions": [{ "field": "host-header", "values": ["a.example"] }],
                    "actions": [{ "type": "forward", "targetGroupArn": "tga" }] });
                self.admin(Method::POST, "/api/v1/clusters/ca/listeners/18081/rules", rule).await;
                (Rule::Maintainer, json!({ "cluster": "ca", "port": 18081, "priority": self.n }))
            }
            _ => return None,
        })
    }
}

#[tokio::test]
async fn every_portal_server_function_answers_every_caller_as_its_rule_says() {
    let mut w = world().await;
    let functions: Vec<(String, String)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| (path.trim_start_matches("/api/").trim_end_matches(|c: char| c.is_ascii_digit()).to_string(), path.to_string()))
        .collect();
    assert!(functions.len() >= 30, "the portal's server functions are registered: {functions:?}");
    let (mut unruled, mut wrong, mut checked) = (Vec::new(), Vec::new(), 0);
    for (name, path) in &functions {
        for who in CALLERS {
            let Some((rule, args)) = w.server_fn_case(name).await else {
                unruled.push(name.clone());
                break;
            };
            let status = w.status(who, "POST", path, Some(args)).await;
            checked += 1;
            let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
            let fine = if allowed(rule, who) {
                !denied && !status.is_server_error()
            } else {
                status == if who == Who::Nobody { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN }
            };
            if !fine {
                wrong.push(format!("{name} as {who:?} ({rule:?}): {status}"));
            }
        }
    }
    assert!(unruled.is_empty(), "server functions without a rule in this test: {unruled:#?}");
    assert!(wrong.is_empty(), "{} of {checked} answers break their rule: {wrong:#?}", wrong.len());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("authorization matrix: {} server functions x {} callers = {checked} answers checked\n", functions.len(), CALLERS.len()).as_bytes());
}

impl World {
    async fn as_(&self, who: Who, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.h.call_as(self.token(who), method, uri, body.map(|b| b.to_string())).await
    }

    async fn names(&self, who: Who, uri: &str, list: &str, field: &str) -> Vec<String> {
        let (status, v) = self.as_(who, Method::GET, uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri} as {who:?}: {v}");
        v[list].as_array().unwrap().iter().map(|x| x[field].as_str().unwrap_or_default().to_string()).collect()
    }
}

#[tokio::test]
async fn two_teams_on_one_cluster_see_and_change_only_their_own() {
    let w = world().await;
    w.admin(Method::PUT, "/api/v1/clusters/ca/teams/b", Value::Null).await;
    // Team b's maintainer deploys on the shared cluster, with b's family.
    let (status, created) = w.as_(Who::Outsider, Method::POST, "/api/v1/clusters/ca/services", Some(json!({ "serviceName": "sb", "taskDefinition": "fb", "desiredCount": 0 }))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // Neither sees the other's services, families or revisions; both see the cluster.
    assert_eq!(w.names(Who::Viewer, "/api/v1/clusters/ca/services", "services", "serviceName").await, ["sa"]);
    assert_eq!(w.names(Who::Outsider, "/api/v1/clusters/ca/services", "services", "serviceName").await, ["sb"]);
    assert_eq!(w.names(Who::Viewer, "/api/v1/task-definition-families", "families", "family").await, ["fa"]);
    assert_eq!(w.names(Who::Outsider, "/api/v1/task-definition-families", "families", "family").await, ["fb"]);
    assert_eq!(w.names(Who::Outsider, "/api/v1/clusters", "clusters", "clusterName").await, ["ca"]);
    assert!(w.names(Who::Outsider, "/api/v1/clusters/ca/tasks", "tasks", "id").await.is_empty(), "team a's task is not listed to team b");
    let (_, topology) = w.as_(Who::Outsider, Method::GET, "/api/v1/clusters/ca/topology?detail=tasks", None).await;
    assert_eq!(topology["services"].as_array().unwrap().len(), 1, "{topology}");
    assert!(topology["instances"][0]["tasks"].as_array().unwrap().is_empty(), "{topology}");
    // Reading or changing the other's: refused, with the reason.
    let (status, refused) = w.as_(Who::Outsider, Method::GET, "/api/v1/clusters/ca/services/sa", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused["message"].as_str().unwrap().contains("not a member of team 'a'"), "{refused}");
    let (status, _) = w.as_(Who::Maintainer, Method::PATCH, "/api/v1/clusters/ca/services/sb", Some(json!({ "desiredCount": 3 }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Registering into the other team's family is refused and adds no revision.
    let fa = common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", "\"fa\"");
    let (status, _) = w.as_(Who::Outsider, Method::POST, "/api/v1/task-definitions?team=b", Some(serde_json::from_str(&fa).unwrap())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = w.as_(Who::Outsider, Method::POST, "/api/v1/task-definitions", Some(serde_json::from_str(&fa).unwrap())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.names(Who::Admin, "/api/v1/task-definitions?familyPrefix=fa", "taskDefinitions", "family").await.len(), 1, "still one revision of fa");
    // A service cannot be moved to another team's family, even by someone who deploys in both.
    w.admin(Method::PUT, "/api/v1/teams/b/members/deployer", json!({ "role": "deployer" })).await;
    let (status, refused) = w.as_(Who::Deployer, Method::PATCH, "/api/v1/clusters/ca/services/sa", Some(json!({ "taskDefinition": "fb" }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused["message"].as_str().unwrap().contains("belongs to another team than the service"), "{refused}");
    // Every refusal is in the audit log, where team a's maintainer reads it.
    let (_, audit) = w.as_(Who::Maintainer, Method::GET, "/api/v1/audit?team=a", None).await;
    let denied: Vec<&Value> = audit["entries"].as_array().unwrap().iter().filter(|e| e["result"] == "denied" && e["actor"] == "outsider").collect();
    assert!(denied.iter().any(|e| e["action"] == "DescribeService" && e["target"] == "ca/sa"), "{audit}");
    let (status, _) = w.as_(Who::Maintainer, Method::GET, "/api/v1/audit?team=b", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "team b's log is not team a's maintainer's");
}

#[tokio::test]
async fn no_one_grants_more_than_they_have() {
    let w = world().await;
    let cases = [
        (Who::Maintainer, Method::PUT, "/api/v1/teams/b/members/spare", json!({ "role": "viewer" }), StatusCode::FORBIDDEN),
        (Who::Maintainer, Method::PUT, "/api/v1/teams/a/members/spare", json!({ "role": "admin" }), StatusCode::BAD_REQUEST),
        (Who::Deployer, Method::PUT, "/api/v1/teams/a/members/spare", json!({ "role": "viewer" }), StatusCode::FORBIDDEN),
        (Who::Deployer, Method::PUT, "/api/v1/teams/a/members/deployer", json!({ "role": "maintainer" }), StatusCode::FORBIDDEN),
        (Who::Deployer, Method::POST, "/api/v1/tokens", json!({ "role": "maintainer" }), StatusCode::FORBIDDEN),
        (Who::Deployer, Method::POST, "/api/v1/tokens", json!({ "team": "a", "role": "viewer" }), StatusCode::FORBIDDEN),
        (Who::Maintainer, Method::POST, "/api/v1/tokens", json!({ "role": "admin" }), StatusCode::FORBIDDEN),
        (Who::Maintainer, Method::POST, "/api/v1/tokens", json!({ "team": "b", "role": "viewer" }), StatusCode::FORBIDDEN),
        (Who::Maintainer, Method::POST, "/api/v1/users", json!({ "username": "sneaky", "password": "a long password", "admin": true }), StatusCode::FORBIDDEN),
        (Who::Maintainer, Method::PATCH, "/api/v1/users/viewer", json!({ "password": "taken over now" }), StatusCode::FORBIDDEN),
        (Who::Maintainer, Method::PATCH, "/api/v1/clusters/ca", json!({ "taskPolicy": { "level": "privileged" } }), StatusCode::FORBIDDEN),
    ];
    for (who, method, uri, body, expected) in cases {
        let (status, answer) = w.as_(who, method.clone(), uri, Some(body.clone())).await;
        assert_eq!(status, expected, "{who:?} {method} {uri} {body}: {answer}");
    }
    // A token is capped at the role it was given, whatever its user may do.
    let (status, made) = w.as_(Who::Maintainer, Method::POST, "/api/v1/tokens", Some(json!({ "role": "viewer" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let viewer_token = made["token"].as_str().unwrap();
    let (status, _) = w.h.call_as(viewer_token, Method::PATCH, "/api/v1/clusters/ca/services/sa", Some(json!({ "desiredCount": 1 }).to_string())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = w.h.call_as(viewer_token, Method::GET, "/api/v1/clusters/ca/services/sa", None).await;
    assert_eq!(status, StatusCode::OK);
    // A revoked token stops working at once.
    let (status, _) = w.as_(Who::Maintainer, Method::DELETE, &format!("/api/v1/tokens/{}", made["apiToken"]["id"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w.h.call_as(viewer_token, Method::GET, "/api/v1/clusters/ca/services/sa", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A maintainer's grants stand: spare becomes a deployer of team a.
    let (status, team) = w.as_(Who::Maintainer, Method::PUT, "/api/v1/teams/a/members/spare", Some(json!({ "role": "deployer" }))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(team["team"]["members"].as_array().unwrap().iter().any(|m| m["username"] == "spare" && m["role"] == "deployer"), "{team}");
}

#[tokio::test]
async fn sign_in_is_throttled_and_sessions_end_on_sign_out() {
    let w = world().await;
    let wrong = json!({ "username": "viewer", "password": "wrong password" }).to_string();
    for _ in 0..5 {
        let (status, _) = w.h.call_as("", Method::POST, "/api/v1/session", Some(wrong.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let right = json!({ "username": "viewer", "password": "matrix password" }).to_string();
    let (status, answer) = w.h.call_as("", Method::POST, "/api/v1/session", Some(right)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the sixth try in 15 minutes waits, even with the right password: {answer}");
    // Another account signs in; its cookie works until it signs out, then not at all.
    let body = json!({ "username": "deployer", "password": "matrix password" }).to_string();
    let (status, headers, session) = w.h.send(Method::POST, "/api/v1/session", &[("authorization", ""), ("content-type", "application/json")], Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = session["csrfToken"].as_str().expect("a session's answer says its CSRF token").to_string();
    let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(headers["set-cookie"].to_str().unwrap().contains("HttpOnly; SameSite=Strict"), "{headers:?}");
    let with_cookie = [("authorization", ""), ("cookie", cookie.as_str())];
    let (status, _, me) = w.h.send(Method::GET, "/api/v1/session", &with_cookie, None).await;
    assert_eq!((status, me["subject"]["username"].as_str(), me["csrfToken"].as_str()), (StatusCode::OK, Some("deployer"), Some(csrf.as_str())));
    // A change with the cookie is refused without an Origin (not from a page of this site), and
    // from this site's origin without the session's CSRF token, or with another one; with both,
    // it goes through to the policy.
    let here = [("authorization", ""), ("cookie", cookie.as_str()), ("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000"), ("content-type", "application/json")];
    let run = Some(json!({ "taskDefinition": "fa" }).to_string());
    let (status, _, refused) = w.h.send(Method::POST, "/api/v1/clusters/ca/tasks", &[here[0], here[1], here[2], here[4], ("x-csrf-token", csrf.as_str())], run.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused["message"].as_str().unwrap().contains("Origin"), "{refused}");
    let wrong = "0".repeat(csrf.len());
    for token in [None, Some(""), Some(wrong.as_str()), Some(&csrf[1..])] {
        let headers: Vec<_> = here.iter().copied().chain(token.map(|t| ("x-csrf-token", t))).collect();
        let (status, _, refused) = w.h.send(Method::POST, "/api/v1/clusters/ca/tasks", &headers, run.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token:?}: {refused}");
        assert!(refused["message"].as_str().unwrap().contains("CSRF"), "{refused}");
    }
    let with_token: Vec<_> = here.iter().copied().chain([("x-csrf-token", csrf.as_str())]).collect();
    let (status, _, ran) = w.h.send(Method::POST, "/api/v1/clusters/ca/tasks", &with_token, run.clone()).await;
    assert_eq!(status, StatusCode::OK, "the token lets the change through (nothing to place it on here): {ran}");
    assert!(!ran["message"].as_str().unwrap_or_default().contains("CSRF"), "{ran}");
    // The portal's server functions take the token the same way.
    let list_clusters = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path).find(|p| p.starts_with("/api/list_clusters")).expect("list_clusters");
    let (status, _, refused) = w.h.send(Method::POST, list_clusters, &here, Some("{}".into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _, listed) = w.h.send(Method::POST, list_clusters, &with_token, Some("{}".into())).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    // Signing in again with a live session's cookie needs no token: it takes credentials.
    let again = json!({ "username": "deployer", "password": "matrix password" }).to_string();
    let (status, _, answer) = w.h.send(Method::POST, "/api/v1/session", &here, Some(again)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["csrfToken"].is_string(), "{answer}");
    // Signing out is a change too: the portal's form carries the token; a wrong one leads back
    // to a page (that holds the right one), signed in as before.
    let (status, headers, _) = w.h.send(Method::POST, "/auth/logout", &[here[0], here[1], here[2], here[3], ("content-type", "application/x-www-form-urlencoded")], Some("csrf=wrong".into())).await;
    assert_eq!((status, headers.get("location").and_then(|l| l.to_str().ok())), (StatusCode::SEE_OTHER, Some("/")));
    let (status, _, _) = w.h.send(Method::GET, "/api/v1/session", &with_cookie, None).await;
    assert_eq!(status, StatusCode::OK, "still signed in");
    let (status, _, _) = w.h.send(Method::DELETE, "/api/v1/session", &here[..4], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = w.h.send(Method::DELETE, "/api/v1/session", &with_token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Each refusal is in the audit log, in the session's name.
    let (_, audit) = w.as_(Who::Admin, Method::GET, "/api/v1/audit?result=denied", None).await;
    let refused: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter(|e| e["actor"] == "deployer" && e["action"] == "RefusedRequest").map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(refused.iter().filter(|t| **t == "POST /api/v1/clusters/ca/tasks").count(), 5, "{audit}");
    assert!(refused.contains(&"POST /auth/logout") && refused.contains(&"DELETE /api/v1/session"), "{audit}");
    let (status, _, _) = w.h.send(Method::GET, "/api/v1/session", &with_cookie, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended on the server");
}

#[tokio::test]
async fn a_family_of_no_team_stays_an_admins_and_team_tokens_grant_nothing() {
    let w = world().await;
    let legacy = common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", "\"legacy\"");
    let legacy: Value = serde_json::from_str(&legacy).unwrap();
    // As a family made before teams existed: registered by an admin without a team.
    w.admin(Method::POST, "/api/v1/task-definitions", legacy.clone()).await;
    for uri in ["/api/v1/task-definitions", "/api/v1/task-definitions?team=a"] {
        let (status, refused) = w.as_(Who::Deployer, Method::POST, uri, Some(legacy.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {refused}");
    }
    let (status, _) = w.as_(Who::Maintainer, Method::GET, "/api/v1/task-definitions/legacy:1", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.names(Who::Admin, "/api/v1/task-definitions?familyPrefix=legacy", "taskDefinitions", "family").await.len(), 1, "no revision was added");
    // A team token acts for its team, and grants nothing.
    let (_, made) = w.as_(Who::Admin, Method::POST, "/api/v1/tokens", Some(json!({ "team": "a", "role": "maintainer" }))).await;
    let team_token = made["token"].as_str().unwrap();
    let (status, _) = w.h.call_as(team_token, Method::GET, "/api/v1/clusters/ca/services/sa", None).await;
    assert_eq!(status, StatusCode::OK);
    for (method, uri, body) in [
        (Method::POST, "/api/v1/tokens", json!({ "team": "a", "role": "viewer" })),
        (Method::POST, "/api/v1/tokens", json!({ "role": "viewer" })),
        (Method::PUT, "/api/v1/teams/a/members/spare", json!({ "role": "viewer" })),
    ] {
        let (status, refused) = w.h.call_as(team_token, method.clone(), uri, Some(body.to_string())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {refused}");
    }
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_is_counted_whole() {
    let w = world().await;
    let wrong = json!({ "username": "viewer", "password": "wrong password" }).to_string();
    let guesses = (0..12).map(|_| w.h.call_as("", Method::POST, "/api/v1/session", Some(wrong.clone())));
    let answers = futures_util::future::join_all(guesses).await;
    let refused = answers.iter().filter(|(s, _)| *s == StatusCode::UNAUTHORIZED).count();
    let throttled = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((refused, throttled), (5, 7), "five guesses checked, the rest made to wait");
}

/// A team's own work is on its first page however much of another team's sorts before it:
/// pages are filled with what the caller may see, never more than asked, none twice.
#[tokio::test]
async fn a_page_holds_the_callers_own_work_however_much_else_sorts_before_it() {
    let w = world().await;
    for n in 0..7 {
        let other = common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", &format!("\"aa-{n}\""));
        w.admin(Method::POST, "/api/v1/task-definitions?team=b", serde_json::from_str(&other).unwrap()).await;
    }
    for n in 0..3 {
        let own = common::fixture("busybox-httpd.json").replace("\"hello-httpd\"", &format!("\"fz-{n}\""));
        w.admin(Method::POST, "/api/v1/task-definitions?team=a", serde_json::from_str(&own).unwrap()).await;
    }
    let viewer = w.token(Who::Viewer).to_string();
    let (mut seen, mut token) = (Vec::new(), String::new());
    loop {
        let uri = format!("/api/v1/task-definition-families?maxResults=2{}", if token.is_empty() { String::new() } else { format!("&nextToken={token}") });
        let (status, page) = w.h.call_as(&viewer, Method::GET, &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let names: Vec<String> = page["families"].as_array().unwrap().iter().map(|f| f["family"].as_str().unwrap().to_string()).collect();
        assert!(!names.is_empty() && names.len() <= 2, "a page is full or the last one: {names:?}");
        seen.extend(names);
        match page["nextToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["fa", "fz-0", "fz-1", "fz-2"], "all of team a's, in order, none of b's");
}
