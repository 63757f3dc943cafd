/*!
Configuration from flags, `WHARF_*` environment variables, or a file of `KEY=VALUE` lines
(`--config`, the same file the install script writes for systemd's EnvironmentFile). Flags
win over the environment, the environment over the file.
*/

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(name = "wharf-agent", version, about = "Wharf's host agent: joins a cluster as a container instance and runs its tasks.")]
pub struct Cli {
    /// A file of KEY=VALUE lines (WHARF_SERVER=…), read before the environment.
    #[arg(long, global = true, env = "WHARF_AGENT_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub agent: AgentArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run N simulated container instances in this process, each with its own identity and
    /// connection, for scale tests.
    Simulate(SimulateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// Docker when its socket answers, else process.
    Auto,
    Docker,
    Process,
    Simulated,
}

/// Global: they may come before or after a subcommand (`wharf-agent simulate --server …`).
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// The Wharf server, e.g. http://10.0.0.5:3000.
    #[arg(global = true, long, env = "WHARF_SERVER")]
    pub server: Option<String>,

    /// Over HTTPS: the SHA-256 of the server's certificate (64 hex digits; the install
    /// command carries it). The server must present exactly that certificate before the
    /// agent sends anything. Without it, HTTPS servers are checked against the web PKI.
    #[arg(global = true, long, env = "WHARF_SERVER_CERT_SHA256")]
    pub server_cert_sha256: Option<String>,

    /// The cluster to join (must match the join token's).
    #[arg(global = true, long, env = "WHARF_CLUSTER")]
    pub cluster: Option<String>,

    /// A join token (wjt_…), used once to register; afterwards the instance's own credential
    /// from the state directory is used.
    #[arg(global = true, long, env = "WHARF_JOIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Where the agent keeps its identity, task specs and process-runtime logs.
    #[arg(global = true, long, env = "WHARF_STATE_DIR", default_value = "/var/lib/wharf-agent")]
    pub state_dir: PathBuf,

    #[arg(global = true, long, env = "WHARF_RUNTIME", value_enum, default_value = "auto")]
    pub runtime: RuntimeKind,

    /// Custom attributes for placement, NAME=VALUE or NAME (repeatable, or comma-separated).
    #[arg(global = true, long = "attribute", env = "WHARF_ATTRIBUTES", value_delimiter = ',')]
    pub attributes: Vec<String>,

    /// Sets ecs.availability-zone.
    #[arg(global = true, long, env = "WHARF_ZONE")]
    pub zone: Option<String>,

    /// Sets ecs.instance-type.
    #[arg(global = true, long, env = "WHARF_INSTANCE_TYPE")]
    pub instance_type: Option<String>,

    /// MiB kept for the host itself and not offered to tasks (like ECS_RESERVED_MEMORY).
    #[arg(global = true, long, env = "WHARF_RESERVED_MEMORY", default_value_t = 0)]
    pub reserved_memory: i64,

    /// CPU units kept for the host itself.
    #[arg(global = true, long, env = "WHARF_RESERVED_CPU", default_value_t = 0)]
    pub reserved_cpu: i64,

    /// Offer this many CPU units instead of the detected 1024 per core.
    #[arg(global = true, long, env = "WHARF_CPU")]
    pub cpu: Option<i64>,

    /// Offer this many MiB instead of the detected memory.
    #[arg(global = true, long, env = "WHARF_MEMORY")]
    pub memory: Option<i64>,

    /// The name the instance shows under (default: the host name).
    #[arg(global = true, long, env = "WHARF_HOSTNAME")]
    pub hostname: Option<String>,

    /// Docker Engine socket.
    #[arg(global = true, long, env = "DOCKER_HOST", default_value = "unix:///var/run/docker.sock")]
    pub docker_host: String,

    /// Seconds a stopped task's containers and logs stay on the host before they are removed
    /// (like ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION).
    #[arg(global = true, long, env = "WHARF_TASK_CLEANUP_WAIT_SECONDS", default_value_t = 10800)]
    pub task_cleanup_wait_seconds: u64,

    /// Seconds between usage samples.
    #[arg(global = true, long, env = "WHARF_USAGE_SECONDS", default_value_t = 5)]
    pub usage_seconds: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// How many instances.
    #[arg(long, default_value_t = 10)]
    pub count: usize,

    /// CPU units of each instance.
    #[arg(long = "sim-cpu", default_value_t = 4096)]
    pub cpu: i64,

    /// MiB of each instance.
    #[arg(long = "sim-memory", default_value_t = 8192)]
    pub memory: i64,

    /// Zones, given to instances round-robin.
    #[arg(long, value_delimiter = ',', default_value = "a,b,c")]
    pub zones: Vec<String>,

    /// Instance names are PREFIX-0001, PREFIX-0002, …
    #[arg(long, default_value = "sim")]
    pub name_prefix: String,

    /// Seconds over which the instances connect (spreads the registration burst).
    #[arg(long, default_value_t = 0.0)]
    pub ramp_seconds: f64,

    /// Milliseconds each simulated container takes to start.
    #[arg(long = "sim-start-ms", default_value_t = 0)]
    pub start_ms: u64,
}

/// Loads `KEY=VALUE` lines into the environment where the variable is not already set, so
/// clap's `env` fallbacks see them. Blank lines and `#` comments are skipped.
pub fn load_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{}:{}: expected KEY=VALUE", path.display(), n + 1))?;
        let key = key.trim();
        let value = value.trim().trim_matches('"');
        if std::env::var_os(key).is_none() && !value.is_empty() {
            // SAFETY: called at start-up, before any other thread exists.
            unsafe { std::env::set_var(key, value) };
        }
    }
    Ok(())
}

/// Removes the join token from the configuration file once the host has registered: the host
/// has its own credential from then on, and a token left on disk could join other hosts.
/// The file is rewritten whole (a temporary file renamed over it, with the same permissions).
/// Returns whether there was a token to remove.
pub fn forget_join_token(path: &Path) -> std::io::Result<bool> {
    let text = std::fs::read_to_string(path)?;
    let holds_token = |line: &str| line.trim().strip_prefix("WHARF_JOIN_TOKEN=").is_some_and(|v| !v.trim().trim_matches('"').is_empty());
    if !text.lines().any(holds_token) {
        return Ok(false);
    }
    let kept: String = text
        .lines()
        .map(|line| if holds_token(line) { "# WHARF_JOIN_TOKEN: used to register this host, then removed" } else { line })
        .flat_map(|line| [line, "\n"])
        .collect();
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, kept)?;
    std::fs::set_permissions(&temporary, std::fs::metadata(path)?.permissions())?;
    std::fs::rename(&temporary, path)?;
    Ok(true)
}

/// The `--config` path, found before clap parses (the file feeds clap's env fallbacks).
pub fn config_path_from_args() -> Option<PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os("WHARF_AGENT_CONFIG").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_join_token_leaves_the_configuration_file_and_nothing_else_does() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.env");
        std::fs::write(&path, "# comment\nWHARF_SERVER=http://s\nWHARF_JOIN_TOKEN=wjt_abc_def\nWHARF_ZONE=a\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(forget_join_token(&path).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("wjt_abc_def"), "{text}");
        assert!(text.contains("WHARF_SERVER=http://s\n") && text.contains("WHARF_ZONE=a\n") && text.starts_with("# comment\n"), "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!forget_join_token(&path).unwrap(), "nothing left to remove");
    }

    #[test]
    fn connection_flags_work_on_either_side_of_simulate() {
        let flags = ["--server", "http://127.0.0.1:3000", "--cluster", "c1", "--token", "wjt_x"];
        let after = Cli::try_parse_from(["wharf-agent", "simulate", "--count", "50"].into_iter().chain(flags)).expect("flags after the subcommand");
        let before = Cli::try_parse_from(["wharf-agent"].into_iter().chain(flags).chain(["simulate", "--count", "50"])).expect("flags before it");
        for cli in [after, before] {
            assert_eq!(cli.agent.server.as_deref(), Some("http://127.0.0.1:3000"));
            assert_eq!(cli.agent.cluster.as_deref(), Some("c1"));
            assert_eq!(cli.agent.token.as_deref(), Some("wjt_x"));
            assert!(matches!(cli.command, Some(Command::Simulate(SimulateArgs { count: 50, .. }))));
        }
    }
}
