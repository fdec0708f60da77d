//! The `restart` storm: kill the server, start a fresh one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills its child process when dropped.
pub(super) struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether process `pid` is gone, or a zombie whose threads have all ended
/// (the leader turns zombie first; the sockets close with the last thread).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
            let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count);
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
            zombie && threads <= 1 && fds == 0
        }
    }
}

/// Kills the server and starts `cmd` (through `sh -c`).
pub(super) async fn restart(pid: u32, cmd: &str) -> Result<KillOnDrop, String> {
    let target = rustix::process::Pid::from_raw(pid as i32).ok_or("bad --server-pid")?;
    rustix::process::kill_process(target, rustix::process::Signal::KILL)
        .map_err(|e| format!("kill {pid}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_dead(pid) {
        if Instant::now() > deadline {
            return Err(format!("server {pid} still alive 10 s after SIGKILL"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("--restart-cmd: {e}"))?;
    Ok(KillOnDrop(child))
}
