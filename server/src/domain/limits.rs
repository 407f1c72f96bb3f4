//! Rate limits: the key every per-address limit counts under, and failure windows (limits that count
//! only what failed, so a venue behind one NAT is not locked out by its own good logins).

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Store};

use super::records::{self, Transition};
use super::{AuthError, ClientAddr, unix_now};

impl ClientAddr {
    /// What every per-address limit counts under. An IPv6 host usually holds a whole /64 (SLAAC and
    /// privacy addresses rotate inside it), so one client could otherwise draw a fresh budget per
    /// request: IPv6 addresses count by their /64. An IPv4 address written as IPv6 (`::ffff:a.b.c.d`,
    /// how a dual-stack listener sees IPv4 peers) counts as that IPv4 address. Anything that is not an
    /// address (no peer known) shares one budget under its own text.
    pub fn limit_key(&self) -> String {
        match self.0.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.to_string(),
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let network = Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX));
                    format!("{network}/64")
                }
            },
            Err(_) => self.0.clone(),
        }
    }
}

/// Failures counted in a fixed window that starts with the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct FailureWindow {
    failures: u64,
    /// Unix seconds when the count starts again from zero.
    ends_at: u64,
}

/// How long `key` stays refused, or `None` while it has had fewer than `limit` failures in its
/// window. Reads only: looking costs the caller nothing from its budget.
pub(super) async fn refused_for(
    store: &dyn Store,
    key: &str,
    limit: u64,
) -> Result<Option<Duration>, AuthError> {
    let now = unix_now();
    Ok(records::load::<FailureWindow>(store, key)
        .await?
        .filter(|window| window.failures >= limit && window.ends_at > now)
        .map(|window| Duration::from_secs(window.ends_at - now)))
}

/// Counts one failure under `key`, in a window of `window` that the first failure opens. When
/// the count cannot be written the attempt answers the store's error, not its own: a store that
/// fails to write also refuses the session or change a right answer would make, so answering a
/// wrong one `invalid_credentials` would tell a guesser the two apart, uncounted. A store that
/// fails only this key's writes (one Redis Cluster shard out of memory among healthy ones) does
/// tell them apart, uncounted, for as long as that lasts.
pub(super) async fn count_failure(
    store: &dyn Store,
    key: &str,
    window: Duration,
) -> Result<(), AuthError> {
    records::update(store, key, |current: Option<&FailureWindow>| {
        let now = unix_now();
        let next = match current {
            Some(open) if open.ends_at > now => FailureWindow {
                failures: open.failures.saturating_add(1),
                ..*open
            },
            Some(_) | None => FailureWindow {
                failures: 1,
                ends_at: now + window.as_secs().max(1),
            },
        };
        let lifetime = Lifetime::For(Duration::from_secs(next.ends_at - now));
        Ok(Transition::Write(next, lifetime, ()))
    })
    .await
}

/// The longest of the waits, or `None` when nothing is refused.
pub(super) fn longest(waits: impl IntoIterator<Item = Option<Duration>>) -> Option<Duration> {
    waits.into_iter().flatten().max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str) -> String {
        ClientAddr(address.to_owned()).limit_key()
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::1"), "::/64");
    }

    #[test]
    fn ipv4_counts_by_address_also_when_written_as_ipv6() {
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
    }

    #[test]
    fn what_is_not_an_address_keeps_its_text() {
        assert_eq!(key("unknown"), "unknown");
    }
}
