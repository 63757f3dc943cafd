/*!
What a process of the process runtime may do on the host: the user it runs as and the control
group that holds it to its container's limits, as Docker would (a hard memory limit, the
reservation as a soft one, CPU shares).

A process runs as the container's `user` (ECS's forms: `user`, `user:group`, `uid`,
`uid:gid`). Unless the cluster's task policy is `privileged`, root is refused and a container
without a `user` runs as a user of its task's own (from [`TASK_UIDS`]): the process runtime
has no namespaces, so root in a task would be root on the host, and tasks sharing a user could
read each other's environment (their secrets) and signal each other. Confined processes also
get `no_new_privs`, so the host's setuid programs do not make them root again. Only a root
agent can switch users: a non-root agent runs tasks only under a privileged policy.

Control groups: v2 (`/sys/fs/cgroup/wharf/ID`) or v1 (`…/memory/wharf/ID` and
`…/cpu/wharf/ID`), whichever the host mounts. The child joins its groups itself, before it
drops to its user and execs, so nothing it runs ever escapes them.
*/

use std::ffi::CString;
use std::path::{Path, PathBuf};
use wharf_core::protocol::ContainerSpec;

const MIB: i64 = 1024 * 1024;
/// The uids (and gids) given to tasks that name no user: one per task, none of them a user of
/// the host's.
pub const TASK_UIDS: std::ops::Range<u32> = 200_000..265_536;

/// A user and group to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// The task's own user for a task that names none: from its id, past those other tasks hold.
pub fn task_ids(task_id: &str, taken: &std::collections::HashSet<u32>) -> Ids {
    let span = TASK_UIDS.end - TASK_UIDS.start;
    // FNV-1a: stable across agent versions, unlike std's hasher.
    let hash = task_id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let uid = (0..span).map(|i| TASK_UIDS.start + (hash.wrapping_add(i)) % span).find(|u| !taken.contains(u)).unwrap_or(TASK_UIDS.start);
    Ids { uid, gid: uid }
}

/// Who a container's process runs as: `own` (its task's user) when it names none, None for
/// the agent's own user (only under a privileged policy). An error names the field and the rule.
pub fn ids_for(c: &ContainerSpec, root_allowed: bool, own: Ids) -> Result<Option<Ids>, String> {
    // SAFETY: geteuid has no preconditions.
    let agent_is_root = unsafe { libc::geteuid() } == 0;
    let user = c.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
    if !agent_is_root {
        return match (root_allowed, user) {
            (true, None) => Ok(None),
            (true, Some(user)) => Err(format!("containerDefinitions.user: wharf-agent does not run as root here, so it cannot run a task as {user}")),
            (false, _) => Err("containerDefinitions.user: the process runtime confines a task to a user of its own only when wharf-agent runs as root; run it as root, or make the cluster's task policy privileged".into()),
        };
    }
    let Some(user) = user else {
        return Ok((!root_allowed).then_some(own));
    };
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    let (uid, primary) = match name.parse::<u32>() {
        Ok(uid) => (uid, lookup_uid(uid).unwrap_or(uid)),
        Err(_) => lookup_user(name).ok_or_else(|| format!("containerDefinitions.user: no user {name} on this host"))?,
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup_group(g).ok_or_else(|| format!("containerDefinitions.user: no group {g} on this host"))?,
        },
    };
    if (uid == 0 || gid == 0) && !root_allowed {
        let who = if uid == 0 { format!("{user} is root") } else { format!("{user} has group 0 (root's)") };
        return Err(format!(
            "containerDefinitions.user: {who}, which the process runtime allows only under a privileged task policy (it shares the host: root in the task is root on the host)"
        ));
    }
    Ok(Some(Ids { uid, gid }))
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; getpwnam_r writes into it and into buf, within their sizes.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out = std::ptr::null_mut();
        let rc = libc::getpwnam_r(name.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out);
        (rc == 0 && !out.is_null()).then_some((pw.pw_uid, pw.pw_gid))
    }
}

/// The primary group of a uid the host knows.
fn lookup_uid(uid: u32) -> Option<u32> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: as in lookup_user.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out);
        (rc == 0 && !out.is_null()).then_some(pw.pw_gid)
    }
}

fn lookup_group(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: group is plain data; getgrnam_r writes into it and into buf, within their sizes.
    unsafe {
        let mut gr: libc::group = std::mem::zeroed();
        let mut out = std::ptr::null_mut();
        let rc = libc::getgrnam_r(name.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut out);
        (rc == 0 && !out.is_null()).then_some(gr.gr_gid)
    }
}

/// The host's control groups, as far as the agent may create them.
#[derive(Debug, Clone)]
pub enum Cgroups {
    V2 { base: PathBuf },
    V1 { memory: PathBuf, cpu: PathBuf },
}

impl Cgroups {
    /// Finds the hierarchy under `root` (`/sys/fs/cgroup`) and makes Wharf's own group in it;
    /// None when there is none the agent may write (not root, or a read-only mount).
    pub fn detect(root: &Path) -> Option<Self> {
        if root.join("cgroup.controllers").exists() {
            let base = root.join("wharf");
            std::fs::create_dir_all(&base).ok()?;
            // Children get the memory and cpu controllers only if each level hands them down.
            std::fs::write(root.join("cgroup.subtree_control"), "+memory +cpu").ok()?;
            std::fs::write(base.join("cgroup.subtree_control"), "+memory +cpu").ok()?;
            return Some(Self::V2 { base });
        }
        let memory = root.join("memory").join("wharf");
        let cpu = ["cpu", "cpu,cpuacct"].iter().map(|d| root.join(d)).find(|d| d.join("cpu.shares").exists())?.join("wharf");
        std::fs::create_dir_all(&memory).ok()?;
        std::fs::create_dir_all(&cpu).ok()?;
        Some(Self::V1 { memory, cpu })
    }

    fn dirs(&self, id: &str) -> Vec<PathBuf> {
        match self {
            Self::V2 { base } => vec![base.join(id)],
            Self::V1 { memory, cpu } => vec![memory.join(id), cpu.join(id)],
        }
    }

    /// The `cgroup.procs` files a process of the container writes itself into.
    pub fn procs(&self, id: &str) -> Vec<CString> {
        self.dirs(id).iter().filter_map(|d| CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok()).collect()
    }

    /// Makes the container's groups with its limits; returns [`Cgroups::procs`].
    pub fn create(&self, id: &str, c: &ContainerSpec) -> std::io::Result<Vec<CString>> {
        let hard = c.memory.map(|m| m.saturating_mul(MIB));
        let soft = c.memory_reservation.map(|m| m.saturating_mul(MIB));
        // Docker's minimum share is 2, as for a container with cpu 0.
        let shares = c.cpu.clamp(2, 262_144);
        for dir in self.dirs(id) {
            std::fs::create_dir_all(&dir)?;
        }
        match self {
            Self::V2 { base } => {
                let dir = base.join(id);
                if let Some(bytes) = hard {
                    std::fs::write(dir.join("memory.max"), bytes.to_string())?;
                    // No swap beyond the limit, as Docker gives none by default past it.
                    let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                }
                if let Some(bytes) = soft {
                    std::fs::write(dir.join("memory.low"), bytes.to_string())?;
                }
                // cgroup v2's weight for v1's shares (the conversion runc uses).
                let weight = 1 + ((shares - 2) * 9999) / 262_142;
                std::fs::write(dir.join("cpu.weight"), weight.to_string())?;
            }
            Self::V1 { memory, cpu } => {
                let dir = memory.join(id);
                if let Some(bytes) = hard {
                    std::fs::write(dir.join("memory.limit_in_bytes"), bytes.to_string())?;
                }
                if let Some(bytes) = soft {
                    std::fs::write(dir.join("memory.soft_limit_in_bytes"), bytes.to_string())?;
                }
                std::fs::write(cpu.join(id).join("cpu.shares"), shares.to_string())?;
            }
        }
        Ok(self.procs(id))
    }

    /// SIGKILL to every process in the container's group, those that left its session too.
    pub fn kill(&self, id: &str) {
        let dir = &self.dirs(id)[0];
        if let Self::V2 { .. } = self
            && std::fs::write(dir.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        let pids = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()).filter(|p| *p > 0) {
            // SAFETY: kill(2) on a pid read from the group.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// Whether the kernel killed a process of the container's group for its memory.
    pub fn oom_killed(&self, id: &str) -> bool {
        let (file, key) = match self {
            Self::V2 { base } => (base.join(id).join("memory.events"), "oom_kill"),
            Self::V1 { memory, .. } => (memory.join(id).join("memory.oom_control"), "oom_kill"),
        };
        std::fs::read_to_string(file).ok().is_some_and(|text| {
            text.lines().filter_map(|l| l.split_once(' ')).any(|(k, v)| k == key && v.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    }

    /// Removes the container's groups (once its processes are gone).
    pub fn remove(&self, id: &str) {
        for dir in self.dirs(id) {
            if let Err(e) = std::fs::remove_dir(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(group = %dir.display(), error = %e, "cannot remove a task's control group");
            }
        }
    }
}

/// In the child, between fork and exec: joins the groups, drops to the user (for good:
/// `no_new_privs`), then enters `dir` as that user. Only async-signal-safe calls.
///
/// # Safety
/// Call only in a `pre_exec` hook.
pub unsafe fn enter(procs: &[CString], ids: Option<Ids>, dir: Option<&CString>) -> std::io::Result<()> {
    for file in procs {
        // SAFETY: open/write/close on a NUL-terminated path; "0" means the writing process.
        unsafe {
            let fd = libc::open(file.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
        }
    }
    if let Some(Ids { uid, gid }) = ids {
        // SAFETY: plain syscalls; the supplementary groups go first, while still allowed.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::setgroups(1, &gid) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    // SAFETY: chdir on a NUL-terminated path.
    if let Some(dir) = dir
        && unsafe { libc::chdir(dir.as_ptr()) } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(user: Option<&str>) -> ContainerSpec {
        let mut c: ContainerSpec = serde_json::from_value(serde_json::json!({
            "name": "app", "image": "local/busybox:1", "cpu": 0, "essential": true, "stopTimeout": 5
        }))
        .unwrap();
        c.user = user.map(str::to_string);
        c
    }

    const OWN: Ids = Ids { uid: 200_123, gid: 200_123 };

    fn root_agent() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn root_runs_only_under_a_privileged_policy() {
        if !root_agent() {
            return;
        }
        for (user, says) in [("root", "root is root"), ("0", "0 is root"), ("0:0", "0:0 is root"), ("nobody:0", "nobody:0 has group 0"), ("root:nogroup", "is root")] {
            let refused = ids_for(&container(Some(user)), false, OWN).unwrap_err();
            assert!(refused.starts_with("containerDefinitions.user:") && refused.contains(says) && refused.contains("privileged"), "{user}: {refused}");
            assert!(ids_for(&container(Some(user)), true, OWN).is_ok(), "{user}");
        }
    }

    #[test]
    fn users_are_read_in_ecs_forms() {
        if !root_agent() {
            return;
        }
        assert_eq!(ids_for(&container(Some("1000:1001")), false, OWN), Ok(Some(Ids { uid: 1000, gid: 1001 })));
        assert_eq!(ids_for(&container(Some("nobody")), false, OWN), Ok(Some(Ids { uid: 65534, gid: 65534 })));
        assert_eq!(ids_for(&container(Some(" 4242 ")), false, OWN).unwrap().unwrap().uid, 4242);
        let unknown = ids_for(&container(Some("no-such-user-here")), false, OWN).unwrap_err();
        assert!(unknown.contains("no user no-such-user-here"), "{unknown}");
        let unknown = ids_for(&container(Some("1000:no-such-group")), false, OWN).unwrap_err();
        assert!(unknown.contains("no group no-such-group"), "{unknown}");
    }

    #[test]
    fn no_user_is_the_tasks_own_unless_root_is_allowed() {
        if root_agent() {
            assert_eq!(ids_for(&container(None), false, OWN), Ok(Some(OWN)));
            assert_eq!(ids_for(&container(None), true, OWN), Ok(None));
        } else {
            assert!(ids_for(&container(None), false, OWN).unwrap_err().contains("only when wharf-agent runs as root"));
            assert_eq!(ids_for(&container(None), true, OWN), Ok(None));
        }
    }

    #[test]
    fn each_task_gets_a_user_of_its_own() {
        let mut taken = std::collections::HashSet::new();
        let a = task_ids("task-a", &taken);
        assert_eq!(task_ids("task-a", &taken), a, "the same task, the same user");
        assert!(TASK_UIDS.contains(&a.uid) && a.gid == a.uid);
        taken.insert(a.uid);
        let again = task_ids("task-a", &taken);
        assert_ne!(again.uid, a.uid, "a user another task holds is passed over");
        let many: std::collections::HashSet<u32> = (0..500).map(|i| task_ids(&format!("t{i}"), &taken).uid).collect();
        assert!(many.len() > 490, "ids spread over the range: {}", many.len());
    }
}
