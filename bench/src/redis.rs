//! Redis for the benchmark: the test harness's `redis-server`, moved onto the server CPU, and
//! `redis-benchmark`'s own SET/GET rate against it from the client CPU, for comparison.

use std::process::Command;

use meeteasy_tests::redis_server::RedisServer;

use crate::error::BenchError;

pub struct PinnedRedis {
    server: RedisServer,
    pid: u32,
}

/// Requests per second `redis-benchmark` measured.
pub struct RedisRates {
    pub set: f64,
    pub get: f64,
}

impl PinnedRedis {
    /// Starts a redis-server (loopback, free port, no persistence) and pins all its threads to `cpu`.
    pub fn start(cpu: usize) -> Result<Self, BenchError> {
        let server = RedisServer::start();
        let port = server.port().to_string();
        let info = run(
            "redis-cli",
            &["-h", "127.0.0.1", "-p", &port, "info", "server"],
        )?;
        let pid = info
            .lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .ok_or_else(|| BenchError::Command {
                command: "redis-cli info server".to_owned(),
                detail: "no process_id".to_owned(),
            })?;
        run(
            "taskset",
            &["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()],
        )?;
        Ok(Self { server, pid })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `redis-benchmark -q -t set,get -n <requests>` (50 connections, no pipelining), pinned to `cpu`.
    pub fn benchmark(&self, cpu: usize, requests: u64) -> Result<RedisRates, BenchError> {
        let port = self.server.port().to_string();
        let cpu = cpu.to_string();
        let requests = requests.to_string();
        let args = [
            "-c",
            &cpu,
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "-t",
            "set,get",
            "-n",
            &requests,
        ];
        let output = run("taskset", &args)?;
        let rate = |name: &str| {
            // Progress lines end in \r; the result line is `SET: 81234.57 requests per second, ...`.
            output
                .split(['\r', '\n'])
                .filter_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
                .filter(|rest| rest.contains("requests per second"))
                .find_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
                .ok_or_else(|| BenchError::Command {
                    command: "redis-benchmark".to_owned(),
                    detail: format!("no {name} rate in: {output}"),
                })
        };
        Ok(RedisRates {
            set: rate("SET")?,
            get: rate("GET")?,
        })
    }
}

/// Runs a short command and returns its standard output.
fn run(program: &str, args: &[&str]) -> Result<String, BenchError> {
    let command = format!("{program} {}", args.join(" "));
    let output =
        Command::new(program)
            .args(args)
            .output()
            .map_err(|error| BenchError::Command {
                command: command.clone(),
                detail: error.to_string(),
            })?;
    if !output.status.success() {
        let detail = format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        return Err(BenchError::Command { command, detail });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
