//! Memory of a launched app once it has settled: PSS summed over the app and every process below
//! it (WebKitWebProcess, WebKitNetworkProcess, and any sandbox helper), read until two consecutive
//! readings agree rather than after a fixed pause.

use std::time::{Duration, Instant};

use crate::procs::{self, TreeMemory};

/// Readings this far apart...
const READING_INTERVAL: Duration = Duration::from_millis(750);
/// ...that differ by less than this count as settled.
const SETTLED_WITHIN_KIB: u64 = 512;
const SETTLE_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct SettledMemory {
    pub memory: TreeMemory,
    /// False if the readings still moved when the deadline came (the last reading is kept).
    pub settled: bool,
}

pub async fn settle(root: u32) -> SettledMemory {
    let start = Instant::now();
    let mut previous = procs::tree_memory(root);
    loop {
        tokio::time::sleep(READING_INTERVAL).await;
        let current = procs::tree_memory(root);
        let settled = current.total_kib.abs_diff(previous.total_kib) < SETTLED_WITHIN_KIB
            && current.total_kib > 0;
        if settled || start.elapsed() > SETTLE_DEADLINE {
            return SettledMemory {
                memory: current,
                settled,
            };
        }
        previous = current;
    }
}
