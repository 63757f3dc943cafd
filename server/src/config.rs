/*! Command line and environment: every flag has a `WHARF_*` variable of the same meaning. */

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(name = "wharf-server", version, about = "Wharf's control plane: the HTTP API and the web portal.")]
pub struct Config {
    /// Address and port to listen on; port 0 picks a free one (the log says which).
    #[arg(long, env = "WHARF_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Directory for Wharf's own files; the default SQLite database is DATA_DIR/wharf.db
    /// (created and migrated at start).
    #[arg(long, env = "WHARF_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Database to use instead of the SQLite file: postgres://USER:PASSWORD@HOST/DB selects
    /// PostgreSQL; sqlite://PATH another SQLite file. One server per database: a second
    /// server on the same database refuses to start.
    #[arg(long, env = "WHARF_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Folder with the portal's static files (pkg/wharf.js, pkg/wharf_bg.wasm, pkg/wharf.css),
    /// as `scripts/build-site.sh` writes it. Default: the `site` folder beside the binary's
    /// target folder (target/site), else ./target/site.
    #[arg(long, env = "WHARF_SITE_DIR")]
    pub site_dir: Option<PathBuf>,

    /// The URL hosts reach this server at (for the agent install command). Default:
    /// http://LISTEN.
    #[arg(long, env = "WHARF_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// More host names the server answers to, beside localhost, the address it listens on and
    /// the public URL's host (a request naming any other is refused: DNS rebinding). Repeat the
    /// flag or separate names with commas; `*` answers to any name.
    #[arg(long = "allowed-host", env = "WHARF_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Reverse proxies in front of the server (addresses or blocks such as 10.0.0.0/8): their
    /// X-Forwarded-For names the client for the audit log and sign-in throttling, and their
    /// X-Forwarded-Proto says whether an agent's connection was encrypted. Repeat the flag or
    /// separate them with commas. Nobody else's forwarding headers are believed.
    #[arg(long = "trusted-proxy", env = "WHARF_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// The address the load balancer's listeners bind their ports on. Default: the address
    /// of --listen (so a server on loopback serves its listeners on loopback too).
    #[arg(long, env = "WHARF_LOAD_BALANCER_ADDRESS")]
    pub load_balancer_address: Option<std::net::IpAddr>,

    /// HTTPS with this PEM certificate chain (with --tls-key): portal, API and agents.
    #[arg(long, env = "WHARF_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "WHARF_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// HTTPS with a self-signed certificate made at first start and kept in DATA_DIR/tls;
    /// agents pin it by the SHA-256 the install command carries.
    #[arg(long, env = "WHARF_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,

    /// The file holding the key secrets are sealed with (32 bytes as base64 or hex); made at
    /// first start when absent. The key may instead be given in WHARF_SECRETS_KEY (never as
    /// a flag: flags show in process lists). [default: DATA_DIR/secrets.key]
    #[arg(long, env = "WHARF_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,

    /// Seconds between agent heartbeats; an agent silent for three is disconnected.
    #[arg(long, env = "WHARF_AGENT_HEARTBEAT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub agent_heartbeat_seconds: u64,

    /// Seconds an instance credential serves before its connected agent is handed a new one
    /// (the old stops working once the agent has saved it).
    #[arg(long, env = "WHARF_INSTANCE_CREDENTIAL_ROTATION_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub instance_credential_rotation_seconds: u64,

    /// Seconds between scheduling passes when nothing wakes the scheduler earlier (service
    /// changes, task state changes and instances joining or leaving do).
    #[arg(long, env = "WHARF_SCHEDULER_INTERVAL_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub scheduler_interval_seconds: u64,

    /// Seconds an instance's agent may stay disconnected before its service tasks are
    /// started elsewhere (the old ones are stopped if it comes back).
    #[arg(long, env = "WHARF_INSTANCE_LOST_AFTER_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub instance_lost_after_seconds: u64,

    /// Seconds a task may take to reach RUNNING (image pulls included) before it is stopped
    /// as failed to start.
    #[arg(long, env = "WHARF_TASK_START_TIMEOUT_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub task_start_timeout_seconds: u64,

    /// Seconds a stopped task stays visible before it is deleted (ECS keeps them at least an
    /// hour).
    #[arg(long, env = "WHARF_STOPPED_TASK_RETENTION_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub stopped_task_retention_seconds: u64,

    /// Service events kept per service, the newest (ECS shows the last 100).
    #[arg(long, env = "WHARF_SERVICE_EVENTS_KEPT", default_value_t = 100, value_parser = clap::value_parser!(i64).range(10..=100_000))]
    pub service_events_kept: i64,

    /// Seconds of services' metric history kept for charts and scaling (at least the hour a
    /// step scaling alarm may look back).
    #[arg(long, env = "WHARF_METRICS_RETENTION_SECONDS", default_value_t = 21_600, value_parser = clap::value_parser!(u64).range(3600..=2_592_000))]
    pub metrics_retention_seconds: u64,

    /// Seconds between auto scaling evaluations (each samples the services' metrics first).
    #[arg(long, env = "WHARF_SCALING_INTERVAL_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub scaling_interval_seconds: u64,

    /// The wharf-agent binary handed out at /agent/wharf-agent. Default: wharf-agent beside
    /// this binary.
    #[arg(long, env = "WHARF_AGENT_BINARY")]
    pub agent_binary: Option<PathBuf>,

    /// Without a command, the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Setup for scripts, on the same data directory or database as the server (running or not).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Accounts: `admin create --username U` (the password from WHARF_ADMIN_PASSWORD or stdin).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// API tokens: `token create --username U [--role R] [--expires-in 1d]` prints the token
    /// alone on its last line.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminAction {
    /// Creates an admin account.
    Create {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenAction {
    /// Creates an API token for a user.
    Create {
        #[arg(long)]
        username: String,
        /// admin, maintainer, deployer or viewer; the user's highest when absent.
        #[arg(long)]
        role: Option<String>,
        /// Lifetime: 30m, 12h, 7d or seconds; no expiry when absent.
        #[arg(long)]
        expires_in: Option<String>,
    },
}

impl Config {
    /// The URL hosts reach this server at: as configured, else the address it listens on.
    pub fn public_url(&self, listening: SocketAddr) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        self.public_url.clone().unwrap_or_else(|| format!("{scheme}://{listening}"))
    }

    /// The key secrets are sealed with: WHARF_SECRETS_KEY, else the key file (made when absent).
    pub fn sealer(&self) -> Result<crate::auth::sealing::Sealer, String> {
        match std::env::var("WHARF_SECRETS_KEY") {
            Ok(key) if !key.trim().is_empty() => crate::auth::sealing::Sealer::from_text(&key).map_err(|e| format!("WHARF_SECRETS_KEY: {e}")),
            _ => crate::auth::sealing::Sealer::from_file_or_new(&self.secrets_key_file.clone().unwrap_or_else(|| self.data_dir.join("secrets.key"))),
        }
    }

    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() || self.tls_self_signed
    }

    pub fn agent_binary(&self) -> Option<PathBuf> {
        self.agent_binary.clone().or_else(|| std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join("wharf-agent"))))
    }

    pub fn site_dir(&self) -> PathBuf {
        if let Some(dir) = &self.site_dir {
            return dir.clone();
        }
        let beside_binary = std::env::current_exe().ok().and_then(|exe| exe.parent().and_then(|p| p.parent()).map(|t| t.join("site")));
        match beside_binary {
            Some(dir) if dir.join("pkg").is_dir() => dir,
            _ => PathBuf::from("target/site"),
        }
    }
}
