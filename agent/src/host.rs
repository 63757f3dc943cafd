/*!
What the host offers: CPU units (1024 per core), memory, and the attributes placement can
match, in ECS's names (`ecs.os-type`, `ecs.cpu-architecture`, `ecs.availability-zone`,
`ecs.instance-type`, `ecs.capability.…`).
*/

use crate::config::AgentArgs;
use wharf_core::task_definition::Attribute;

pub struct HostFacts {
    pub hostname: String,
    pub cpu: i64,
    pub memory: i64,
    pub attributes: Vec<Attribute>,
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// CPU units of the host: 1024 per core the agent may use.
pub fn detect_cpu() -> i64 {
    std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1) * 1024
}

/// MiB of memory, from /proc/meminfo.
pub fn detect_memory() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024)
        })
        .unwrap_or(1024)
}

/// ECS's spelling of the architecture.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

fn attr(name: &str, value: Option<&str>) -> Attribute {
    Attribute { name: name.into(), value: value.map(str::to_string) }
}

/// Built-in attributes, the runtime's capabilities, then the user's `--attribute`s (which
/// may not override a built-in).
pub fn attributes(args: &AgentArgs, capabilities: &[String]) -> Result<Vec<Attribute>, String> {
    let mut out = vec![attr("ecs.os-type", Some(std::env::consts::OS)), attr("ecs.cpu-architecture", Some(architecture()))];
    if let Some(zone) = &args.zone {
        out.push(attr("ecs.availability-zone", Some(zone)));
    }
    if let Some(kind) = &args.instance_type {
        out.push(attr("ecs.instance-type", Some(kind)));
    }
    for c in capabilities {
        out.push(attr(c, None));
    }
    for raw in args.attributes.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        let (name, value) = match raw.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (raw, None),
        };
        if out.iter().any(|a| a.name == name) {
            return Err(format!("--attribute {name}: this attribute is set by the agent itself"));
        }
        if name.starts_with("ecs.") {
            return Err(format!("--attribute {name}: ecs.* names are Wharf's own (the zone is --zone, or better its join token's)"));
        }
        out.push(attr(name, value));
    }
    Ok(out)
}

pub fn facts(args: &AgentArgs, capabilities: &[String]) -> Result<HostFacts, String> {
    let cpu = args.cpu.unwrap_or_else(detect_cpu) - args.reserved_cpu;
    let memory = args.memory.unwrap_or_else(detect_memory) - args.reserved_memory;
    if cpu < 1 {
        return Err(format!("nothing left to offer: {cpu} CPU units after --reserved-cpu"));
    }
    if memory < 6 {
        return Err(format!("nothing left to offer: {memory} MiB after --reserved-memory"));
    }
    Ok(HostFacts { hostname: args.hostname.clone().unwrap_or_else(hostname), cpu, memory, attributes: attributes(args, capabilities)? })
}

/// Asks the kernel to kill anything but the agent when memory runs out: a task that eats the
/// host's memory must not take the agent (and with it the instance's connection) down.
pub fn protect_from_oom_killer() {
    if let Err(e) = std::fs::write("/proc/self/oom_score_adj", "-999") {
        tracing::warn!(error = %e, "cannot lower the agent's OOM score (needs CAP_SYS_RESOURCE); a task exhausting the host's memory may take the agent down");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> AgentArgs {
        let mut argv = vec!["wharf-agent"];
        argv.extend_from_slice(extra);
        crate::config::Cli::parse_from(argv).agent
    }

    #[test]
    fn built_in_attributes_come_first_and_cannot_be_overridden() {
        let a = args(&["--zone", "eu-1a", "--attribute", "team=web", "--attribute", "gpu,ssd=yes"]);
        let attrs = attributes(&a, &["ecs.capability.container-ordering".into()]).unwrap();
        let names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["ecs.os-type", "ecs.cpu-architecture", "ecs.availability-zone", "ecs.capability.container-ordering", "team", "gpu", "ssd"]);
        assert_eq!(attrs[6].value.as_deref(), Some("yes"));
        let clash = args(&["--attribute", "ecs.os-type=windows"]);
        assert!(attributes(&clash, &[]).unwrap_err().contains("set by the agent itself"));
        let reserved = args(&["--attribute", "ecs.availability-zone=a"]);
        assert!(attributes(&reserved, &[]).unwrap_err().contains("ecs.* names are Wharf's own"));
    }

    #[test]
    fn reservations_come_off_what_is_offered() {
        let a = args(&["--cpu", "2048", "--memory", "4096", "--reserved-memory", "512", "--reserved-cpu", "128"]);
        let f = facts(&a, &[]).unwrap();
        assert_eq!((f.cpu, f.memory), (1920, 3584));
        let none_left = args(&["--memory", "512", "--reserved-memory", "512"]);
        assert!(facts(&none_left, &[]).is_err());
    }
}
