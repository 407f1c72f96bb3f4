//! Real Redis deployments for tests, on loopback: a Redis Cluster (3 masters, 3 replicas) and a
//! master watched by 3 sentinels with its replicas, either in plain TCP or speaking only TLS with a
//! test CA's certificate (to clients and among themselves). Every process lives in one temp
//! directory and is stopped when the deployment is dropped, also when a test panics. Waits are on
//! conditions (the cluster reports `ok`, the replicas are in sync, the sentinels see each other),
//! never fixed sleeps.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use meeteasy_auth::config::{RedisDeployment, RedisNode, RedisSettings, ReplicaAck};
use meeteasy_protocol::Secret;
use tempfile::TempDir;

use crate::redis_server::{Access, TlsFiles, free_port, launch_with, read_log, terminate};
use crate::test_ca::TestCa;

/// How long a deployment may take to form (cluster slots assigned, sentinels agreed).
const FORM_DEADLINE: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// A cluster node also listens on its bus port, this much higher.
const CLUSTER_BUS_OFFSET: u16 = 10_000;
/// What the tests wait for a write's replica: the longest the server allows, as a loopback replica
/// on a loaded 2-core machine was seen to take over 500 ms to acknowledge.
const REPLICA_ACK: ReplicaAck = ReplicaAck {
    replicas: 1,
    timeout: Duration::from_millis(1500),
};
/// The name the sentinels know the master by.
pub const MASTER_NAME: &str = "meeteasy";

/// One redis-server or sentinel process on its port.
struct Node {
    port: u16,
    process: Option<Child>,
    /// How it was started, to start it again.
    config: Option<std::path::PathBuf>,
    extra: Vec<String>,
    /// How clients reach it: over TLS only, with a password (`requirepass` in its config).
    access: Access,
}

impl Node {
    /// `redis-cli ARGS...` on this node: its output, or `None` when it could not ask.
    fn cli(&self, args: &[&str]) -> Option<String> {
        self.access.ask(self.port, args)
    }

    fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            terminate(process);
        }
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _already_gone = process.kill();
            let _status = process.wait();
        }
    }

    fn restart(&mut self, dir: &Path) {
        self.stop();
        match launch_with(
            self.port,
            dir,
            self.config.as_deref(),
            &self.extra,
            &self.access,
        ) {
            Ok(process) => self.process = Some(process),
            Err(failure) => panic!(
                "a redis node did not restart on port {}: {failure}",
                self.port
            ),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a node on a fresh port that `port_fits` accepts, trying a few ports; clients reach it as
/// `access` says.
fn start_node(
    dir: &Path,
    port_fits: impl Fn(u16) -> bool,
    config: impl Fn(u16) -> (Option<std::path::PathBuf>, Vec<String>),
    access: &Access,
) -> Node {
    let mut failures = Vec::new();
    for _attempt in 0..20 {
        let port = free_port();
        if !port_fits(port) {
            continue;
        }
        let (file, extra) = config(port);
        match launch_with(port, dir, file.as_deref(), &extra, access) {
            Ok(process) => {
                return Node {
                    port,
                    process: Some(process),
                    config: file,
                    extra,
                    access: access.clone(),
                };
            }
            Err(failure) => failures.push(format!("port {port}: {failure}")),
        }
    }
    panic!("a redis node did not start:\n{}", failures.join("\n"));
}

/// `redis-cli -p PORT ARGS...`'s output (in plain TCP), or `None` when it could not ask.
pub fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    Access::default().ask(port, args)
}

/// Waits until `condition` holds, or panics saying `what` did not happen.
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + deadline;
    while !condition() {
        assert!(Instant::now() < give_up, "{what} within {deadline:?}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// How many replicas a master's `INFO replication` lists as online: only those count for `WAIT`
/// (a replica is connected, but not yet online, until it has loaded the master's data).
fn online_replicas(info: &str) -> usize {
    info.lines()
        .filter(|line| line.starts_with("slave") && line.contains("state=online"))
        .count()
}

/// A value of an `INFO`-style `name:value` line.
fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|line| {
        line.trim()
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::to_owned)
    })
}

pub struct RedisCluster {
    nodes: Vec<Node>,
    /// How every node is reached.
    access: Access,
    dir: TempDir,
}

/// A slot on its way from one master to another (see [`RedisCluster::start_moving_slot_of`]).
pub struct SlotMove {
    slot: u16,
    from: u16,
    to: u16,
    from_id: String,
    to_id: String,
}

/// Whether a `CLUSTER NODES` slot range (`first-last`, or one slot) holds `slot`.
fn serves(range: &str, slot: u16) -> bool {
    let (first, last) = range.split_once('-').unwrap_or((range, range));
    first.parse().is_ok_and(|first: u16| first <= slot)
        && last.parse().is_ok_and(|last: u16| slot <= last)
}

/// Asks `node` and insists on `OK`.
fn answers_ok(node: &Node, args: &[&str]) {
    let answer = node.cli(args);
    assert_eq!(answer.as_deref().map(str::trim), Some("OK"), "{args:?}");
}

impl RedisCluster {
    /// Six nodes, three masters each with one replica, all slots assigned and every replica in sync.
    ///
    /// # Panics
    /// When the cluster does not form within [`FORM_DEADLINE`].
    pub fn start() -> Self {
        Self::start_reached(Access::default())
    }

    /// Like [`RedisCluster::start`], the nodes speaking only TLS with `ca`'s server certificate, to
    /// clients (who must show one `ca` issued) and on the cluster bus (`rediss-cluster://`).
    pub fn start_tls(ca: &TestCa) -> Self {
        Self::start_reached(Access {
            tls: Some(TlsFiles::of(ca)),
            password: None,
        })
    }

    fn start_reached(access: Access) -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir for the cluster");
        let mut nodes = Vec::new();
        for _node in 0..6 {
            let taken: Vec<u16> = nodes.iter().map(|node: &Node| node.port).collect();
            // The bus port must exist and be free too.
            let fits = |port: u16| {
                port <= u16::MAX - CLUSTER_BUS_OFFSET
                    && !taken.contains(&(port + CLUSTER_BUS_OFFSET))
                    && !taken.iter().any(|other| other + CLUSTER_BUS_OFFSET == port)
                    && std::net::TcpListener::bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET)).is_ok()
            };
            let cluster_node = |port| {
                let extra = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    // A lost master is replaced quickly.
                    "--cluster-node-timeout",
                    "2000",
                ];
                (None, extra.map(str::to_owned).to_vec())
            };
            nodes.push(start_node(dir.path(), fits, cluster_node, &access));
        }
        let cluster = Self { nodes, access, dir };
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = cluster
            .access
            .cli()
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        // `ok` alone can come before every node knows the others and their slots (gossip still
        // spreading), when a client's first command may meet a node that cannot route it yet.
        let known_nodes = cluster.nodes.len().to_string();
        wait_until(
            "the cluster reports ok, all slots and all nodes on every node",
            FORM_DEADLINE,
            || {
                cluster.nodes.iter().all(|node| {
                    node.cli(&["CLUSTER", "INFO"]).is_some_and(|info| {
                        info_field(&info, "cluster_state").as_deref() == Some("ok")
                            && info_field(&info, "cluster_slots_ok").as_deref() == Some("16384")
                            && info_field(&info, "cluster_known_nodes").as_deref()
                                == Some(known_nodes.as_str())
                    })
                })
            },
        );
        wait_until(
            "every master has its replica in sync",
            FORM_DEADLINE,
            || {
                cluster.nodes.iter().all(|node| {
                    let Some(info) = node.cli(&["INFO", "replication"]) else {
                        return false;
                    };
                    match info_field(&info, "role").as_deref() {
                        Some("master") => online_replicas(&info) == 1,
                        Some("slave") => {
                            info_field(&info, "master_link_status").as_deref() == Some("up")
                        }
                        _ => false,
                    }
                })
            },
        );
        cluster
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2` (two seeds are enough to find the rest), or
    /// `rediss-cluster://` for a cluster speaking TLS.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .take(2)
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        format!("{}-cluster://{}", self.access.scheme(), seeds.join(","))
    }

    /// The store settings of this cluster: two seeds, every write waiting for one replica.
    pub fn settings(&self) -> RedisSettings {
        RedisSettings {
            deployment: RedisDeployment::Cluster {
                seeds: self
                    .nodes
                    .iter()
                    .take(2)
                    .map(|node| loopback(node.port))
                    .collect(),
                tls: self.access.tls.is_some(),
            },
            password: None,
            replica_ack: Some(REPLICA_ACK),
            certificates: self.access.certificates(),
        }
    }

    /// Empties every master (their replicas follow).
    pub fn flush(&self) {
        for node in &self.nodes {
            let is_master = node
                .cli(&["ROLE"])
                .is_some_and(|role| role.lines().next() == Some("master"));
            if is_master {
                assert!(node.cli(&["FLUSHALL"]).is_some(), "flush a master");
            }
        }
    }

    /// Kills a master at once; answers its index, to restart it later.
    pub fn kill_a_master(&mut self) -> usize {
        let index = self
            .nodes
            .iter()
            .position(|node| {
                node.cli(&["ROLE"])
                    .is_some_and(|role| role.lines().next() == Some("master"))
            })
            .expect("the cluster has a master");
        self.nodes[index].kill();
        index
    }

    /// Kills the node at `port` at once; answers its index, to restart it later.
    pub fn kill_at(&mut self, port: u16) -> usize {
        let index = self
            .nodes
            .iter()
            .position(|node| node.port == port)
            .expect("a node of the cluster at that port");
        self.nodes[index].kill();
        index
    }

    /// Kills a replica at once; answers the port of the master it replicated, which then has none.
    pub fn kill_a_replica(&mut self) -> u16 {
        let (index, master_port) = self
            .nodes
            .iter()
            .enumerate()
            .find_map(|(index, node)| {
                let info = node.cli(&["INFO", "replication"])?;
                if info_field(&info, "role")? != "slave" {
                    return None;
                }
                Some((index, info_field(&info, "master_port")?.parse().ok()?))
            })
            .expect("the cluster has a replica");
        self.nodes[index].kill();
        master_port
    }

    /// The port of the master serving the slot of `key` (spelled as Redis stores it).
    pub fn master_of(&self, key: &str) -> u16 {
        let asked = self.nodes.iter().find(|node| node.process.is_some());
        let asked = asked.expect("a node of the cluster runs");
        let slot = self.slot_of(key);
        let nodes = asked
            .cli(&["CLUSTER", "NODES"])
            .expect("the cluster lists its nodes");
        // `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>`
        nodes
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let serves = fields.get(8..)?.iter().any(|range| serves(range, slot));
                let is_master = fields.get(2)?.split(',').any(|flag| flag == "master");
                let address = fields.get(1)?.split('@').next()?;
                (serves && is_master).then(|| address.rsplit_once(':')?.1.parse().ok())?
            })
            .expect("a master serves the key's slot")
    }

    /// The slot of `key` (spelled as Redis stores it).
    fn slot_of(&self, key: &str) -> u16 {
        let asked = self.nodes.iter().find(|node| node.process.is_some());
        asked
            .and_then(|node| node.cli(&["CLUSTER", "KEYSLOT", key]))
            .and_then(|slot| slot.trim().parse().ok())
            .expect("the cluster names the key's slot")
    }

    /// Moves the slot of `key` (spelled as Redis stores it), keys and all, from the master serving
    /// it to another master, as `redis-cli --cluster reshard` does; answers the ports of the old
    /// and the new master once the cluster serves the slot from the new one.
    pub fn move_slot_of(&self, key: &str) -> (u16, u16) {
        let moving = self.start_moving_slot_of(key);
        self.finish_moving(moving)
    }

    /// Starts moving the slot of `key` to another master: the old one answers `ASK` for the keys
    /// [`RedisCluster::migrate`] has moved, and serves the rest until [`RedisCluster::finish_moving`].
    pub fn start_moving_slot_of(&self, key: &str) -> SlotMove {
        let slot = self.slot_of(key);
        let from = self.master_of(key);
        let to = self
            .masters()
            .into_iter()
            .find(|master| master.port != from)
            .expect("another master to move the slot to")
            .port;
        let id = |port| {
            self.node(port)
                .cli(&["CLUSTER", "MYID"])
                .map(|id| id.trim().to_owned())
                .expect("a node names its id")
        };
        let moving = SlotMove {
            slot,
            from,
            to,
            from_id: id(from),
            to_id: id(to),
        };
        let slot = slot.to_string();
        let importing = ["CLUSTER", "SETSLOT", &slot, "IMPORTING", &moving.from_id];
        answers_ok(self.node(to), &importing);
        let migrating = ["CLUSTER", "SETSLOT", &slot, "MIGRATING", &moving.to_id];
        answers_ok(self.node(from), &migrating);
        moving
    }

    /// Moves `keys` (spelled as Redis stores them) of a slot being moved to its new master.
    pub fn migrate(&self, moving: &SlotMove, keys: &[&str]) {
        let to_port = moving.to.to_string();
        let mut migrate = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
        migrate.extend(keys);
        answers_ok(self.node(moving.from), &migrate);
    }

    /// Moves the slot's remaining keys and has every master serve it from its new one; answers
    /// the ports of the old and the new master.
    pub fn finish_moving(&self, moving: SlotMove) -> (u16, u16) {
        let slot = moving.slot.to_string();
        let keys = self
            .node(moving.from)
            .cli(&["CLUSTER", "GETKEYSINSLOT", &slot, "1000"])
            .expect("the old master lists the slot's keys");
        let keys: Vec<&str> = keys.lines().filter(|key| !key.is_empty()).collect();
        if !keys.is_empty() {
            self.migrate(&moving, &keys);
        }
        for master in self.masters() {
            answers_ok(
                master,
                &["CLUSTER", "SETSLOT", &slot, "NODE", &moving.to_id],
            );
        }
        let served_from = |port: u16| {
            let nodes = self
                .node(port)
                .cli(&["CLUSTER", "NODES"])
                .unwrap_or_default();
            nodes.lines().any(|line| {
                line.starts_with(&moving.to_id)
                    && line
                        .split_whitespace()
                        .skip(8)
                        .any(|range| serves(range, moving.slot))
            })
        };
        wait_until(
            "the cluster serves the slot from its new master",
            FORM_DEADLINE,
            || served_from(moving.from) && served_from(moving.to),
        );
        (moving.from, moving.to)
    }

    fn masters(&self) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|node| {
                node.cli(&["ROLE"])
                    .is_some_and(|role| role.lines().next() == Some("master"))
            })
            .collect()
    }

    fn node(&self, port: u16) -> &Node {
        let node = self.nodes.iter().find(|node| node.port == port);
        node.unwrap_or_else(|| panic!("no node on port {port}"))
    }

    /// Starts a killed node again; it rejoins the cluster (as a replica, once another node took
    /// over its slots).
    pub fn restart(&mut self, index: usize) {
        self.nodes[index].restart(self.dir.path());
    }

    /// Waits until three running nodes are masters (a replica took over a killed master's slots)
    /// and every running node reports the cluster `ok`.
    pub fn wait_until_taken_over(&self) {
        let running = || self.nodes.iter().filter(|node| node.process.is_some());
        wait_until(
            "a replica takes over the killed master",
            FORM_DEADLINE,
            || {
                let masters = running()
                    .filter(|node| {
                        node.cli(&["ROLE"])
                            .is_some_and(|role| role.lines().next() == Some("master"))
                    })
                    .count();
                masters == 3
                    && running().all(|node| {
                        node.cli(&["CLUSTER", "INFO"])
                            .and_then(|info| info_field(&info, "cluster_state"))
                            .is_some_and(|state| state == "ok")
                    })
            },
        );
    }

    /// How many connections listen on the sharded channel `channel` (spelled as Redis knows it),
    /// over every node.
    pub fn subscribers(&self, channel: &str) -> u64 {
        let running = self.nodes.iter().filter(|node| node.process.is_some());
        running
            .filter_map(|node| node.cli(&["PUBSUB", "SHARDNUMSUB", channel]))
            .map(|answer| subscriber_count(&answer))
            .sum()
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The logs of every node, for a failure message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|node| read_log(&self.dir.path().join(format!("redis-{}.log", node.port))))
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

pub struct RedisSentinels {
    master: Node,
    replicas: Vec<Node>,
    sentinels: Vec<Node>,
    /// How the sentinels are reached: over TLS, as the data nodes are, and with their own password
    /// (`requirepass`), if they ask for one.
    sentinel_access: Access,
    _dir: TempDir,
}

impl RedisSentinels {
    /// A master with `replicas` replicas in sync, watched by three sentinels that know each other
    /// and the replicas. A master that stops answering is declared down after one second.
    ///
    /// # Panics
    /// When the deployment does not form within [`FORM_DEADLINE`].
    pub fn start(replicas: usize) -> Self {
        Self::start_reached(replicas, None, Access::default(), &[])
    }

    /// Like [`RedisSentinels::start`], with a master the sentinels cannot demote (it knows no
    /// `REPLICAOF` or `SLAVEOF` by those names): replaced by [`RedisSentinels::depose_master`], it
    /// goes on calling itself master and taking writes, as one cut off from the sentinels and its
    /// replicas (but not from some clients) does until the partition heals.
    pub fn start_with_an_undemotable_master(replicas: usize) -> Self {
        let renamed = [
            "--rename-command",
            "REPLICAOF",
            "deposed-replicaof",
            "--rename-command",
            "SLAVEOF",
            "deposed-slaveof",
        ];
        Self::start_reached(replicas, None, Access::default(), &renamed)
    }

    /// Like [`RedisSentinels::start`], with sentinels that ask their clients (and each other) for
    /// `sentinel_password`, while the data nodes ask for none.
    pub fn start_asking(replicas: usize, sentinel_password: Option<&str>) -> Self {
        Self::start_reached(replicas, sentinel_password, Access::default(), &[])
    }

    /// Like [`RedisSentinels::start`], every node (sentinels too) speaking only TLS with `ca`'s
    /// server certificate, to clients (who must show one `ca` issued) and to each other
    /// (`rediss-sentinel://`).
    pub fn start_tls(replicas: usize, ca: &TestCa) -> Self {
        let tls = Access {
            tls: Some(TlsFiles::of(ca)),
            password: None,
        };
        Self::start_reached(replicas, None, tls, &[])
    }

    /// The deployment, its data nodes reached as `data` says, its sentinels likewise and with
    /// `sentinel_password`; its master started with `master_arguments` too.
    fn start_reached(
        replicas: usize,
        sentinel_password: Option<&str>,
        data: Access,
        master_arguments: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir for the sentinels");
        let any = |_port: u16| true;
        let master_config = |_port| {
            (
                None,
                master_arguments.iter().map(|&a| a.to_owned()).collect(),
            )
        };
        let master = start_node(dir.path(), any, master_config, &data);
        let replicas: Vec<Node> = (0..replicas)
            .map(|_replica| {
                let replica_of_master = |_port| {
                    let extra = ["--replicaof", "127.0.0.1", &master.port.to_string()];
                    (None, extra.map(str::to_owned).to_vec())
                };
                start_node(dir.path(), any, replica_of_master, &data)
            })
            .collect();
        wait_until("the replicas are in sync", FORM_DEADLINE, || {
            let online = master
                .cli(&["INFO", "replication"])
                .is_some_and(|info| online_replicas(&info) == replicas.len());
            online
                && replicas.iter().all(|replica| {
                    replica
                        .cli(&["INFO", "replication"])
                        .and_then(|info| info_field(&info, "master_link_status"))
                        .is_some_and(|status| status == "up")
                })
        });
        let sentinel_access = Access {
            password: sentinel_password.map(str::to_owned),
            ..data
        };
        let asking = sentinel_password.map(|password| {
            format!("requirepass \"{password}\"\nsentinel sentinel-pass \"{password}\"\n")
        });
        let sentinels: Vec<Node> = (0..3)
            .map(|_sentinel| {
                let config = |port| {
                    // Sentinel rewrites its config file, so each gets a writable one of its own.
                    let config = dir.path().join(format!("sentinel-{port}.conf"));
                    let text = format!(
                        "sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n\
                         sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                         sentinel failover-timeout {MASTER_NAME} 5000\n\
                         sentinel parallel-syncs {MASTER_NAME} 1\n{asking}",
                        master = master.port,
                        asking = asking.as_deref().unwrap_or_default(),
                    );
                    std::fs::write(&config, text).expect("write a sentinel config");
                    (Some(config), vec!["--sentinel".to_owned()])
                };
                start_node(dir.path(), any, config, &sentinel_access)
            })
            .collect();
        let deployment = Self {
            master,
            replicas,
            sentinels,
            sentinel_access,
            _dir: dir,
        };
        deployment.wait_until_watched();
        deployment
    }

    /// Waits until every sentinel knows the other two and every replica of the current master.
    fn wait_until_watched(&self) {
        let replicas = self.replicas.len().to_string();
        wait_until(
            "the sentinels know each other and the replicas",
            FORM_DEADLINE,
            || {
                self.sentinels.iter().all(|sentinel| {
                    let Some(master) = sentinel.cli(&["SENTINEL", "MASTER", MASTER_NAME]) else {
                        return false;
                    };
                    let fields: Vec<&str> = master.lines().map(str::trim).collect();
                    let field = |name: &str| {
                        fields
                            .iter()
                            .position(|line| *line == name)
                            .and_then(|at| fields.get(at + 1))
                            .copied()
                    };
                    field("num-other-sentinels") == Some("2")
                        && field("num-slaves") == Some(replicas.as_str())
                        && field("flags") == Some("master")
                })
            },
        );
    }

    /// `redis-sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/meeteasy`, or `rediss-sentinel://`
    /// for a deployment speaking TLS.
    pub fn url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let scheme = self.sentinel_access.scheme();
        format!("{scheme}-sentinel://{}/{MASTER_NAME}", sentinels.join(","))
    }

    /// The store settings of this deployment: the three sentinels, every write waiting for one
    /// replica.
    pub fn settings(&self) -> RedisSettings {
        RedisSettings {
            deployment: RedisDeployment::Sentinel {
                sentinels: self
                    .sentinels
                    .iter()
                    .map(|node| loopback(node.port))
                    .collect(),
                master_name: MASTER_NAME.to_owned(),
                tls: self.sentinel_access.tls.is_some(),
                sentinel_password: self.sentinel_access.password.as_deref().map(Secret::new),
            },
            password: None,
            replica_ack: Some(REPLICA_ACK),
            certificates: self.master.access.certificates(),
        }
    }

    /// Empties the current master (its replicas follow).
    pub fn flush(&self) {
        let master = self
            .current_master_port()
            .expect("the sentinels name a master");
        assert!(
            self.master.access.ask(master, &["FLUSHALL"]).is_some(),
            "flush the master"
        );
    }

    /// The port of the master the deployment started with.
    pub fn first_master_port(&self) -> u16 {
        self.master.port
    }

    /// Every node's port: the master, the replicas and the sentinels.
    pub fn ports(&self) -> Vec<u16> {
        let nodes = std::iter::once(&self.master).chain(&self.replicas);
        nodes.chain(&self.sentinels).map(|node| node.port).collect()
    }

    /// How many pattern subscriptions the first master has (`PUBSUB NUMPAT`).
    pub fn pattern_subscriptions(&self) -> u64 {
        let answer = self.master.cli(&["PUBSUB", "NUMPAT"]);
        answer
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kills the master at once (SIGKILL: no goodbye to its clients or replicas).
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// Has the sentinels promote a replica while the master still runs (`SENTINEL FAILOVER`), and
    /// waits until they name the new master and every other replica follows it, so the deposed
    /// master keeps none (as one cut off from them would): the new master's port.
    ///
    /// # Panics
    /// When that is not so within [`FORM_DEADLINE`].
    pub fn depose_master(&self) -> u16 {
        // A sentinel answers NOGOODSLAVE until it has heard from a replica itself, which may
        // come a moment after it learnt of the replicas from the master.
        wait_until("a sentinel starts a failover", FORM_DEADLINE, || {
            self.sentinels.iter().any(|sentinel| {
                sentinel
                    .cli(&["SENTINEL", "FAILOVER", MASTER_NAME])
                    .is_some_and(|answer| answer.trim() == "OK")
            })
        });
        let mut promoted = None;
        wait_until("the sentinels name a new master", FORM_DEADLINE, || {
            promoted = self
                .current_master_port()
                .filter(|&port| port != self.master.port);
            promoted.is_some()
        });
        let promoted = promoted.expect("a new master");
        let replicas_of = |port| {
            let info = self.master.access.ask(port, &["INFO", "replication"]);
            info.map(|info| online_replicas(&info))
        };
        let followers = self.replicas.len() - 1;
        wait_until(
            "the other replicas follow the new master",
            FORM_DEADLINE,
            || replicas_of(self.master.port) == Some(0) && replicas_of(promoted) == Some(followers),
        );
        promoted
    }

    /// How many connections to the node on `port` listen to a pattern (the sentinels' own
    /// subscriptions are to a channel), when the node answers.
    pub fn pattern_listeners_at(&self, port: u16) -> Option<usize> {
        let clients = self
            .master
            .access
            .ask(port, &["CLIENT", "LIST", "TYPE", "pubsub"]);
        let listening = |client: &&str| client.split(' ').any(|field| field == "psub=1");
        clients.map(|clients| clients.lines().filter(listening).count())
    }

    /// `GET key` on the node on `port`, when it has the key.
    pub fn get_at(&self, port: u16, key: &str) -> Option<String> {
        let answer = self.master.access.ask(port, &["GET", key])?;
        Some(answer.trim().to_owned()).filter(|value| !value.is_empty())
    }

    /// The port the sentinels name as master now, when one answers.
    pub fn current_master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|sentinel| {
            let answer = sentinel.cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])?;
            answer.lines().nth(1)?.trim().parse().ok()
        })
    }
}

/// The count in redis-cli's answer to `PUBSUB NUMSUB` or `SHARDNUMSUB` of one channel (its name,
/// then the count, one a line).
fn subscriber_count(answer: &str) -> u64 {
    answer
        .lines()
        .nth(1)
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

fn loopback(port: u16) -> RedisNode {
    RedisNode {
        host: "127.0.0.1".to_owned(),
        port,
    }
}
