//! `--count-syscalls`: the servers' system calls over the measured phase,
//! counted by `perf stat` on the `raw_syscalls:sys_enter` tracepoint (every
//! system call a thread of the process enters).
//!
//! One `perf stat -x, -D -1 --control fifo:CTL,ACK -e raw_syscalls:sys_enter
//! -p PID` runs per server, started with its counter disabled: perf takes a
//! while to start (tenths of a second on a busy machine), so it is started
//! before the measured phase and its counter is switched on (`enable`, then
//! wait for perf's `ack`) just before the first CPU sample, and off
//! (`disable`, `ack`) just after the last; the counting window is the CPU
//! window. Then perf gets SIGINT and prints the count on its stderr as CSV.
//! (perf 6.1 answers each command with `ack\n` and a NUL byte.)
//!
//! perf is a child process of the generator: it runs on the generator's
//! CPU. What the count costs the server is the tracepoint's work in the
//! server's own system calls.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tracepoint counted: entry into any system call.
const EVENT: &str = "raw_syscalls:sys_enter";
/// How long perf gets to start, to answer a command, or to exit.
const PERF_TIMEOUT: Duration = Duration::from_secs(10);

/// The `perf stat` children counting the system calls of some processes.
pub struct SyscallCounter {
    perfs: Vec<Perf>,
    /// Private folder of the control FIFOs (removed on drop).
    dir: PathBuf,
}

/// One `perf stat` child and its control FIFOs.
struct Perf {
    child: Child,
    /// Commands to perf (`enable`, `disable`).
    ctl: File,
    /// perf's answers (`ack`), opened non-blocking.
    ack: File,
}

impl SyscallCounter {
    /// Starts one `perf stat` per PID, its counter off until [`Self::enable`].
    /// An error is the reason why not (perf missing, FIFOs not made).
    pub fn start(pids: &[u32]) -> Result<SyscallCounter, String> {
        use rustix::fs::{Mode, OFlags};
        if pids.is_empty() {
            return Err("no --server-pid to count".into());
        }
        let dir = std::env::temp_dir().join(format!(
            "socketeer-bench-perf-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut counter = SyscallCounter {
            perfs: Vec::new(),
            dir,
        };
        for (i, pid) in pids.iter().enumerate() {
            let ctl_path = counter.dir.join(format!("ctl{i}"));
            let ack_path = counter.dir.join(format!("ack{i}"));
            let fifo = |path: &PathBuf| {
                rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::RUSR | Mode::WUSR)
                    .map_err(|e| format!("mkfifo {}: {e}", path.display()))
            };
            fifo(&ctl_path)?;
            fifo(&ack_path)?;
            // Read-write opens of a FIFO never block; perf opens them so too.
            let open = |path: &PathBuf| {
                rustix::fs::open(
                    path,
                    OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map(File::from)
                .map_err(|e| format!("{}: {e}", path.display()))
            };
            let (ctl, ack) = (open(&ctl_path)?, open(&ack_path)?);
            let control = format!("fifo:{},{}", ctl_path.display(), ack_path.display());
            let child = Command::new("perf")
                .args([
                    "stat",
                    "-x,",
                    "-D",
                    "-1",
                    "--control",
                    &control,
                    "-e",
                    EVENT,
                ])
                .args(["-p", &pid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| match e.kind() {
                    ErrorKind::NotFound => "perf is not installed".to_string(),
                    _ => format!("cannot run perf: {e}"),
                })?;
            counter.perfs.push(Perf { child, ctl, ack });
        }
        Ok(counter)
    }

    /// Switches the counters on; returns once every perf has acknowledged.
    pub async fn enable(&mut self) -> Result<(), String> {
        self.command("enable").await
    }

    /// Switches the counters off, stops perf and returns each process's
    /// count, in the order of the PIDs.
    pub async fn finish(mut self) -> Result<Vec<u64>, String> {
        self.command("disable").await?;
        let mut counts = Vec::with_capacity(self.perfs.len());
        for perf in &mut self.perfs {
            interrupt(&perf.child)?;
            let deadline = Instant::now() + PERF_TIMEOUT;
            while perf.child.try_wait().map_err(|e| e.to_string())?.is_none() {
                if Instant::now() >= deadline {
                    return Err("perf did not exit after SIGINT".into());
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let mut output = String::new();
            if let Some(mut stderr) = perf.child.stderr.take() {
                let _ = stderr.read_to_string(&mut output);
            }
            counts.push(parse_perf_csv(&output)?);
        }
        Ok(counts)
    }

    /// Sends `command` to every perf and waits for each one's `ack`.
    async fn command(&mut self, command: &str) -> Result<(), String> {
        for perf in &mut self.perfs {
            perf.ctl
                .write_all(format!("{command}\n").as_bytes())
                .map_err(|e| format!("perf control FIFO: {e}"))?;
        }
        for perf in &mut self.perfs {
            let deadline = Instant::now() + PERF_TIMEOUT;
            let mut answer = Vec::new();
            let mut buf = [0u8; 64];
            while !answer.ends_with(b"\n") {
                match perf.ack.read(&mut buf) {
                    // perf writes "ack\n\0": the NUL is dropped (now or
                    // at the next answer).
                    Ok(n) => answer.extend(buf[..n].iter().filter(|&&b| b != 0)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if let Ok(Some(status)) = perf.child.try_wait() {
                            let mut output = String::new();
                            if let Some(mut stderr) = perf.child.stderr.take() {
                                let _ = stderr.read_to_string(&mut output);
                            }
                            return Err(format!("perf exited ({status}): {}", first_line(&output)));
                        }
                        if Instant::now() >= deadline {
                            return Err(format!("perf did not acknowledge `{command}`"));
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) => return Err(format!("perf ack FIFO: {e}")),
                }
            }
            if answer != b"ack\n" {
                return Err(format!(
                    "perf answered `{}` to `{command}`",
                    String::from_utf8_lossy(&answer).trim()
                ));
            }
        }
        Ok(())
    }
}

impl Drop for SyscallCounter {
    /// Stops any perf still running (a run that failed) and removes the FIFOs.
    fn drop(&mut self) {
        for perf in &mut self.perfs {
            if let Ok(None) = perf.child.try_wait() {
                let _ = perf.child.kill();
                let _ = perf.child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn interrupt(child: &Child) -> Result<(), String> {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::INT,
    )
    .map_err(|e| format!("cannot interrupt perf: {e}"))
}

/// The first line of perf's messages that says something (for a warning).
fn first_line(output: &str) -> &str {
    output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Events ") && *l != "Error:")
        .unwrap_or("no output")
}

/// The count of `raw_syscalls:sys_enter` in the CSV that `perf stat -x,`
/// prints on its stderr: a line `COUNT,UNIT,EVENT,RUN_TIME,PERCENT,...`.
/// `<not counted>` (the process never ran while the counter was on) is 0;
/// no such line (perf failed: missing permission, unknown tracepoint) or
/// `<not supported>` is an error naming perf's first message.
pub fn parse_perf_csv(output: &str) -> Result<u64, String> {
    for line in output.lines() {
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() < 3 || fields[2] != EVENT {
            continue;
        }
        return match fields[0] {
            "<not counted>" => Ok(0),
            count => count.parse::<u64>().map_err(|_| {
                format!(
                    "perf could not count {EVENT}: {}",
                    count.trim_matches(['<', '>'])
                )
            }),
        };
    }
    Err(format!("perf gave no count: {}", first_line(output)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_count_among_perfs_messages() {
        let output = "Events disabled\nEvents enabled\nEvents disabled\n\
                      11036,,raw_syscalls:sys_enter,78696033,100.00,,\n";
        assert_eq!(parse_perf_csv(output), Ok(11036));
        assert_eq!(
            parse_perf_csv("  42,,raw_syscalls:sys_enter,1000,100.00,,\n"),
            Ok(42)
        );
    }

    #[test]
    fn a_process_that_never_ran_made_no_call() {
        assert_eq!(
            parse_perf_csv("<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n"),
            Ok(0)
        );
    }

    #[test]
    fn other_events_are_not_taken_for_the_count() {
        let output = "7,,raw_syscalls:sys_exit,10,100.00,,\n";
        assert!(parse_perf_csv(output).is_err());
    }

    #[test]
    fn failures_name_perfs_reason() {
        let denied = "Error:\nNo permission to enable raw_syscalls:sys_enter event.\n\n\
                      You may not have permission to collect stats.\n";
        let e = parse_perf_csv(denied).unwrap_err();
        assert!(e.contains("No permission to enable"), "{e}");
        let e = parse_perf_csv("<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert!(parse_perf_csv("").unwrap_err().contains("no output"));
        assert!(parse_perf_csv("x,,raw_syscalls:sys_enter,0,100.00,,\n").is_err());
    }
}
