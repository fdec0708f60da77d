//! A private Redis Cluster: three `redis-server` masters (no replicas) on
//! 127.0.0.1, made one cluster by `redis-cli --cluster create`, in a
//! temporary directory; all stopped, and the directory removed, on drop
//! (so also when a test panics). And helpers to look into it.

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
    redis_server: PathBuf,
    redis_cli: PathBuf,
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
            redis_server: redis_server.to_owned(),
            redis_cli: redis_cli.to_owned(),
        };
        // A port found free may be taken before the node binds it: then
        // the node exits, and the nodes start again on other ports.
        for attempt in 1.. {
            for port in cluster.ports.clone() {
                let child = cluster.spawn(port);
                cluster.children.push(child);
            }
            if cluster.all_answer(Instant::now() + Duration::from_secs(10)) {
                break;
            }
            assert!(attempt < 5, "the cluster's nodes did not start");
            for child in &mut cluster.children {
                let _ = child.kill();
                let _ = child.wait();
            }
            cluster.children.clear();
            cluster.ports = cluster_ports(3);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
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
        cluster.wait_ok(deadline);
        cluster
    }

    /// Starts the node of `port` (its configuration file in the cluster's
    /// directory).
    fn spawn(&self, port: u16) -> Child {
        Command::new(&self.redis_server)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &self
                    .dir
                    .join(format!("nodes-{port}.conf"))
                    .to_string_lossy(),
                "--cluster-node-timeout",
                "5000",
                "--dir",
                &self.dir.to_string_lossy(),
                "--appendonly",
                "no",
                "--save",
                "",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn redis-server")
    }

    /// Waits until every node answers `PING`: `false` if one exited or
    /// did not answer by `deadline`.
    fn all_answer(&mut self, deadline: Instant) -> bool {
        for i in 0..self.ports.len() {
            while cli(&self.redis_cli, self.ports[i], &["PING"]).as_deref() != Some("PONG\n") {
                let exited = matches!(self.children[i].try_wait(), Ok(Some(_)));
                if exited || Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        true
    }

    /// Waits until every node reports `cluster_state:ok`.
    fn wait_ok(&self, deadline: Instant) {
        for &port in &self.ports {
            loop {
                let info = cli(&self.redis_cli, port, &["CLUSTER", "INFO"]).unwrap_or_default();
                if info.lines().any(|l| l.trim() == "cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {port} not ok in time: {info}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Kills node `i` (as a crash would).
    pub fn stop(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }

    /// Starts node `i` again after [`RedisCluster::stop`] (it rejoins with
    /// its slots) and waits (30 s at most) until the cluster is ok.
    pub fn restart(&mut self, i: usize) {
        self.children[i] = self.spawn(self.ports[i]);
        self.wait_ok(Instant::now() + Duration::from_secs(30));
    }

    /// The slot of `key` (or shard channel).
    fn slot_of(&self, key: &str) -> u16 {
        cli(&self.redis_cli, self.ports[0], &["CLUSTER", "KEYSLOT", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// Moves the (keyless) slot of `key` to node `to`, as a resharding
    /// does: `IMPORTING` on `to`, `MIGRATING` on its owner, then `NODE` on
    /// every node.
    pub fn move_slot_of(&self, key: &str, to: usize) {
        let slot = self.slot_of(key).to_string();
        let from = self.node_of(key);
        let id = |i: usize| {
            cli(&self.redis_cli, self.ports[i], &["CLUSTER", "MYID"])
                .map(|s| s.trim().to_owned())
                .expect("CLUSTER MYID")
        };
        let (from_id, to_id) = (id(from), id(to));
        let setslot = |i: usize, args: &[&str]| {
            let mut all = vec!["CLUSTER", "SETSLOT", slot.as_str()];
            all.extend_from_slice(args);
            let out = cli(&self.redis_cli, self.ports[i], &all).unwrap_or_default();
            assert_eq!(out.trim(), "OK", "CLUSTER SETSLOT {args:?} on node {i}");
        };
        setslot(to, &["IMPORTING", &from_id]);
        setslot(from, &["MIGRATING", &to_id]);
        for i in [to, from] {
            setslot(i, &["NODE", &to_id]);
        }
        for i in (0..self.ports.len()).filter(|i| *i != to && *i != from) {
            setslot(i, &["NODE", &to_id]);
        }
    }

    /// The index of the node that owns `key`'s (or shard channel's) slot.
    pub fn node_of(&self, key: &str) -> usize {
        let port = self.ports[0];
        let slot = self.slot_of(key);
        let nodes = cli(&self.redis_cli, port, &["CLUSTER", "NODES"]).expect("CLUSTER NODES");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let owns = fields.iter().skip(8).any(|range| {
                let mut ends = range.split('-').map(|n| n.parse::<u16>());
                match (ends.next(), ends.next()) {
                    (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&slot),
                    (Some(Ok(a)), None) => a == slot,
                    _ => false,
                }
            });
            let port_of = |addr: &str| {
                addr.split('@')
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok())
            };
            if owns {
                let port = fields.get(1).and_then(|a| port_of(a));
                if let Some(i) = self.ports.iter().position(|p| Some(*p) == port) {
                    return i;
                }
            }
        }
        panic!("no node owns slot {slot}: {nodes}");
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

/// Runs `cmd` on every node and returns the replies.
pub async fn on_each_node(nodes: &[String], cmd: &redis::Cmd) -> Vec<redis::Value> {
    let mut replies = Vec::new();
    for url in nodes {
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        replies.push(cmd.query_async(&mut conn).await.unwrap());
    }
    replies
}

/// How many clients subscribe to shard channel `channel`, all nodes
/// together.
pub async fn shard_subscribers(nodes: &[String], channel: &str) -> i64 {
    let mut cmd = redis::cmd("PUBSUB");
    cmd.arg("SHARDNUMSUB").arg(channel);
    on_each_node(nodes, &cmd)
        .await
        .iter()
        .map(|reply| match reply {
            redis::Value::Array(kv) => match kv.as_slice() {
                [_, redis::Value::Int(n)] => *n,
                _ => panic!("SHARDNUMSUB reply {reply:?}"),
            },
            _ => panic!("SHARDNUMSUB reply {reply:?}"),
        })
        .sum()
}

/// Waits (10 s at most) until `channel` has `n` subscribers.
pub async fn wait_subscribers(nodes: &[String], channel: &str, n: i64) {
    for _ in 0..100 {
        if shard_subscribers(nodes, channel).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        shard_subscribers(nodes, channel).await,
        n,
        "subscribers of {channel}"
    );
}
