use clap::Parser;
use std::time::Instant;
use tracing_subscriber::EnvFilter;
use wharf_server::config::Config;
use wharf_server::store::Store;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"))).init();
    let config = Config::parse();
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(command) = config.command.clone() {
        return wharf_server::setup_command::run(&config, command).await;
    }
    let started = Instant::now();
    let store = Store::connect(config.database_url.as_deref(), &config.data_dir).await?;
    // Held until the process ends: a second server on this database refuses to start, before
    // it changes anything (migrations included).
    let _claim = store.claim_sole_server().await?;
    store.migrate().await?;
    let site = config.site_dir();
    if !site.join("pkg").is_dir() {
        tracing::warn!(site = %site.display(), "no portal files found; the API works, pages will not hydrate (run scripts/build-site.sh)");
    }
    store.disconnect_all_agents().await?;
    // Bound before anything else is built: with port 0 the system picks a free port, and
    // the public URL and the log name the one it picked.
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let listen = listener.local_addr()?;
    let agent =
        wharf_server::api::AgentSettings { heartbeat: std::time::Duration::from_secs(config.agent_heartbeat_seconds), binary: config.agent_binary() };
    let mut state = wharf_server::state(store, wharf_server::leptos_options(&site, listen), config.public_url(listen), agent);
    state.guard = std::sync::Arc::new(wharf_server::web_guard::Guard::new(listen, &config.public_url(listen), &config.allowed_hosts));
    let scheduler = wharf_server::scheduling::Settings {
        interval: std::time::Duration::from_secs(config.scheduler_interval_seconds),
        lost_after: std::time::Duration::from_secs(config.instance_lost_after_seconds),
        start_timeout: std::time::Duration::from_secs(config.task_start_timeout_seconds),
    };
    let history = wharf_server::retention::Settings {
        stopped_tasks: std::time::Duration::from_secs(config.stopped_task_retention_seconds),
        service_events: config.service_events_kept,
    };
    wharf_server::spawn_background(&state, scheduler, history);
    tracing::info!(%listen, backend = ?state.store.backend(), startup_ms = started.elapsed().as_millis() as u64, "serving");
    // Said whatever the log level: scripts wait for this line to learn the port (`--listen
    // 127.0.0.1:0` binds a free one).
    println!("Wharf is up at http://{listen}");
    axum::serve(listener, wharf_server::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
