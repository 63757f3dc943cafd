/*!
What a process of the process runtime may do on the host: the user it runs as and the control
group that holds it to its container's limits, as Docker would (a hard memory limit, the
reservation as a soft one, CPU shares).

A process runs as the container's `user` (ECS's forms: `user`, `user:group`, `uid`,
`uid:gid`). Unless the cluster's task policy is `privileged`, root is refused and a container
without a `user` runs as `nobody`: the process runtime has no namespaces, so root in a task
would be root on the host.

Control groups: v2 (`/sys/fs/cgroup/wharf/ID`) or v1 (`…/memory/wharf/ID` and
`…/cpu/wharf/ID`), whichever the host mounts. The child joins its groups itself, before it
drops to its user and execs, so nothing it runs ever escapes them.
*/

use std::ffi::CString;
use std::path::{Path, PathBuf};
use wharf_core::protocol::ContainerSpec;

const MIB: i64 = 1024 * 1024;
/// Linux's overflow ids.
const NOBODY: (u32, u32) = (65534, 65534);

/// A user and group to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Who a container's process runs as: None for the agent's own user (only under a policy that
/// allows root, for a container that names no user). An error names the field and the rule.
pub fn ids_for(c: &ContainerSpec, root_allowed: bool) -> Result<Option<Ids>, String> {
    let Some(user) = c.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
        // SAFETY: geteuid has no preconditions.
        let agent_is_root = unsafe { libc::geteuid() } == 0;
        if root_allowed || !agent_is_root {
            return Ok(None);
        }
        let (uid, gid) = lookup_user("nobody").unwrap_or(NOBODY);
        return Ok(Some(Ids { uid, gid }));
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
        return Err(format!(
            "containerDefinitions.user: {user} is root, which the process runtime runs only under a privileged task policy (it shares the host: root in the task is root on the host)"
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

    /// Makes the container's groups with its limits; returns the `cgroup.procs` files its
    /// process writes itself into.
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
        Ok(self.dirs(id).iter().filter_map(|d| CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok()).collect())
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
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// In the child, between fork and exec: joins the groups, then drops to the user. Only
/// async-signal-safe calls.
///
/// # Safety
/// Call only in a `pre_exec` hook.
pub unsafe fn enter(procs: &[CString], ids: Option<Ids>) -> std::io::Result<()> {
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
            if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
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

    #[test]
    fn root_runs_only_under_a_privileged_policy() {
        for user in ["root", "0", "0:0", "nobody:0", "root:nogroup"] {
            let refused = ids_for(&container(Some(user)), false).unwrap_err();
            assert!(refused.starts_with("containerDefinitions.user:") && refused.contains("privileged"), "{user}: {refused}");
            assert!(ids_for(&container(Some(user)), true).is_ok(), "{user}");
        }
    }

    #[test]
    fn users_are_read_in_ecs_forms() {
        assert_eq!(ids_for(&container(Some("1000:1001")), false), Ok(Some(Ids { uid: 1000, gid: 1001 })));
        assert_eq!(ids_for(&container(Some("nobody")), false), Ok(Some(Ids { uid: 65534, gid: 65534 })));
        assert_eq!(ids_for(&container(Some(" 4242 ")), false).unwrap().unwrap().uid, 4242);
        let unknown = ids_for(&container(Some("no-such-user-here")), false).unwrap_err();
        assert!(unknown.contains("no user no-such-user-here"), "{unknown}");
        let unknown = ids_for(&container(Some("1000:no-such-group")), false).unwrap_err();
        assert!(unknown.contains("no group no-such-group"), "{unknown}");
    }

    #[test]
    fn no_user_is_nobody_for_a_root_agent_unless_root_is_allowed() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let ids = ids_for(&container(None), false).unwrap();
        assert_eq!(ids, root.then_some(Ids { uid: 65534, gid: 65534 }));
        assert_eq!(ids_for(&container(None), true), Ok(None));
    }
}
