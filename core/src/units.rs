/*!
Task-level `cpu` and `memory` as ECS accepts them: an integer (as a number or a string) in
CPU units / MiB, or a string with a unit: `"1 vCPU"`, `"0.5 vcpu"`, `"2 GB"`, `"512 MiB"`.
ECS stores the normalised integer form, so do we.
*/

/// CPU units in one vCPU (one core), as in ECS.
pub const UNITS_PER_VCPU: i64 = 1024;
/// ECS's range for task-level CPU on EC2: 0.125 to 192 vCPUs.
pub const TASK_CPU_RANGE: std::ops::RangeInclusive<i64> = 128..=196_608;
/// The most CPU units a container may ask for: ECS's task-level maximum.
pub const MAX_CPU_UNITS: i64 = 196_608;
/// The most memory (MiB) a task or container may ask for: 8 TiB, more than any host offers.
/// Bounding it keeps every sum of a host's reservations far from overflowing.
pub const MAX_MEMORY_MIB: i64 = 8_388_608;

/// The sum of resource amounts, saturating instead of wrapping; negative amounts count as 0.
pub fn saturating_total(values: impl IntoIterator<Item = i64>) -> i64 {
    values.into_iter().fold(0i64, |sum, v| sum.saturating_add(v.max(0)))
}

/// Parses a task-level cpu value into CPU units.
pub fn parse_cpu(text: &str) -> Result<i64, String> {
    let (number, unit) = split_unit(text)?;
    let units = match unit.as_str() {
        "" => whole(number, text)?,
        "vcpu" | "vcpus" | "cpu" | "cpus" => scaled(number, UNITS_PER_VCPU, text)?,
        _ => return Err(format!("'{text}' is not a CPU amount: use CPU units (\"1024\") or vCPUs (\"1 vCPU\")")),
    };
    if !TASK_CPU_RANGE.contains(&units) {
        return Err(format!(
            "{units} CPU units is out of range ({} to {}, i.e. 0.125 to 192 vCPUs)",
            TASK_CPU_RANGE.start(),
            TASK_CPU_RANGE.end()
        ));
    }
    Ok(units)
}

/// Parses a task-level memory value into MiB.
pub fn parse_memory(text: &str) -> Result<i64, String> {
    let (number, unit) = split_unit(text)?;
    let mib = match unit.as_str() {
        "" | "mb" | "mib" | "m" => whole(number, text)?,
        "gb" | "gib" | "g" => scaled(number, 1024, text)?,
        _ => return Err(format!("'{text}' is not a memory amount: use MiB (\"512\") or GB (\"2 GB\")")),
    };
    if !(6..=MAX_MEMORY_MIB).contains(&mib) {
        return Err(format!("{mib} MiB is out of range (6 MiB to 8 TiB)"));
    }
    Ok(mib)
}

fn split_unit(text: &str) -> Result<(f64, String), String> {
    let trimmed = text.trim();
    let end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' does not start with a number"))?;
    Ok((number, unit.trim().to_ascii_lowercase()))
}

fn whole(number: f64, text: &str) -> Result<i64, String> {
    if number.fract() != 0.0 {
        return Err(format!("'{text}' must be a whole number"));
    }
    // Above 2^53 an f64 no longer holds every integer, and `as` would saturate silently.
    if number > 1e15 {
        return Err(format!("'{text}' is far too large"));
    }
    Ok(number as i64)
}

fn scaled(number: f64, factor: i64, text: &str) -> Result<i64, String> {
    let value = number * factor as f64;
    if value > 1e15 {
        return Err(format!("'{text}' is far too large"));
    }
    if value.fract() != 0.0 {
        return Err(format!("'{text}' does not come to a whole number of units"));
    }
    Ok(value as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_forms() {
        assert_eq!(parse_cpu("256"), Ok(256));
        assert_eq!(parse_cpu("1 vCPU"), Ok(1024));
        assert_eq!(parse_cpu("0.25 vcpu"), Ok(256));
        assert_eq!(parse_cpu("2vCPU"), Ok(2048));
        assert!(parse_cpu("fast").is_err());
        assert!(parse_cpu("0").is_err());
        assert!(parse_cpu("1.5").is_err());
        // ECS's EC2 range: 128 to 196,608 units.
        assert!(parse_cpu("127").is_err());
        assert_eq!(parse_cpu("128"), Ok(128));
        assert_eq!(parse_cpu("192 vCPU"), Ok(196_608));
        assert!(parse_cpu("196609").is_err());
        assert!(parse_cpu("99999999999999999999").is_err());
        assert!(parse_cpu("1e300 vcpu").is_err());
    }

    #[test]
    fn memory_forms() {
        assert_eq!(parse_memory("512"), Ok(512));
        assert_eq!(parse_memory("2 GB"), Ok(2048));
        assert_eq!(parse_memory("0.5GB"), Ok(512));
        assert_eq!(parse_memory("300 MiB"), Ok(300));
        assert!(parse_memory("2 TB").is_err());
        assert!(parse_memory("4").is_err());
    }
}
