/*!
Task-level `cpu` and `memory` as ECS accepts them: an integer (as a number or a string) in
CPU units / MiB, or a string with a unit: `"1 vCPU"`, `"0.5 vcpu"`, `"2 GB"`, `"512 MiB"`.
ECS stores the normalised integer form, so do we.
*/

/// CPU units in one vCPU (one core), as in ECS.
pub const UNITS_PER_VCPU: i64 = 1024;

/// Parses a task-level cpu value into CPU units.
pub fn parse_cpu(text: &str) -> Result<i64, String> {
    let (number, unit) = split_unit(text)?;
    let units = match unit.as_str() {
        "" => whole(number, text)?,
        "vcpu" | "vcpus" | "cpu" | "cpus" => scaled(number, UNITS_PER_VCPU, text)?,
        _ => return Err(format!("'{text}' is not a CPU amount: use CPU units (\"1024\") or vCPUs (\"1 vCPU\")")),
    };
    if !(1..=196_608).contains(&units) {
        return Err(format!("{units} CPU units is out of range (1 to 196608)"));
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
    if !(6..=8_388_608).contains(&mib) {
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
    Ok(number as i64)
}

fn scaled(number: f64, factor: i64, text: &str) -> Result<i64, String> {
    let value = number * factor as f64;
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
