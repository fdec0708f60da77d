//! A private Redis Cluster: three `redis-server` masters (no replicas) on
//! 127.0.0.1, made one cluster by `redis-cli --cluster create`, in a
//! temporary directory; all stopped, and the directory removed, on drop
//! (so also when a test panics).

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running three-node Redis Cluster.
pub struct RedisCluster {
    children: Vec<Child>,
    /// The nodes' ports.
    pub ports: Vec<u16>,
    dir: PathBuf,
}

/// Whether `port` and its cluster bus port (`port + 10000`) are free.
fn free_pair(port: u16) -> bool {
    let bind = |p: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok();
    bind(port) && bind(port + 10000)
}

/// `n` distinct ports below 55536 whose bus ports are free too.
fn cluster_ports(n: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    let mut seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    while ports.len() < n {
        // xorshift: a different start for each test process.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = 20_000 + (seed % 30_000) as u16;
        if !ports.contains(&port) && free_pair(port) {
            ports.push(port);
        }
    }
    ports
}

/// `redis-cli -p PORT args...`'s output, if it ran.
fn cli(redis_cli: &Path, port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new(redis_cli)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

impl RedisCluster {
    /// Starts three nodes with `redis_server`, joins them with
    /// `redis_cli --cluster create` and waits (30 s at most) until every
    /// node reports `cluster_state:ok`.
    pub fn start(redis_server: &Path, redis_cli: &Path) -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "socketeer-redis-cluster-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let mut cluster = RedisCluster {
            children: Vec::new(),
            ports: cluster_ports(3),
            dir,
        };
        for port in cluster.ports.clone() {
            let child = Command::new(redis_server)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &cluster
                        .dir
                        .join(format!("nodes-{port}.conf"))
                        .to_string_lossy(),
                    "--cluster-node-timeout",
                    "5000",
                    "--dir",
                    &cluster.dir.to_string_lossy(),
                    "--appendonly",
                    "no",
                    "--save",
                    "",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn redis-server");
            cluster.children.push(child);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for &port in &cluster.ports {
            while cli(redis_cli, port, &["PING"]).as_deref() != Some("PONG\n") {
                assert!(
                    Instant::now() < deadline,
                    "redis-server on {port} did not answer PING"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new(redis_cli)
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        for &port in &cluster.ports {
            loop {
                let info = cli(redis_cli, port, &["CLUSTER", "INFO"]).unwrap_or_default();
                if info.lines().any(|l| l.trim() == "cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {port} not ok within 30 s: {info}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        cluster
    }

    /// `redis://127.0.0.1:PORT` of each node.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
