//! What the generator reads from the operating system: CPU time and resident
//! memory of processes (`/proc`), its own CPU time, the open-file limit, and
//! two socket calls the batching needs (`FIONREAD`, a `recv` into spare
//! capacity). All through safe wrappers (`rustix`).

use std::io;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> Result<u64, String> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)
        .map_err(|e| format!("cannot raise RLIMIT_NOFILE to its hard limit: {e}"))?;
    Ok(limit.maximum.unwrap_or(u64::MAX))
}

/// CPU time of this process so far (all threads, user + system), with
/// nanosecond resolution (`CLOCK_PROCESS_CPUTIME_ID`, the total that
/// `getrusage(RUSAGE_SELF)` splits into user and system time).
pub fn self_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// User and system CPU time of process `pid` (or of this process), from
/// fields 14 and 15 of `/proc/PID/stat`, in clock ticks (usually 10 ms).
pub fn proc_cpu(pid: Option<u32>) -> Result<(Duration, Duration), String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after_comm = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: unexpected format"))?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path}: cannot read field {n}"))
    };
    Ok((ticks(field(14)?), ticks(field(15)?)))
}

/// Total CPU time (user + system) of process `pid`.
pub fn proc_cpu_total(pid: u32) -> Result<Duration, String> {
    proc_cpu(Some(pid)).map(|(user, system)| user + system)
}

fn ticks(n: u64) -> Duration {
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_secs_f64(n as f64 / per_second as f64)
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

/// Open file descriptors of process `pid` (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> Result<usize, String> {
    let path = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .count())
}

/// Fails early, with a clear message, when process `pid` does not exist.
pub fn check_alive(pid: u32) -> Result<(), String> {
    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
        Ok(())
    } else {
        Err(format!("server process {pid} is not running"))
    }
}

/// CPU time all cores spent busy so far (`/proc/stat`: every field of the
/// aggregate line but `idle` and `iowait`), to detect other load.
pub fn machine_busy() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let busy: u64 = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .ok_or("/proc/stat: no aggregate cpu line")?
        .split_whitespace()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t.parse::<u64>().unwrap_or(0))
        .sum();
    Ok(ticks(busy))
}

/// Bytes waiting in the socket's receive queue (`FIONREAD`), without
/// consuming them (and so without making the kernel send an ACK).
pub fn bytes_in_socket(stream: &TcpStream) -> Result<usize, String> {
    rustix::io::ioctl_fionread(stream)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .map_err(|e| format!("FIONREAD: {e}"))
}

/// Reads what the socket holds into the spare capacity of `buf` with one
/// `recv`; `Ok(0)` is end of stream.
///
/// A read shorter than the space offered drained the socket, so tokio is told
/// `WouldBlock` (the bytes are kept) to clear the readiness: otherwise the
/// next wake-up would begin with a `recv` that fails with `EAGAIN`. tokio
/// only clears the readiness it observed before the call, not an event that
/// arrived since.
pub fn read_available(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() == buf.len() {
        buf.reserve(4096);
    }
    let mut got = 0;
    let result = stream.try_io(Interest::READABLE, || {
        let space = buf.capacity() - buf.len();
        let n = rustix::net::recv(
            stream,
            rustix::buffer::spare_capacity(buf),
            rustix::net::RecvFlags::empty(),
        )
        .map_err(io::Error::from)?
        .0;
        got = n;
        match n {
            n if n > 0 && n < space => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    });
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_memory() {
        let (user, system) = proc_cpu(None).unwrap();
        assert!(user + system < Duration::from_secs(24 * 3600));
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(open_fds(std::process::id()).unwrap() >= 3);
        assert!(machine_busy().unwrap() > Duration::ZERO);
        check_alive(std::process::id()).unwrap();
        assert!(check_alive(u32::MAX).is_err());
    }

    #[test]
    fn own_cpu_time_grows_with_work() {
        let before = self_cpu();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(self_cpu() > before);
    }
}
