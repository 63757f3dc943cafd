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
    let agent = wharf_server::api::AgentSettings {
        heartbeat: std::time::Duration::from_secs(config.agent_heartbeat_seconds),
        credential_rotation: std::time::Duration::from_secs(config.instance_credential_rotation_seconds),
        binary: config.agent_binary(),
    };
    let public_url = config.public_url(listen);
    let tls = match (&config.tls_cert, &config.tls_key, config.tls_self_signed) {
        (Some(cert), Some(key), _) => Some(wharf_server::tls::load(cert, key)?),
        (_, _, true) => {
            let host = public_url.split("://").nth(1).and_then(|a| a.split(['/', ':']).next()).unwrap_or("localhost").to_string();
            let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), listen.ip().to_string(), host];
            names.dedup();
            let (cert, key) = wharf_server::tls::self_signed(&config.data_dir.join("tls"), names)?;
            Some(wharf_server::tls::load(&cert, &key)?)
        }
        _ => None,
    };
    let sealer = config.sealer()?;
    let mut state = wharf_server::state(store, wharf_server::leptos_options(&site, listen), public_url, agent);
    state.control.set_sealer(sealer);
    state.control.check_secrets_key().await.map_err(|e| e.message)?;
    if let Some(identity) = &tls {
        state.control.set_certificate(identity.sha256.clone(), identity.public_key_sha256.clone());
    }
    state.guard = std::sync::Arc::new(wharf_server::web_guard::Guard::new(listen, &config.public_url(listen), &config.allowed_hosts));
    state.proxies = std::sync::Arc::new(wharf_server::client_address::TrustedProxies::parse(&config.trusted_proxies).map_err(|e| format!("--trusted-proxy: {e}"))?);
    let scheduler = wharf_server::scheduling::Settings {
        interval: std::time::Duration::from_secs(config.scheduler_interval_seconds),
        lost_after: std::time::Duration::from_secs(config.instance_lost_after_seconds),
        start_timeout: std::time::Duration::from_secs(config.task_start_timeout_seconds),
    };
    let history = wharf_server::retention::Settings {
        stopped_tasks: std::time::Duration::from_secs(config.stopped_task_retention_seconds),
        service_events: config.service_events_kept,
        metrics: std::time::Duration::from_secs(config.metrics_retention_seconds),
    };
    let scaling = std::time::Duration::from_secs(config.scaling_interval_seconds);
    wharf_server::spawn_background(&state, scheduler, history, scaling, config.load_balancer_address.unwrap_or(listen.ip()));
    tracing::info!(%listen, backend = ?state.store.backend(), startup_ms = started.elapsed().as_millis() as u64, "serving");
    // Said whatever the log level: scripts wait for this line to learn the port (`--listen
    // 127.0.0.1:0` binds a free one).
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let app = wharf_server::app(state);
    match &tls {
        Some(identity) => {
            println!("TLS certificate SHA-256: {}", identity.sha256);
            println!("Wharf is up at https://{listen}");
            wharf_server::tls::serve(listener, identity, app, shutdown).await?;
        }
        None => {
            println!("Wharf is up at http://{listen}");
            axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await?;
        }
    }
    Ok(())
}
