//! The machine a benchmark ran on, for its report: cores, CPU model,
//! memory, kernel and the load average when it started.

/// A `/proc` file's text, or empty when it cannot be read.
fn proc_text(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The CPU's model name as the kernel reports it.
pub fn cpu_model() -> String {
    proc_text("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown CPU".to_string(), |(_, m)| m.trim().to_string())
}

/// The memory in GiB, e.g. "23.5 GiB".
pub fn memory() -> String {
    proc_text("/proc/meminfo")
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or_else(
            || "unknown memory".to_string(),
            |kib| format!("{:.1} GiB", kib / (1024.0 * 1024.0)),
        )
}

/// "2 cores (Intel(R) Xeon(R) Processor), 23.5 GiB, Linux 6.18.44, load
/// average 1.59 1.95 2.94".
pub fn describe() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = proc_text("/proc/loadavg");
    format!(
        "{cores} cores ({}), {}, Linux {}, load average {}",
        cpu_model(),
        memory(),
        proc_text("/proc/sys/kernel/osrelease").trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_cores_cpu_memory_and_kernel() {
        let text = describe();
        assert!(text.contains(" cores ("), "{text}");
        assert!(
            text.contains("GiB") || text.contains("unknown memory"),
            "{text}"
        );
        assert!(text.contains("Linux "), "{text}");
    }
}
