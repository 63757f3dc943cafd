/*! Host resource use for usage samples: CPU from /proc/stat deltas, memory from /proc/meminfo. */

use crate::supervisor::Supervisor;
use std::sync::Mutex;
use wharf_core::protocol::HostUsage;

/// (busy, total) jiffies of the previous sample.
static PREVIOUS: Mutex<Option<(u64, u64)>> = Mutex::new(None);

fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

fn meminfo(key: &str, text: &str) -> Option<i64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse::<i64>().ok().map(|kib| kib / 1024)
}

/// What the host uses now: CPU units busy since the last sample, MiB not available.
pub fn host(_: &Supervisor) -> HostUsage {
    let cpu = cpu_jiffies()
        .and_then(|(busy, total)| {
            let mut prev = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
            let last = prev.replace((busy, total));
            let (pb, pt) = last?;
            let dt = total.checked_sub(pt).filter(|d| *d > 0)?;
            Some(((busy.saturating_sub(pb)) as f64 / dt as f64 * crate::host::detect_cpu() as f64) as i64)
        })
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| Some(meminfo("MemTotal:", &t)? - meminfo("MemAvailable:", &t)?))
        .unwrap_or(0);
    HostUsage { cpu, memory }
}

/// A simulated host "uses" a steady share of what its tasks reserve.
pub fn simulated(supervisor: &Supervisor) -> HostUsage {
    let n = supervisor.running_count() as i64;
    HostUsage { cpu: n * 40, memory: 64 + n * 48 }
}
