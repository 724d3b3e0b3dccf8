//! Transparent huge pages off for the whole process.
//!
//! mimalloc advises the kernel that its arenas may use transparent huge
//! pages. Where the kernel honours the advice (`madvise`, the common
//! default, or `always`), its `khugepaged` thread later walks the process
//! and fills any 2 MiB region with a few pages in use into a whole huge
//! page: minutes into a run, the resident set of an idle-looking process
//! jumps by several MiB at a time, with the heap unchanged. A gateway's
//! heap is a few MiB of short-lived blocks, so huge pages buy it little and
//! cost it a resident set that moves on its own (docs/production.md,
//! "Soak"). The setting covers the mappings made before it as well.

/// Turn transparent huge pages off for this process. Where the platform
/// has no such setting, nothing to do.
pub fn disable() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::thread::disable_transparent_huge_pages(true)?;
    Ok(())
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    /// The kernel reports the process's setting in `/proc/self/status`.
    fn thp_enabled() -> String {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:"))
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn the_process_gets_no_huge_pages() {
        super::disable().unwrap();
        assert_eq!(thp_enabled(), "0");
    }
}
