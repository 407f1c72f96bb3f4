//! What the benchmark reads from `/proc`: a process's memory and CPU time, this process's limits
//! and CPUs, and the machine's load (the noise other work adds to the figures).

use std::fs;

use crate::error::BenchError;

/// Linux reports process CPU time in USER_HZ ticks, 100 per second on every architecture it runs on.
const TICKS_PER_SECOND: f64 = 100.0;

fn read(path: &str, what: &'static str) -> Result<String, BenchError> {
    fs::read_to_string(path).map_err(|_| BenchError::Proc {
        what,
        path: path.to_owned(),
    })
}

/// The value of a `Name:   value` line of a `status`-style file.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// Resident memory of `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let status = read(&path, "VmRSS")?;
    field(&status, "VmRSS")
        .and_then(|value| value.trim_end_matches("kB").trim().parse().ok())
        .ok_or(BenchError::Proc {
            what: "VmRSS",
            path,
        })
}

/// User plus system CPU time `pid` has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let stat = read(&path, "CPU time")?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis start
    // with field 3, so utime (field 14) and stime (field 15) are the 12th and 13th of them.
    let ticks = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .map(str::parse::<u64>)
        })
        .and_then(|mut fields| Some(fields.next()?.ok()? + fields.next()?.ok()?))
        .ok_or(BenchError::Proc {
            what: "CPU time",
            path,
        })?;
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

/// This process's soft limit on open files.
pub fn open_files_limit() -> Result<u64, BenchError> {
    let limits = read("/proc/self/limits", "the open files limit")?;
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| {
            if soft == "unlimited" {
                Some(u64::MAX)
            } else {
                soft.parse().ok()
            }
        })
        .ok_or(BenchError::Proc {
            what: "the open files limit",
            path: "/proc/self/limits".to_owned(),
        })
}

/// The CPUs this process may run on, as `taskset -c` writes them (e.g. `1` or `0-1`).
pub fn allowed_cpus() -> Result<String, BenchError> {
    let status = read("/proc/self/status", "the allowed CPUs")?;
    field(&status, "Cpus_allowed_list")
        .map(str::to_owned)
        .ok_or(BenchError::Proc {
            what: "the allowed CPUs",
            path: "/proc/self/status".to_owned(),
        })
}

/// The 1-minute load average.
pub fn load_average() -> Result<f64, BenchError> {
    read("/proc/loadavg", "the load average")?
        .split_whitespace()
        .next()
        .and_then(|first| first.parse().ok())
        .ok_or(BenchError::Proc {
            what: "the load average",
            path: "/proc/loadavg".to_owned(),
        })
}

/// The CPU model and how many CPUs the machine has.
pub fn machine() -> Result<(String, usize), BenchError> {
    let cpuinfo = read("/proc/cpuinfo", "the CPU model")?;
    let model = cpuinfo
        .lines()
        .filter(|line| line.starts_with("model name"))
        .find_map(|line| line.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim())
        .to_owned();
    let cpus = cpuinfo
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    Ok((model, cpus))
}

/// Jiffies CPU `cpu` has spent busy (anything but idle and waiting for I/O) and in all, so far.
pub fn cpu_jiffies(cpu: usize) -> Result<(u64, u64), BenchError> {
    let stat = read("/proc/stat", "CPU times")?;
    let name = format!("cpu{cpu}");
    let times: Vec<u64> = stat
        .lines()
        .find_map(|line| line.strip_prefix(&name)?.strip_prefix(' '))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|field| field.parse().ok())
                .collect()
        })
        .ok_or(BenchError::Proc {
            what: "CPU times",
            path: "/proc/stat".to_owned(),
        })?;
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    let total: u64 = times.iter().take(8).sum();
    let idle = times.get(3).copied().unwrap_or(0) + times.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}
