/*!
Stage two of registering: the rules ECS applies to a task definition, each problem reported
with the path of the field it is about. All problems are collected; none stops the check.
*/

use super::{ContainerDefinition, TaskDefinitionSpec};
use crate::{FieldErrors, expr, names, units};
use std::collections::{BTreeMap, BTreeSet};

const MAX_CONTAINERS: usize = 10;
const MIN_CONTAINER_MEMORY_MIB: i64 = 6;
const NETWORK_MODES: [&str; 4] = ["bridge", "host", "awsvpc", "none"];
const CONDITIONS: [&str; 4] = ["START", "COMPLETE", "SUCCESS", "HEALTHY"];

/// Checks a typed task definition against ECS's rules.
pub fn validate(spec: &TaskDefinitionSpec) -> FieldErrors {
    let mut errors = FieldErrors::new();
    match spec.family.as_deref() {
        None => errors.push("family", "a task definition needs a family name"),
        Some(family) => {
            if let Err(m) = names::check_name(family) {
                errors.push("family", format!("the family {m}"));
            }
        }
    }
    if let Some(mode) = spec.network_mode.as_deref()
        && !NETWORK_MODES.contains(&mode) {
            errors.push("networkMode", format!("'{mode}' is not a network mode; use bridge, host, awsvpc or none"));
        }
    let task_cpu = parse_task_unit(&mut errors, "cpu", spec.cpu.as_deref(), units::parse_cpu);
    let task_memory = parse_task_unit(&mut errors, "memory", spec.memory.as_deref(), units::parse_memory);
    for (i, compat) in spec.requires_compatibilities.iter().flatten().enumerate() {
        if !["EC2", "EXTERNAL", "FARGATE", "MANAGED_INSTANCES"].contains(&compat.as_str()) {
            errors.push(format!("requiresCompatibilities[{i}]"), format!("'{compat}' is not a launch type; use EC2 or EXTERNAL"));
        }
    }

    let containers = spec.container_definitions.as_deref().unwrap_or_default();
    let secrets: usize = containers.iter().map(|c| c.secrets.as_ref().map_or(0, Vec::len)).sum();
    if secrets > crate::secret::MAX_PER_TASK {
        errors.push("containerDefinitions", format!("the containers name {secrets} secrets; a task may name at most {}", crate::secret::MAX_PER_TASK));
    }
    if containers.is_empty() {
        errors.push("containerDefinitions", "a task definition needs at least one container");
    } else if containers.len() > MAX_CONTAINERS {
        errors.push("containerDefinitions", format!("a task holds at most {MAX_CONTAINERS} containers; this one has {}", containers.len()));
    }
    let volumes: BTreeSet<&str> = spec.volumes.iter().flatten().filter_map(|v| v.name.as_deref()).collect();
    let network_mode = spec.network_mode.as_deref().unwrap_or("bridge");
    check_containers(&mut errors, containers, task_memory.is_some(), network_mode, &volumes);
    check_task_totals(&mut errors, containers, task_cpu, task_memory);
    check_volumes(&mut errors, spec);

    for (i, c) in spec.placement_constraints.iter().flatten().enumerate() {
        let at = format!("placementConstraints[{i}]");
        match c.kind.as_deref() {
            Some("memberOf") => check_expression(&mut errors, &at, c.expression.as_deref()),
            Some("distinctInstance") => errors.push(format!("{at}.type"), "distinctInstance applies to services and RunTask, not to task definitions; use memberOf here"),
            Some(other) => errors.push(format!("{at}.type"), format!("'{other}' is not a constraint type; task definitions take memberOf")),
            None => errors.push(format!("{at}.type"), "a constraint needs a type (memberOf)"),
        }
    }
    check_tags(&mut errors, spec);
    errors
}

/// Checks a `memberOf` expression at `{at}.expression`; shared with services and RunTask.
pub fn check_expression(errors: &mut FieldErrors, at: &str, expression: Option<&str>) {
    match expression {
        None => errors.push(format!("{at}.expression"), "memberOf needs an expression, e.g. attribute:ecs.os-type == linux"),
        Some(text) => {
            if text.len() > 2000 {
                errors.push(format!("{at}.expression"), "an expression is at most 2000 characters");
            } else if let Err(e) = expr::parse(text) {
                errors.push(format!("{at}.expression"), format!("the expression does not parse {e}"));
            }
        }
    }
}

fn parse_task_unit(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Result<i64, String>,
) -> Option<i64> {
    let value = value?;
    parse(value).map_err(|m| errors.push(field, m)).ok()
}

fn check_containers(
    errors: &mut FieldErrors,
    containers: &[ContainerDefinition],
    task_memory_set: bool,
    network_mode: &str,
    volumes: &BTreeSet<&str>,
) {
    let names: BTreeSet<&str> = containers.iter().filter_map(|c| c.name.as_deref()).collect();
    let mut seen_names = BTreeSet::new();
    // (protocol, host port) → where it was first used.
    let mut host_ports: BTreeMap<(String, i64), String> = BTreeMap::new();

    for (i, c) in containers.iter().enumerate() {
        let at = |field: &str| format!("containerDefinitions[{i}].{field}");
        match c.name.as_deref() {
            None => errors.push(at("name"), "a container needs a name"),
            Some(name) => {
                if let Err(m) = names::check_name(name) {
                    errors.push(at("name"), format!("the container name {m}"));
                } else if !seen_names.insert(name) {
                    errors.push(at("name"), format!("another container is already named '{name}'; names are unique within a task"));
                }
            }
        }
        match c.image.as_deref().map(str::trim) {
            None | Some("") => errors.push(at("image"), "a container needs an image"),
            Some(image) if image.len() > 4096 || image.chars().any(char::is_whitespace) => {
                errors.push(at("image"), "an image reference has no spaces and is at most 4096 characters")
            }
            Some(_) => {}
        }
        if let Some(cpu) = c.cpu
            && !(0..=units::MAX_CPU_UNITS).contains(&cpu) {
                errors.push(at("cpu"), format!("{cpu} CPU units is out of range (0 to {})", units::MAX_CPU_UNITS));
            }
        check_memory(errors, i, c, task_memory_set);
        check_ports(errors, i, c, network_mode, &mut host_ports);
        for (j, env) in c.environment.iter().flatten().enumerate() {
            if env.name.as_deref().is_none_or(str::is_empty) {
                errors.push(format!("containerDefinitions[{i}].environment[{j}].name"), "an environment variable needs a name");
            }
        }
        check_secrets(errors, i, c);
        if let Some(hc) = &c.health_check {
            check_health(errors, i, hc);
        }
        for (j, dep) in c.depends_on.iter().flatten().enumerate() {
            let at = |f: &str| format!("containerDefinitions[{i}].dependsOn[{j}].{f}");
            match dep.container_name.as_deref() {
                None => errors.push(at("containerName"), "a dependency names a container"),
                Some(target) if Some(target) == c.name.as_deref() => errors.push(at("containerName"), "a container cannot depend on itself"),
                Some(target) if !names.contains(target) => errors.push(
                    at("containerName"),
                    format!("no container in this task is named '{target}' (containers: {})", names.iter().copied().collect::<Vec<_>>().join(", ")),
                ),
                Some(target) => check_condition(errors, &at("condition"), dep.condition.as_deref(), containers.iter().find(|o| o.name.as_deref() == Some(target))),
            }
        }
        for (j, mp) in c.mount_points.iter().flatten().enumerate() {
            let at = |f: &str| format!("containerDefinitions[{i}].mountPoints[{j}].{f}");
            match mp.source_volume.as_deref() {
                None => errors.push(at("sourceVolume"), "a mount point names a volume of the task"),
                Some(v) if !volumes.contains(v) => errors.push(at("sourceVolume"), format!("the task has no volume named '{v}'")),
                Some(_) => {}
            }
            if mp.container_path.as_deref().is_none_or(|p| !p.starts_with('/')) {
                errors.push(at("containerPath"), "a mount point needs an absolute containerPath, e.g. /var/log");
            }
        }
        for (field, value, range) in [("startTimeout", c.start_timeout, 2..=600), ("stopTimeout", c.stop_timeout, 2..=120)] {
            if let Some(v) = value
                && !range.contains(&v) {
                    errors.push(at(field), format!("{v} seconds is out of range ({} to {})", range.start(), range.end()));
                }
        }
    }
    if !containers.is_empty() && !containers.iter().any(ContainerDefinition::is_essential) {
        errors.push("containerDefinitions", "at least one container must be essential (a task stops when an essential container stops)");
    }
    check_dependency_cycles(errors, containers);
}

/// Each secret sets one environment variable, from a secret named by name or ARN.
fn check_secrets(errors: &mut FieldErrors, i: usize, c: &ContainerDefinition) {
    let mut seen = std::collections::HashSet::new();
    for (j, s) in c.secrets.iter().flatten().enumerate() {
        let at = |f: &str| format!("containerDefinitions[{i}].secrets[{j}].{f}");
        match s.name.as_deref() {
            None | Some("") => errors.push(at("name"), "a secret sets an environment variable: give its name"),
            Some(n) if n.contains('=') || n.contains('\0') => errors.push(at("name"), "an environment variable's name cannot hold '=' or NUL"),
            Some(n) if !seen.insert(n) => errors.push(at("name"), format!("another secret of this container already sets '{n}'")),
            Some(n) if c.environment.iter().flatten().any(|e| e.name.as_deref() == Some(n)) => {
                errors.push(at("name"), format!("'{n}' is also in environment; a variable comes from one or the other"))
            }
            Some(_) => {}
        }
        match s.value_from.as_deref() {
            None | Some("") => errors.push(at("valueFrom"), "name the secret (its name or ARN) the value comes from"),
            Some(v) if crate::secret::name_of(v) != v && crate::secret::name_of(v).contains(':') => {
                errors.push(at("valueFrom"), "a JSON key or version after the secret's ARN is not supported; name the whole secret")
            }
            Some(v) if v.starts_with("arn:") && crate::secret::name_of(v) == v => {
                errors.push(at("valueFrom"), "this ARN is not a Wharf secret's; create the secret in Wharf and name it here (by name, or arn:wharf:secretsmanager:…:secret:<name>)")
            }
            Some(v) => {
                if let Err(m) = crate::secret::check_name(crate::secret::name_of(v)) {
                    errors.push(at("valueFrom"), format!("a secret's name {m}"));
                }
            }
        }
    }
}

fn check_memory(errors: &mut FieldErrors, i: usize, c: &ContainerDefinition, task_memory_set: bool) {
    let at = |field: &str| format!("containerDefinitions[{i}].{field}");
    if c.memory.is_none() && c.memory_reservation.is_none() && !task_memory_set {
        errors.push(at("memory"), "set memory or memoryReservation (MiB) for the container, or memory for the task");
    }
    for (field, value) in [("memory", c.memory), ("memoryReservation", c.memory_reservation)] {
        match value {
            Some(v) if v < MIN_CONTAINER_MEMORY_MIB => {
                errors.push(at(field), format!("{v} MiB is too little: a container needs at least {MIN_CONTAINER_MEMORY_MIB} MiB"))
            }
            Some(v) if v > units::MAX_MEMORY_MIB => errors.push(
                at(field),
                format!("{v} MiB is more than any host offers: a container takes at most {} MiB (8 TiB)", units::MAX_MEMORY_MIB),
            ),
            _ => {}
        }
    }
    if let (Some(hard), Some(soft)) = (c.memory, c.memory_reservation)
        && soft > hard {
            errors.push(at("memoryReservation"), format!("the reservation ({soft} MiB) must not exceed the memory limit ({hard} MiB)"));
        }
}

fn check_ports(
    errors: &mut FieldErrors,
    i: usize,
    c: &ContainerDefinition,
    network_mode: &str,
    host_ports: &mut BTreeMap<(String, i64), String>,
) {
    for (j, pm) in c.port_mappings.iter().flatten().enumerate() {
        let at = |f: &str| format!("containerDefinitions[{i}].portMappings[{j}].{f}");
        let protocol = pm.protocol.as_deref().unwrap_or("tcp");
        if !["tcp", "udp"].contains(&protocol) {
            errors.push(at("protocol"), format!("'{protocol}' is not a protocol; use tcp or udp"));
        }
        match pm.container_port {
            None => errors.push(at("containerPort"), "a port mapping needs a containerPort"),
            Some(p) if !(1..=65535).contains(&p) => errors.push(at("containerPort"), format!("{p} is not a port (1 to 65535)")),
            Some(_) => {}
        }
        let host = match (network_mode, pm.host_port) {
            (_, Some(h)) if !(0..=65535).contains(&h) => {
                errors.push(at("hostPort"), format!("{h} is not a port (0 for a dynamic port, or 1 to 65535)"));
                continue;
            }
            ("host" | "awsvpc", Some(h)) if h != 0 && Some(h) != pm.container_port => {
                errors.push(at("hostPort"), format!("in {network_mode} network mode the hostPort must equal the containerPort or be left out"));
                continue;
            }
            ("host" | "awsvpc", _) => pm.container_port,
            (_, h) => h,
        };
        if let Some(port) = host.filter(|p| *p > 0) {
            let key = (protocol.to_string(), port);
            if let Some(first) = host_ports.get(&key) {
                errors.push(at("hostPort"), format!("host port {port}/{protocol} is already used by {first}; a host port is used once per task"));
            } else {
                host_ports.insert(key, format!("containerDefinitions[{i}].portMappings[{j}]"));
            }
        }
    }
}

fn check_health(errors: &mut FieldErrors, i: usize, hc: &super::HealthCheck) {
    let at = |f: &str| format!("containerDefinitions[{i}].healthCheck.{f}");
    match hc.command.as_deref() {
        None | Some([]) => errors.push(at("command"), "a health check needs a command, e.g. [\"CMD-SHELL\", \"curl -f http://localhost/ || exit 1\"]"),
        Some([first, ..]) if !["CMD", "CMD-SHELL", "NONE"].contains(&first.as_str()) => {
            errors.push(at("command"), format!("the command starts with CMD or CMD-SHELL, not '{first}'"))
        }
        Some([_]) => errors.push(at("command"), "the command needs something to run after CMD or CMD-SHELL"),
        Some(_) => {}
    }
    for (field, value, range) in [
        ("interval", hc.interval, 5..=300),
        ("timeout", hc.timeout, 2..=60),
        ("retries", hc.retries, 1..=10),
        ("startPeriod", hc.start_period, 0..=300),
    ] {
        if let Some(v) = value
            && !range.contains(&v) {
                errors.push(at(field), format!("{v} is out of range ({} to {})", range.start(), range.end()));
            }
    }
}

fn check_condition(errors: &mut FieldErrors, at: &str, condition: Option<&str>, target: Option<&ContainerDefinition>) {
    let Some(condition) = condition else {
        errors.push(at, "a dependency needs a condition: START, COMPLETE, SUCCESS or HEALTHY");
        return;
    };
    if !CONDITIONS.contains(&condition) {
        errors.push(at, format!("'{condition}' is not a condition; use START, COMPLETE, SUCCESS or HEALTHY"));
        return;
    }
    let Some(target) = target else { return };
    let name = target.name.as_deref().unwrap_or_default();
    if condition == "HEALTHY" && target.health_check.is_none() {
        errors.push(at, format!("HEALTHY needs a healthCheck on '{name}', which has none"));
    }
    if matches!(condition, "COMPLETE" | "SUCCESS") && target.is_essential() {
        errors.push(at, format!("{condition} waits for '{name}' to exit, but it is essential (its exit would stop the task); mark it \"essential\": false"));
    }
}

fn check_dependency_cycles(errors: &mut FieldErrors, containers: &[ContainerDefinition]) {
    let index: BTreeMap<&str, usize> =
        containers.iter().enumerate().filter_map(|(i, c)| c.name.as_deref().map(|n| (n, i))).collect();
    let edges: Vec<Vec<usize>> = containers
        .iter()
        .map(|c| c.depends_on.iter().flatten().filter_map(|d| d.container_name.as_deref().and_then(|n| index.get(n).copied())).collect())
        .collect();
    // Colour-marking DFS: 1 = on the stack, 2 = done.
    fn visit(n: usize, edges: &[Vec<usize>], mark: &mut [u8]) -> bool {
        if mark[n] == 1 {
            return true;
        }
        if mark[n] == 2 {
            return false;
        }
        mark[n] = 1;
        let cyclic = edges[n].iter().any(|&m| visit(m, edges, mark));
        mark[n] = 2;
        cyclic
    }
    for start in 0..containers.len() {
        let mut mark = vec![0u8; containers.len()];
        if visit(start, &edges, &mut mark) {
            errors.push(format!("containerDefinitions[{start}].dependsOn"), "the dependsOn links form a cycle; containers could never start");
            return;
        }
    }
}

fn check_task_totals(errors: &mut FieldErrors, containers: &[ContainerDefinition], task_cpu: Option<i64>, task_memory: Option<i64>) {
    if let Some(cpu) = task_cpu {
        let total = units::saturating_total(containers.iter().filter_map(|c| c.cpu));
        if total > cpu {
            errors.push("cpu", format!("the containers ask for {total} CPU units in all, more than the task's {cpu}"));
        }
    }
    if let Some(memory) = task_memory {
        let reserved = units::saturating_total(containers.iter().filter_map(|c| c.memory_reservation.or(c.memory)));
        if reserved > memory {
            errors.push("memory", format!("the containers reserve {reserved} MiB in all, more than the task's {memory} MiB"));
        }
        for (i, c) in containers.iter().enumerate() {
            if let Some(hard) = c.memory.filter(|m| *m > memory) {
                errors.push(format!("containerDefinitions[{i}].memory"), format!("{hard} MiB is more than the task's {memory} MiB"));
            }
        }
    }
}

fn check_volumes(errors: &mut FieldErrors, spec: &TaskDefinitionSpec) {
    let mut seen = BTreeSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        match v.name.as_deref() {
            None => errors.push(format!("volumes[{i}].name"), "a volume needs a name"),
            Some(name) => {
                if let Err(m) = names::check_name(name) {
                    errors.push(format!("volumes[{i}].name"), format!("the volume name {m}"));
                } else if !seen.insert(name) {
                    errors.push(format!("volumes[{i}].name"), format!("another volume is already named '{name}'"));
                }
            }
        }
    }
}

fn check_tags(errors: &mut FieldErrors, spec: &TaskDefinitionSpec) {
    let tags = spec.tags.as_deref().unwrap_or_default();
    if tags.len() > 50 {
        errors.push("tags", format!("at most 50 tags; there are {}", tags.len()));
    }
    let mut seen = BTreeSet::new();
    for (i, t) in tags.iter().enumerate() {
        match t.key.as_deref() {
            None | Some("") => errors.push(format!("tags[{i}].key"), "a tag needs a key"),
            Some(k) if k.len() > 128 => errors.push(format!("tags[{i}].key"), "a tag key is at most 128 characters"),
            Some(k) if !seen.insert(k) => errors.push(format!("tags[{i}].key"), format!("the tag '{k}' is given twice")),
            Some(_) => {}
        }
        if t.value.as_deref().is_some_and(|v| v.len() > 256) {
            errors.push(format!("tags[{i}].value"), "a tag value is at most 256 characters");
        }
    }
}
