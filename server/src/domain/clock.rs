//! Wall-clock time as the contract counts it: Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_now() -> u64 {
    // A clock before 1970 is a broken machine; counting from 0 keeps its own expiry checks
    // conservative (what it dates, though, looks long past to the others: its login claims, say).
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
