//! The diagram's data through the real `wharf-server` and `wharf-agent simulate`: the topology
//! document agrees with the task and instance APIs, and the live feed announces a stopped task.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use wharf_systest::{Agent, Server, eventually, unique};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_topology_places_every_task_in_its_instance_with_capacity_and_service_counts() {
    let server = Server::start(2).await;
    let cluster = unique("topo");
    let token = server.cluster_trusting_hosts(&cluster).await;
    let _agents = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "simulate", "--count", "3"]);
    server.connected(&cluster, 3).await;
    let web = server.register(json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "local/web:1", "cpu": 128, "memory": 256}]})).await;
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(json!({"serviceName": "web", "taskDefinition": web, "desiredCount": 6}))).await;
    let job = server.register(json!({"family": "job", "containerDefinitions": [{"name": "run", "image": "local/job:1", "cpu": 64, "memory": 32}]})).await;
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({"taskDefinition": job, "count": 1}))).await;

    let topology = eventually("7 tasks RUNNING in the topology", WAIT, || async {
        let t = server.ok("GET", &format!("/api/v1/clusters/{cluster}/topology"), None).await;
        (t["summary"]["tasksRunning"] == 7).then_some(t)
    })
    .await;

    // Every task sits in the instance the tasks API says it runs on.
    let tasks = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?desiredStatus=RUNNING"), None).await;
    let where_api: HashMap<String, String> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["taskArn"].as_str().unwrap().rsplit('/').next().unwrap().to_string(), t["containerInstanceArn"].as_str().unwrap().rsplit('/').next().unwrap().to_string()))
        .collect();
    assert_eq!(where_api.len(), 7);
    let instances = topology["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3);
    for i in instances {
        let id = i["id"].as_str().unwrap();
        let mine: Vec<&Value> = i["tasks"].as_array().unwrap().iter().collect();
        for t in &mine {
            assert_eq!(where_api[t["id"].as_str().unwrap()], id, "task {t} drawn in the wrong instance");
            assert_eq!(t["containers"][0]["lastStatus"], "RUNNING");
        }
        // Reserved = what its tasks hold; registered = what the agent offered (the simulator's default).
        let cpu: i64 = mine.iter().map(|t| t["cpu"].as_i64().unwrap()).sum();
        let memory: i64 = mine.iter().map(|t| t["memory"].as_i64().unwrap()).sum();
        assert_eq!((i["cpu"]["reserved"].as_i64().unwrap(), i["memory"]["reserved"].as_i64().unwrap()), (cpu, memory), "{i:#}");
        let described = server.ok("GET", &format!("/api/v1/clusters/{cluster}/container-instances/{id}"), None).await["containerInstance"].clone();
        let registered = |name: &str| described["registeredResources"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["integerValue"].clone();
        assert_eq!(i["cpu"]["registered"], registered("CPU"));
        assert_eq!(i["memory"]["registered"], registered("MEMORY"));
        assert!(i["attributes"]["ecs.availability-zone"].is_string(), "zone attribute for grouping: {i:#}");
        // The web service spreads over the three zones: two each.
        assert_eq!(mine.iter().filter(|t| t["group"] == "service:web").count(), 2, "{i:#}");
    }
    let services = topology["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!((services[0]["serviceName"].as_str(), services[0]["runningCount"].as_i64(), services[0]["desiredCount"].as_i64()), (Some("web"), Some(6), Some(6)));
    let total_cpu: i64 = instances.iter().map(|i| i["cpu"]["reserved"].as_i64().unwrap()).sum();
    assert_eq!(topology["summary"]["cpu"]["reserved"], 6 * 128 + 64);
    assert_eq!(topology["summary"]["cpu"]["reserved"].as_i64().unwrap(), total_cpu);

    let (status, missing) = server.call("GET", "/api/v1/clusters/nope/topology", None).await;
    assert_eq!(status, 404, "{missing}");

    // The live feed: stopping the one-off task is announced, first as wanted, then as done
    // once its agent reports it.
    let one_off = instances.iter().flat_map(|i| i["tasks"].as_array().unwrap()).find(|t| t["group"] == "family:job").unwrap()["id"].as_str().unwrap().to_string();
    let mut feed = server.http.get(format!("{}/api/v1/events?cluster={cluster}", server.url)).send().await.unwrap();
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks/{one_off}/stop"), Some(json!({"reason": "done"}))).await;
    let mut text = String::new();
    let ours = |text: &str| -> Vec<(String, String)> {
        events(text)
            .into_iter()
            .filter(|(name, data)| name == "task" && data["taskId"] == one_off.as_str())
            .map(|(_, data)| (data["lastStatus"].as_str().unwrap_or("-").to_string(), data["desiredStatus"].as_str().unwrap_or("-").to_string()))
            .collect()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !ours(&text).iter().any(|(last, _)| last == "STOPPED") {
        let chunk = tokio::time::timeout_at(deadline, feed.chunk()).await.expect("the stop is announced in time").unwrap().expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let seen = ours(&text);
    assert_eq!(seen.first().map(|(l, d)| (l.as_str(), d.as_str())), Some(("RUNNING", "STOPPED")), "{text}");
    assert_eq!(seen.last().map(|(l, d)| (l.as_str(), d.as_str())), Some(("STOPPED", "STOPPED")), "{text}");
}

/// Complete Server-Sent Events in `text`: (event name, data).
fn events(text: &str) -> Vec<(String, Value)> {
    let complete = &text[..text.rfind("\n\n").map_or(0, |end| end + 2)];
    complete
        .split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
            Some((field("event:")?, serde_json::from_str(&field("data:")?).ok()?))
        })
        .collect()
}
