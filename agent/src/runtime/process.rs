/*!
The process runtime runs a container's `entryPoint` + `command` as a process on the host, for
hosts without a container engine. The image is not used; ports are the host's own (host
networking: a mapping's host port is its container port). Each process gets its own session
(so it outlives an agent restart and is signalled as a group), its output goes to a log file
in the state directory, and a record file lets a restarted agent find it again.
Health checks run the `healthCheck` command on the host on the container's schedule. What a
process may do (its user, its control group and limits) is [`super::confine`]'s.
*/

use super::confine::{self, Cgroups, Ids};
use super::{Found, LogLines, Observed, Runtime, RuntimeError, Started, logfile};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wharf_core::protocol::{ContainerSpec, HealthCheckSpec, TaskSpec};
use wharf_core::task::NetworkBinding;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    task_id: String,
    container: String,
    pid: i32,
    /// The process's start time in clock ticks since boot: tells it from a reused pid.
    start_ticks: u64,
    bindings: Vec<NetworkBinding>,
    #[serde(default)]
    exit_code: Option<i64>,
    /// Whom it runs as (None: the agent's own user); its health checks run so too.
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    gid: Option<u32>,
}

impl Record {
    fn ids(&self) -> Option<Ids> {
        Some(Ids { uid: self.uid?, gid: self.gid? })
    }
}

#[derive(Default)]
struct Live {
    health: Option<String>,
}

pub struct Process {
    dir: PathBuf,
    live: Arc<Mutex<HashMap<String, Live>>>,
    /// Our own children: None until the reaper has their exit code. Until then a child counts
    /// as running even when it already exited (a zombie), so its exit code is never missed.
    children: Arc<Mutex<HashMap<String, Option<i64>>>>,
    /// None where the agent may not make control groups: processes then run without limits.
    cgroups: Option<Cgroups>,
    /// Whether the cluster's task policy lets a task run as root (only `privileged`).
    root_allowed: AtomicBool,
}

impl Process {
    /// `state_dir`: where records and logs go (a temporary folder when None).
    pub fn new(state_dir: Option<&Path>) -> Self {
        let dir = state_dir.map(|d| d.join("process")).unwrap_or_else(|| std::env::temp_dir().join("wharf-agent-process"));
        if let Err(e) = std::fs::create_dir_all(dir.join("logs")) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the process runtime's folder");
        }
        let cgroups = Cgroups::detect(Path::new("/sys/fs/cgroup"));
        if cgroups.is_none() {
            tracing::warn!("no control groups the agent may make: tasks of the process runtime run without CPU and memory limits");
        }
        Self { dir, live: Arc::default(), children: Arc::default(), cgroups, root_allowed: AtomicBool::new(false) }
    }

    /// Who the container's process (and its health check) runs as: a container naming no user
    /// runs as its task's own, the one its other containers have, else one no other task has.
    fn ids(&self, task_id: &str, c: &ContainerSpec) -> Result<Option<Ids>, RuntimeError> {
        let records: Vec<Record> = std::fs::read_dir(&self.dir)
            .map(|entries| entries.flatten().filter_map(|e| self.read(&e.path().file_stem()?.to_string_lossy())).collect())
            .unwrap_or_default();
        let own = records.iter().find(|r| r.task_id == task_id && r.uid.is_some_and(|u| confine::TASK_UIDS.contains(&u))).and_then(Record::ids);
        let own = own.unwrap_or_else(|| {
            let taken = records.iter().filter(|r| r.exit_code.is_none() && alive(r)).filter_map(|r| r.uid).collect();
            confine::task_ids(task_id, &taken)
        });
        confine::ids_for(c, self.root_allowed.load(Ordering::Relaxed), own).map_err(RuntimeError::Start)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{id}.log"))
    }

    fn read(&self, id: &str) -> Option<Record> {
        std::fs::read(self.record_path(id)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    fn write(&self, id: &str, record: &Record) {
        let tmp = self.record_path(id).with_extension("tmp");
        let ok = serde_json::to_vec(record).ok().is_some_and(|b| std::fs::write(&tmp, b).is_ok());
        if !ok || std::fs::rename(&tmp, self.record_path(id)).is_err() {
            tracing::warn!(container = %id, "cannot write the process record");
        }
    }

    /// Runs the container's process, confined, and keeps its record.
    fn spawn(&self, task: &TaskSpec, c: &ContainerSpec, id: &str, ids: Option<Ids>, procs: Vec<std::ffi::CString>) -> Result<Started, RuntimeError> {
        let argv: Vec<String> = c.entry_point.iter().flatten().chain(c.command.iter().flatten()).cloned().collect();
        let Some((program, args)) = argv.split_first() else {
            return Err(RuntimeError::Start("the process runtime runs a container's entryPoint and command; this container has neither".into()));
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .map_err(|e| RuntimeError::Start(format!("cannot open the log file: {e}")))?;
        let err = log.try_clone().map_err(|e| RuntimeError::Start(e.to_string()))?;
        let mut command = std::process::Command::new(program);
        command.args(args).envs(c.full_environment()).stdin(std::process::Stdio::null()).stdout(log).stderr(err);
        // Entered as the task's user, after the switch: not a folder only root may enter.
        let dir = c.working_directory.as_deref().map(|d| std::ffi::CString::new(d).map_err(|_| RuntimeError::Start("workingDirectory: a folder path has no NUL".into()))).transpose()?;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                libc::setsid();
                // Undo the agent's own OOM protection: a task is what the kernel should kill.
                let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"500".as_ptr().cast(), 3);
                    libc::close(fd);
                }
                confine::enter(&procs, ids, dir.as_ref())
            });
        }
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| RuntimeError::Start(format!("cannot run {program}: {e}")))?;
        let pid = child.id().map(|p| p as i32).ok_or_else(|| RuntimeError::Start("the process exited at once".into()))?;
        let bindings = c
            .port_mappings
            .iter()
            .map(|p| {
                let host_port = if p.host_port == 0 { p.container_port } else { p.host_port };
                NetworkBinding { container_port: p.container_port.into(), host_port: host_port.into(), protocol: p.protocol.clone(), bind_ip: Some("0.0.0.0".into()) }
            })
            .collect();
        let (uid, gid) = (ids.map(|i| i.uid), ids.map(|i| i.gid));
        let record = Record { task_id: task.task_id.clone(), container: c.name.clone(), pid, start_ticks: start_ticks(pid).unwrap_or(0), bindings, exit_code: None, uid, gid };
        self.write(id, &record);
        // Reap the child and keep its exit code in the record.
        let path = self.record_path(id);
        let children = self.children.clone();
        children.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), None);
        let child_id = id.to_string();
        tokio::spawn(async move {
            let status = child.wait().await;
            let code = status.ok().map(|s| {
                use std::os::unix::process::ExitStatusExt;
                s.code().map(i64::from).unwrap_or_else(|| 128 + i64::from(s.signal().unwrap_or(0)))
            });
            if let Some(mut r) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Record>(&b).ok()) {
                r.exit_code = code;
                let _ = serde_json::to_vec(&r).map(|b| std::fs::write(&path, b));
            }
            children.lock().unwrap_or_else(|e| e.into_inner()).insert(child_id, Some(code.unwrap_or(-1)));
        });
        self.watch_health(c, id, &record);
        Ok(Started { runtime_id: id.to_string(), bindings: record.bindings })
    }

    /// Runs the container's health check on its schedule while the process lives.
    fn watch_health(&self, c: &ContainerSpec, id: &str, record: &Record) {
        let Some(check) = c.health_check.clone() else { return };
        // As the task's own process: a health check is the task's command, not the agent's.
        let ids = record.ids();
        let procs = self.cgroups.as_ref().map(|g| g.procs(id)).unwrap_or_default();
        let live = self.live.clone();
        let env: HashMap<String, String> = c.full_environment().into_iter().collect();
        let id = id.to_string();
        let record = record.clone();
        Self::set_health(&live, &id, "UNKNOWN");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(check.start_period)).await;
            let mut failures = 0;
            while alive(&record) {
                if probe(&check, &env, ids, &procs).await {
                    failures = 0;
                    Self::set_health(&live, &id, "HEALTHY");
                } else {
                    failures += 1;
                    if failures >= check.retries {
                        Self::set_health(&live, &id, "UNHEALTHY");
                    }
                }
                tokio::time::sleep(Duration::from_secs(check.interval)).await;
            }
        });
    }

    /// Docker's words for a process the kernel killed for its group's memory.
    fn oom_reason(&self, id: &str, code: Option<i64>) -> Option<String> {
        let killed = code == Some(128 + i64::from(libc::SIGKILL)) && self.cgroups.as_ref().is_some_and(|g| g.oom_killed(id));
        killed.then(|| "OutOfMemoryError: Container killed due to memory usage".to_string())
    }

    fn health_of(&self, id: &str) -> Option<String> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).get(id).and_then(|l| l.health.clone())
    }

    fn set_health(live: &Mutex<HashMap<String, Live>>, id: &str, health: &str) {
        live.lock().unwrap_or_else(|e| e.into_inner()).entry(id.to_string()).or_default().health = Some(health.to_string());
    }
}

/// Field 22 of /proc/PID/stat (after the parenthesised command name).
fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); field 22 is index 19; a zombie counts as gone.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

fn alive(record: &Record) -> bool {
    start_ticks(record.pid) == Some(record.start_ticks)
}

fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group the child leads.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Runs an ECS health check command once; true when it exits 0 within the timeout.
async fn probe(check: &HealthCheckSpec, env: &HashMap<String, String>, ids: Option<Ids>, procs: &[std::ffi::CString]) -> bool {
    let mut command = match check.command.split_first() {
        Some((kind, rest)) if kind == "CMD-SHELL" => {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(rest.join(" "));
            c
        }
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => {
            let mut c = tokio::process::Command::new(&rest[0]);
            c.args(&rest[1..]);
            c
        }
        _ => return false,
    };
    command.envs(env).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).kill_on_drop(true);
    let procs = procs.to_vec();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::setsid();
            confine::enter(&procs, ids, None)
        });
    }
    let Ok(mut child) = command.spawn() else { return false };
    let pid = child.id().map(|p| p as i32);
    let passed = matches!(tokio::time::timeout(Duration::from_secs(check.timeout), child.wait()).await, Ok(Ok(s)) if s.success());
    // Whatever the check left running goes with it (it leads a session of its own).
    if let Some(pid) = pid {
        signal_group(pid, libc::SIGKILL);
    }
    passed
}

#[async_trait]
impl Runtime for Process {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> Vec<String> {
        // Limits are the containers' own: task-level cpu and memory are not enforced, so
        // ecs.capability.task-cpu-mem-limit is not claimed.
        vec!["ecs.capability.container-health-check".into(), "ecs.capability.container-ordering".into()]
    }

    fn set_task_policy(&self, policy: &wharf_core::task_policy::TaskPolicy) {
        self.root_allowed.store(policy.level == wharf_core::task_policy::PolicyLevel::Privileged, Ordering::Relaxed);
    }

    async fn start(&self, task: &TaskSpec, c: &ContainerSpec) -> Result<Started, RuntimeError> {
        let id = format!("{}-{}", task.task_id, c.name);
        if let Some(record) = self.read(&id) {
            return Ok(Started { runtime_id: id, bindings: if alive(&record) { record.bindings } else { Vec::new() } });
        }
        let ids = self.ids(&task.task_id, c)?;
        let procs = match &self.cgroups {
            Some(cgroups) => cgroups.create(&id, c).map_err(|e| RuntimeError::Start(format!("cannot make the container's control group: {e}")))?,
            None => Vec::new(),
        };
        let started = self.spawn(task, c, &id, ids, procs);
        if started.is_err()
            && let Some(cgroups) = &self.cgroups
        {
            cgroups.remove(&id);
        }
        started
    }

    /// A process found after a restart gets its health checks again.
    async fn adopted(&self, _task: &TaskSpec, c: &ContainerSpec, runtime_id: &str) {
        if let Some(record) = self.read(runtime_id).filter(alive) {
            self.watch_health(c, runtime_id, &record);
        }
    }

    async fn observe(&self, runtime_id: &str) -> Result<Observed, RuntimeError> {
        let record = self.read(runtime_id).ok_or(RuntimeError::Gone)?;
        // Observed every few seconds while it runs: the time to keep its log bounded.
        if let Err(e) = logfile::rotate_if_large(&self.log_path(runtime_id))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(container = %runtime_id, error = %e, "cannot rotate the log");
        }
        let health = self.health_of(runtime_id);
        let child = self.children.lock().unwrap_or_else(|e| e.into_inner()).get(runtime_id).copied();
        match child {
            Some(None) => return Ok(Observed { running: true, health, bindings: record.bindings, ..Default::default() }),
            Some(Some(code)) => return Ok(Observed { exit_code: Some(code), health, reason: self.oom_reason(runtime_id, Some(code)), ..Default::default() }),
            None => {}
        }
        if record.exit_code.is_none() && alive(&record) {
            return Ok(Observed { running: true, health, bindings: record.bindings, ..Default::default() });
        }
        // An exit code is known for our own children; a process adopted after a restart
        // leaves none behind.
        let reason = match record.exit_code {
            None => Some("the process ended while the agent was away; its exit code is unknown".to_string()),
            code => self.oom_reason(runtime_id, code),
        };
        Ok(Observed { exit_code: record.exit_code, health, reason, ..Default::default() })
    }

    async fn stop(&self, runtime_id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let record = self.read(runtime_id).ok_or(RuntimeError::Gone)?;
        if !alive(&record) {
            return Ok(());
        }
        signal_group(record.pid, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + timeout;
        while alive(&record) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if alive(&record) {
            signal_group(record.pid, libc::SIGKILL);
        }
        // And whatever left its session: nothing of a stopped container runs on.
        if let Some(cgroups) = &self.cgroups {
            cgroups.kill(runtime_id);
        }
        // Our own child: wait for the reaper to have its exit code.
        for _ in 0..40 {
            let reaped = !matches!(self.children.lock().unwrap_or_else(|e| e.into_inner()).get(runtime_id), Some(None));
            if reaped {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// The records live in this agent's own state directory: all of them are this instance's.
    async fn usage(&self, runtime_id: &str) -> Option<(u64, u64)> {
        let record = self.read(runtime_id).filter(alive)?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", record.pid)).ok()?;
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        // utime and stime (fields 14 and 15) in clock ticks; rss (24) in pages.
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let (hz, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK).max(1) as u64, libc::sysconf(libc::_SC_PAGESIZE).max(1) as u64) };
        let rss: u64 = fields.get(21)?.parse().ok()?;
        Some((ticks * 1_000_000_000 / hz, rss * page))
    }

    async fn find(&self, _instance_id: &str) -> Result<Vec<Found>, RuntimeError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| RuntimeError::Other(e.to_string()))?;
        Ok(entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let id = e.path().file_stem()?.to_string_lossy().into_owned();
                let r = self.read(&id)?;
                Some(Found { task_id: r.task_id, container: r.container, runtime_id: id })
            })
            .collect())
    }

    async fn remove(&self, runtime_id: &str) {
        if let Some(cgroups) = &self.cgroups {
            // A group empties before it can go: what a stopped process left behind goes too.
            cgroups.kill(runtime_id);
            tokio::time::sleep(Duration::from_millis(50)).await;
            cgroups.remove(runtime_id);
        }
        let _ = std::fs::remove_file(self.record_path(runtime_id));
        logfile::remove(&self.log_path(runtime_id));
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(runtime_id);
        self.children.lock().unwrap_or_else(|e| e.into_inner()).remove(runtime_id);
    }

    async fn logs(&self, runtime_id: &str, tail: Option<u32>, follow: bool) -> Result<LogLines, RuntimeError> {
        let path = self.log_path(runtime_id);
        let at = path.clone();
        let (lines, end) = tokio::task::spawn_blocking(move || logfile::tail(&at, tail))
            .await
            .map_err(|e| RuntimeError::Other(e.to_string()))?
            .map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { RuntimeError::Gone } else { RuntimeError::Other(e.to_string()) })?;
        let head = futures_util::stream::iter(lines.into_iter().map(Ok));
        if !follow {
            return Ok(Box::pin(head));
        }
        let rest = futures_util::StreamExt::map(logfile::follow(path, end), |r| r.map_err(|e| RuntimeError::Other(e.to_string())));
        Ok(Box::pin(futures_util::StreamExt::chain(head, rest)))
    }
}
