/*!
`wharf-agent simulate --count N`: N container instances in one process, each with its own
identity (kept under STATE_DIR/sim-NNNN), its own WebSocket and a simulated runtime. For
scale tests of the server; nothing runs.
*/

use crate::config::{AgentArgs, SimulateArgs};
use crate::connection::{Connection, Ended, HelloFacts};
use crate::runtime::simulated::Simulated;
use crate::state::StateDir;
use crate::supervisor::Supervisor;
use crate::{host, register, usage};
use std::sync::Arc;
use std::time::Duration;
use wharf_core::instance::VersionInfo;

pub async fn run(args: AgentArgs, sim: SimulateArgs) -> Result<(), String> {
    if sim.count == 0 || sim.count > 100_000 {
        return Err("--count is 1 to 100000".into());
    }
    let zones: Vec<String> = sim.zones.iter().map(|z| z.trim().to_string()).filter(|z| !z.is_empty()).collect();
    crate::tls::check_server(args.server.as_deref(), args.server_cert_sha256.as_deref())?;
    let tls = crate::tls::client_config(args.server_cert_sha256.as_deref())?;
    let http = crate::tls::http_client(&tls, Duration::from_secs(60))?;
    let runtime = Simulated::default();
    let capabilities = crate::runtime::Runtime::capabilities(&runtime);
    let start_ms = sim.start_ms;
    let mut handles = Vec::with_capacity(sim.count);
    for i in 0..sim.count {
        let mut one = args.clone();
        one.zone = zones.get(i % zones.len().max(1)).cloned().or(one.zone);
        one.hostname = Some(format!("{}-{:04}", sim.name_prefix, i + 1));
        one.cpu = Some(sim.cpu);
        one.memory = Some(sim.memory);
        let facts = host::facts(&one, &capabilities)?;
        let state = StateDir::open(&args.state_dir.join(format!("sim-{:04}", i + 1))).map_err(|e| e.to_string())?;
        let http = http.clone();
        let tls = tls.clone();
        let delay = Duration::from_secs_f64(sim.ramp_seconds.max(0.0) * i as f64 / sim.count as f64);
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let version = VersionInfo { agent_version: Some(env!("CARGO_PKG_VERSION").into()), docker_version: None };
            let identity = match state.identity() {
                Ok(Some(saved)) => saved,
                _ => {
                    let server = one.server.as_deref().ok_or("--server is required")?;
                    let token = one.token.as_deref().ok_or("--token is required to register simulated instances")?;
                    let id = register::register(&http, server, token, one.cluster.as_deref(), &facts, version).await?;
                    state.save_identity(&id).map_err(|e| e.to_string())?;
                    id
                }
            };
            let cleanup = Duration::from_secs(one.task_cleanup_wait_seconds);
            let runtime = Simulated::with_start_delay(Duration::from_millis(start_ms));
            let (supervisor, mut reports) = Supervisor::new(Arc::new(runtime), None, cleanup);
            let connection = Connection {
                identity: identity.into(),
                state: state.clone(),
                tls: tls.clone(),
                facts: HelloFacts { hostname: facts.hostname, cpu: facts.cpu, memory: facts.memory, attributes: facts.attributes, docker_version: None },
                supervisor,
                usage_every: Duration::from_secs(one.usage_seconds.max(1)),
                usage: usage::simulated,
            };
            match connection.run(&mut reports).await {
                Ended::Refused(r) | Ended::CredentialRefused(r) => Err(format!("{}: {r}", facts_name(&one))),
                Ended::Deregistered => Ok(()),
            }
        }));
    }
    tracing::info!(count = sim.count, "simulated instances started");
    let mut failures = 0;
    for h in handles {
        if let Ok(Err(e)) = h.await {
            tracing::error!("{e}");
            failures += 1;
        }
    }
    if failures > 0 { Err(format!("{failures} simulated instance(s) stopped with an error")) } else { Ok(()) }
}

fn facts_name(args: &AgentArgs) -> String {
    args.hostname.clone().unwrap_or_default()
}
