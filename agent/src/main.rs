/*!
wharf-agent: turns a host into a container instance of a Wharf cluster. It registers with a
join token (once), keeps one WebSocket to the server, and runs the tasks the server assigns
through a runtime driver (Docker, plain processes, or a simulation).

The messages it exchanges with the server are defined and documented in
`wharf_core::protocol` (core/src/protocol.rs), shared with the server.
*/

mod config;
mod connection;
mod host;
mod register;
mod runtime;
mod simulate;
mod state;
mod supervisor;
mod tls;
mod usage;

use clap::Parser;
use config::{AgentArgs, Cli, Command, RuntimeKind};
use connection::{Connection, Ended, HelloFacts};
use state::StateDir;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use supervisor::Supervisor;
use tracing_subscriber::EnvFilter;
use wharf_core::instance::VersionInfo;

fn main() -> ExitCode {
    if let Some(path) = config::config_path_from_args()
        && let Err(e) = config::load_file(&path) {
            eprintln!("wharf-agent: {e}");
            return ExitCode::from(2);
        }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    host::protect_from_oom_killer();
    // A small runtime: the agent's own footprint is part of what it must keep low.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let Ok(runtime) = runtime else {
        eprintln!("wharf-agent: cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Simulate(sim)) => simulate::run(cli.agent, sim).await,
            None => run(cli.agent).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: AgentArgs) -> Result<(), String> {
    let state = StateDir::open(&args.state_dir).map_err(|e| format!("state directory {}: {e}", args.state_dir.display()))?;
    let runtime: Arc<dyn runtime::Runtime> = match args.runtime {
        RuntimeKind::Auto => runtime::detect(&args.docker_host, state.root()).await.into(),
        RuntimeKind::Docker => Arc::new(runtime::docker::Docker::connect(&args.docker_host).await.map_err(|e| format!("Docker: {e}"))?),
        RuntimeKind::Process => Arc::new(runtime::process::Process::new(Some(state.root()))),
        RuntimeKind::Simulated => Arc::new(runtime::simulated::Simulated::default()),
    };
    // Every runtime sets secrets in the environment (ECS's capability name for it).
    let mut capabilities = runtime.capabilities();
    capabilities.push(wharf_core::secret::CAPABILITY.into());
    let facts = host::facts(&args, &capabilities)?;
    tls::check_server(args.server.as_deref(), args.server_cert_sha256.as_deref())?;
    let tls = tls::client_config(args.server_cert_sha256.as_deref())?;
    let http = tls::http_client(&tls, Duration::from_secs(30))?;
    let version = VersionInfo { agent_version: Some(env!("CARGO_PKG_VERSION").into()), docker_version: runtime.engine_version() };

    let cleanup = Duration::from_secs(args.task_cleanup_wait_seconds);
    let (supervisor, mut reports) = Supervisor::new(runtime.clone(), Some(state.clone()), cleanup);
    let mut first = true;
    loop {
        let identity = identity(&args, &state, &http, &facts, &version).await?;
        if std::mem::take(&mut first) {
            let adopted = supervisor.adopt(&identity.container_instance_id).await.map_err(|e| format!("cannot list the host's containers: {e}"))?;
            if adopted > 0 {
                tracing::info!(tasks = adopted, "took over the tasks already on this host");
            }
        }
        let connection = Connection {
            identity: identity.into(),
            state: state.clone(),
            tls: tls.clone(),
            facts: HelloFacts {
                hostname: facts.hostname.clone(),
                cpu: facts.cpu,
                memory: facts.memory,
                attributes: facts.attributes.clone(),
                docker_version: runtime.engine_version(),
            },
            supervisor: supervisor.clone(),
            usage_every: Duration::from_secs(args.usage_seconds.max(1)),
            usage: if runtime.name() == "simulated" { usage::simulated } else { usage::host },
        };
        match connection.run(&mut reports).await {
            Ended::Refused(reason) => return Err(format!("the server refused this agent: {reason}")),
            Ended::Deregistered => {
                state.forget_identity().map_err(|e| e.to_string())?;
                return Err("this container instance was deregistered; its tasks were stopped. Start the agent with a join token to register the host again".into());
            }
            Ended::CredentialRefused(reason) => {
                if args.token.is_none() {
                    return Err(format!("the server refused the instance credential: {reason}"));
                }
                tracing::warn!(%reason, "the instance credential was refused; registering again with the join token");
                state.forget_identity().map_err(|e| e.to_string())?;
                // The old instance's tasks are not the new instance's.
                supervisor.stop_all("Container instance registered again");
            }
        }
    }
}

/// The saved identity, or a new one from the join token.
async fn identity(
    args: &AgentArgs,
    state: &StateDir,
    http: &reqwest::Client,
    facts: &host::HostFacts,
    version: &VersionInfo,
) -> Result<state::Identity, String> {
    if let Some(saved) = state.identity().map_err(|e| format!("cannot read the saved identity: {e}"))? {
        let same_server = args.server.as_deref().is_none_or(|s| s.trim_end_matches('/') == saved.server);
        let same_cluster = args.cluster.as_deref().is_none_or(|c| c == saved.cluster);
        if same_server && same_cluster {
            return Ok(saved);
        }
        tracing::warn!(server = %saved.server, cluster = %saved.cluster, "the saved identity is for another server or cluster; registering anew");
    }
    let server = args.server.as_deref().ok_or("--server (WHARF_SERVER) is required")?;
    let token = args.token.as_deref().ok_or("--token (WHARF_JOIN_TOKEN) is required to register this host; create a join token on the cluster's page")?;
    let identity = register::register(http, server, token, args.cluster.as_deref(), facts, version.clone()).await?;
    state.save_identity(&identity).map_err(|e| format!("cannot save the identity: {e}"))?;
    tracing::info!(instance = %identity.container_instance_id, cluster = %identity.cluster, "registered");
    if let Some(path) = config::config_path_from_args() {
        match config::forget_join_token(&path) {
            Ok(true) => tracing::info!(config = %path.display(), "the join token was removed from the configuration file"),
            Ok(false) => {}
            Err(e) => tracing::warn!(config = %path.display(), error = %e, "cannot remove the join token from the configuration file"),
        }
    }
    Ok(identity)
}
