//! The one `/proc` reader: a process (parent, start time, CPU time, memory, the processes below
//! it), how busy a CPU has been, this process's CPUs, and the machine's model and load.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::value_after;

/// Linux counts CPU and start times in USER_HZ ticks, 100 a second on every architecture.
pub const TICK: Duration = Duration::from_millis(10);

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).context(format!("reading {path}"))
}

/// The first word after `prefix` in `path`, as a `T`.
fn value<T: FromStr>(path: &str, prefix: &str) -> Result<T> {
    value_after(&read(path)?, prefix).context(format!("no {prefix:?} value in {path}"))
}

/// One process, from `/proc/<pid>/stat` and its `exe` link.
#[derive(Clone, Debug)]
pub struct Process {
    pub pid: u32,
    pub parent: u32,
    /// The executable's file name (the kernel's 15-character `comm` when `exe` is unreadable).
    pub name: String,
    pub exe: Option<PathBuf>,
    pub state: char,
    /// Ticks since boot.
    pub started: u64,
    /// User plus system CPU time, in ticks.
    pub cpu_ticks: u64,
}

/// `pid`'s entry; `None` once it is gone.
pub fn process(pid: u32) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: the fields after the last `)` start at field 3.
    let (head, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let name = exe.as_deref().and_then(|exe| exe.file_name()?.to_str());
    Some(Process {
        pid,
        parent: u32::try_from(field(4)?).ok()?,
        name: name.unwrap_or(head.split_once('(')?.1).to_owned(),
        state: fields.first()?.chars().next()?,
        started: field(22)?,
        cpu_ticks: field(14)? + field(15)?,
        exe,
    })
}

/// Whether `pid` still runs (a zombie counts as gone: it holds no memory).
pub fn is_running(pid: u32) -> bool {
    process(pid).is_some_and(|process| !matches!(process.state, 'Z' | 'X'))
}

/// `root` and every process below it, parents first; empty once `root` is gone.
pub fn tree(root: u32) -> Vec<Process> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten();
    let pids = entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok());
    let all: Vec<Process> = pids.filter_map(process).collect();
    let mut found: Vec<Process> = all.iter().filter(|p| p.pid == root).cloned().collect();
    let mut next = 0;
    while let Some(parent) = found.get(next).map(|p| p.pid) {
        found.extend(all.iter().filter(|p| p.parent == parent).cloned());
        next += 1;
    }
    found
}

/// CPU time `pids` have used so far, in seconds.
pub fn cpu_seconds(pids: &[u32]) -> Result<f64> {
    let ticks: Option<u64> = pids.iter().map(|&pid| Some(process(pid)?.cpu_ticks)).sum();
    let ticks = ticks.context(format!("one of processes {pids:?} is gone"))?;
    Ok(ticks as f64 * TICK.as_secs_f64())
}

/// Resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    value(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// Proportional memory of `pid` (shared pages split between their users), in KiB.
pub fn pss_kib(pid: u32) -> Option<u64> {
    value(&format!("/proc/{pid}/smaps_rollup"), "Pss:").ok()
}

/// Time since boot, in ticks: the clock of [`Process::started`] (`/proc/uptime` has two decimals).
pub fn uptime_ticks() -> Result<u64> {
    Ok((value::<f64>("/proc/uptime", "")? * 100.0).round() as u64)
}

/// Ticks CPU `cpu` has spent busy (anything but idle and waiting for I/O) and in all, so far.
pub fn cpu_ticks(cpu: usize) -> Result<(u64, u64)> {
    let (stat, name) = (read("/proc/stat")?, format!("cpu{cpu} "));
    let line = stat.lines().find_map(|line| line.strip_prefix(&name));
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    let fields = line.unwrap_or_default().split(' ');
    let times: Vec<u64> = fields.flat_map(str::parse).collect();
    let times = times.get(..8).context("no such CPU in /proc/stat")?;
    let total: u64 = times.iter().sum();
    Ok((total - times[3] - times[4], total))
}

/// The CPUs this process may run on, as `taskset -c` writes them (`1`, `0-1`).
pub fn allowed_cpus() -> Result<String> {
    value("/proc/self/status", "Cpus_allowed_list:")
}

/// The 1-minute load average: other work on this shared machine shows in every figure.
pub fn load_average() -> Result<f64> {
    value("/proc/loadavg", "")
}

/// The CPU model and how many CPUs the machine has.
pub fn machine() -> Result<(String, usize)> {
    let cpuinfo = read("/proc/cpuinfo")?;
    let mut lines = cpuinfo.lines();
    let model = lines.find_map(|line| line.strip_prefix("model name")?.split_once(':'));
    let model = model.map_or("unknown CPU", |(_, model)| model.trim());
    Ok((model.to_owned(), cpuinfo.matches("processor\t:").count()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_machine_are_read() {
        let me = std::process::id();
        assert_eq!(tree(me).first().map(|p| p.pid), Some(me));
        assert!(is_running(me) && pss_kib(me).is_some_and(|pss| pss > 0));
        assert!(rss_kib(me).is_ok_and(|rss| rss > 0) && cpu_seconds(&[me]).is_ok());
        assert!(cpu_ticks(0).is_ok_and(|(busy, total)| busy <= total));
        assert!(load_average().is_ok() && uptime_ticks().is_ok() && allowed_cpus().is_ok());
        assert!(machine().is_ok_and(|(_, cpus)| cpus > 0));
    }
}
