//! What `/proc` says about the console's processes: which ones descend from a launch, how much
//! memory they account for (PSS, so libraries shared between them are not counted twice), and
//! when a process started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `/proc` counts process start times in clock ticks of 1/100 s (USER_HZ is 100 on Linux).
const TICK: Duration = Duration::from_millis(10);

/// One entry of `/proc/<pid>/stat`.
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    pub pid: u32,
    pub parent: u32,
    /// The executable's file name (the kernel's 15-character `comm` when `exe` is unreadable).
    pub name: String,
    pub executable: Option<PathBuf>,
    /// Clock ticks since boot.
    pub started: u64,
}

/// `root` and every process below it, parents before children; empty once `root` has exited.
pub fn tree(root: u32) -> Vec<ProcessInfo> {
    let all = all_processes();
    let mut found: Vec<ProcessInfo> = all.iter().filter(|p| p.pid == root).cloned().collect();
    let mut next = 0;
    while next < found.len() {
        let parent = found[next].pid;
        found.extend(all.iter().filter(|p| p.parent == parent).cloned());
        next += 1;
    }
    found
}

/// The first process below `root` running `executable`.
pub fn find_descendant(root: u32, executable: &Path) -> Option<ProcessInfo> {
    tree(root)
        .into_iter()
        .find(|p| p.executable.as_deref() == Some(executable))
}

/// Whether `pid` still exists (a zombie counts as gone: it holds no memory).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| parse_stat(pid, &stat))
        .is_some_and(|(_, state, _, _)| state != 'Z' && state != 'X')
}

/// PSS of one process in KiB, from `smaps_rollup`; `None` if it is gone or unreadable.
pub fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup.lines().find_map(|line| {
        let value = line.strip_prefix("Pss:")?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Memory of a process tree: the total and the share of each executable.
#[derive(Clone, Debug, Default)]
pub struct TreeMemory {
    pub total_kib: u64,
    /// Executable name -> (processes, PSS KiB).
    pub by_name: BTreeMap<String, (usize, u64)>,
}

pub fn tree_memory(root: u32) -> TreeMemory {
    let mut memory = TreeMemory::default();
    for process in tree(root) {
        if let Some(pss) = pss_kib(process.pid) {
            memory.total_kib += pss;
            let entry = memory.by_name.entry(process.name).or_default();
            entry.0 += 1;
            entry.1 += pss;
        }
    }
    memory
}

/// Time since boot in clock ticks, on the clock `/proc/<pid>/stat` start times use.
pub fn uptime_ticks() -> Option<u64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let seconds: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    // Rounded to whole ticks: /proc/uptime prints exactly two decimals.
    Some((seconds * 100.0).round() as u64)
}

/// How long after `earlier` (ticks since boot) a process started; zero if it started before.
pub fn ticks_after(earlier: u64, process: &ProcessInfo) -> Duration {
    let ticks = process.started.saturating_sub(earlier);
    TICK * u32::try_from(ticks).unwrap_or(u32::MAX)
}

fn all_processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_process)
        .collect()
}

fn read_process(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (comm, _state, parent, started) = parse_stat(pid, &stat)?;
    let executable = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let name = executable
        .as_deref()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .map_or(comm, str::to_owned);
    Some(ProcessInfo {
        pid,
        parent,
        name,
        executable,
        started,
    })
}

/// `(comm, state, ppid, starttime)` of a `/proc/<pid>/stat` line. `comm` may hold spaces and
/// parentheses, so the fields after it are found from the last `)`.
fn parse_stat(pid: u32, stat: &str) -> Option<(String, char, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if stat.get(..open)?.trim().parse::<u32>().ok()? != pid {
        return None;
    }
    let comm = stat.get(open + 1..close)?.to_owned();
    // Fields from 3 (state) on; ppid is field 4 and starttime field 22.
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let parent = fields.get(1)?.parse().ok()?;
    let started = fields.get(19)?.parse().ok()?;
    Some((comm, state, parent, started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_parenthesised_name_is_parsed_from_the_last_paren() {
        let stat = "42 (a (b) c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1 1";
        let (comm, state, parent, started) = parse_stat(42, stat).expect("parsed");
        assert_eq!(comm, "a (b) c");
        assert_eq!(state, 'S');
        assert_eq!(parent, 7);
        assert_eq!(started, 123456);
    }

    #[test]
    fn this_process_is_found_in_its_own_tree_with_memory() {
        let me = std::process::id();
        let tree = tree(me);
        assert_eq!(tree.first().map(|p| p.pid), Some(me));
        assert!(pss_kib(me).is_some_and(|pss| pss > 0));
        assert!(is_running(me));
    }
}
