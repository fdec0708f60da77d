//! Reading CPU time and resident memory of processes from `/proc`.

use std::time::Duration;

/// User plus system CPU time consumed so far by process `pid` (all threads),
/// or by this process when `pid` is `None`.
///
/// Read from fields 14 (`utime`) and 15 (`stime`) of `/proc/PID/stat`, which
/// count clock ticks of `sysconf(_SC_CLK_TCK)` (usually 10 ms each).
pub fn cpu_time(pid: Option<u32>) -> Result<Duration, String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) is in parentheses and may contain spaces;
    // everything after the last ')' is space-separated, starting at field 3.
    let after_comm = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: unexpected format"))?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let tick_field = |index: usize| -> Result<u64, String> {
        fields
            .get(index)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path}: cannot read field {}", index + 3))
    };
    let ticks = tick_field(14 - 3)? + tick_field(15 - 3)?;
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return Err("sysconf(_SC_CLK_TCK) failed".into());
    }
    Ok(Duration::from_secs_f64(
        ticks as f64 / ticks_per_second as f64,
    ))
}

/// Resident set size of process `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("{path}: no VmRSS line"))
}

/// Fails early, with a clear message, when the server process is not running.
pub fn check_alive(pid: u32) -> Result<(), String> {
    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
        Ok(())
    } else {
        Err(format!("server process {pid} is not running"))
    }
}

/// CPU time all cores spent busy so far (`/proc/stat` aggregate line: every
/// field but `idle` and `iowait`), to detect other load on the machine.
pub fn machine_busy() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .ok_or("/proc/stat: no aggregate cpu line")?
        .split_whitespace()
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    ticks_to_duration(busy)
}

fn ticks_to_duration(ticks: u64) -> Result<Duration, String> {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return Err("sysconf(_SC_CLK_TCK) failed".into());
    }
    Ok(Duration::from_secs_f64(
        ticks as f64 / ticks_per_second as f64,
    ))
}
