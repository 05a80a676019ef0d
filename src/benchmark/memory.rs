//! Peak memory of this process (Linux: `VmHWM` of /proc/self/status), and a
//! reset of that peak so one phase of a run can be measured on its own.

/// The peak resident set size so far, in bytes; `None` where the system does not say.
pub fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Start measuring the peak afresh (Linux 4.0 and later); false where it could not.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn peak_grows_with_use_and_resets() {
        let before = peak_bytes().expect("VmHWM on Linux");
        let big = vec![1_u8; 64 << 20];
        std::hint::black_box(&big);
        let grown = peak_bytes().unwrap();
        assert!(grown >= before + (60 << 20), "{before} -> {grown}");
        drop(big);
        if reset_peak() {
            assert!(peak_bytes().unwrap() < grown - (32 << 20));
        }
    }
}
