/*!
The agent's files in its state directory: `identity.json` (instance id, cluster, server and
the instance credential, mode 0600) and `tasks/<id>.json` (the spec of every task it was
asked to run and has not seen stop), so a restarted agent knows what it runs.
*/

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wharf_core::protocol::TaskSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub container_instance_id: String,
    pub cluster: String,
    pub server: String,
    pub credential: String,
    /// The credential before the last rotation, tried once if the server refuses the current
    /// one (it may have replaced an offer the agent had already saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_credential: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("tasks"))?;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))?;
        Ok(Self { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn identity(&self) -> std::io::Result<Option<Identity>> {
        match std::fs::read(self.root.join("identity.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save_identity(&self, identity: &Identity) -> std::io::Result<()> {
        write_atomic(&self.root.join("identity.json"), &serde_json::to_vec_pretty(identity)?, 0o600)
    }

    pub fn forget_identity(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.root.join("identity.json")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn task_path(&self, id: &str) -> PathBuf {
        // Task ids come from the server; keep them to file-name-safe characters.
        let safe: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        self.root.join("tasks").join(format!("{safe}.json"))
    }

    pub fn save_task(&self, spec: &TaskSpec) -> std::io::Result<()> {
        // Secret values stay in memory: a restarted agent adopts the running containers.
        write_atomic(&self.task_path(&spec.task_id), &serde_json::to_vec(&spec.without_secret_values())?, 0o600)
    }

    pub fn forget_task(&self, id: &str) {
        let _ = std::fs::remove_file(self.task_path(id));
    }

    /// Every saved task spec; unreadable files are skipped with a warning.
    pub fn tasks(&self) -> Vec<TaskSpec> {
        let Ok(entries) = std::fs::read_dir(self.root.join("tasks")) else { return Vec::new() };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| match std::fs::read(e.path()).map(|b| serde_json::from_slice::<TaskSpec>(&b)) {
                Ok(Ok(spec)) => Some(spec),
                other => {
                    tracing::warn!(file = %e.path().display(), ?other, "skipping an unreadable task file");
                    None
                }
            })
            .collect()
    }
}

/// Write to a temporary file, then rename: a crash never leaves half a file.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(mode).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename itself outlives a crash only once the directory is synced.
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}
