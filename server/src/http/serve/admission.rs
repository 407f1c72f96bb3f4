//! Which connections the server takes: at most `max` open at once, and at most `per_address` from
//! one address, so that one client (or one IPv6 /64, which a single host can hold whole) cannot take
//! every connection. Loopback and trusted proxies are exempt from the per-address cap: each carries
//! many clients (a reverse proxy on this host, a load balancer).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `max_connections` already.
    ServerFull,
    /// This address holds `max_connections_per_address` already.
    AddressFull,
}

pub struct Admission {
    max: usize,
    per_address: usize,
    /// Canonical addresses (IPv4-mapped IPv6 as IPv4) the per-address cap does not apply to.
    exempt: Vec<IpAddr>,
    open: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// An open connection's place, given back when it is dropped.
pub struct Slot {
    admission: Arc<Admission>,
    /// The address group counted against the per-address cap, if any.
    group: Option<IpAddr>,
}

impl Admission {
    pub fn new(max: usize, per_address: usize, trusted_proxies: &[IpAddr]) -> Arc<Admission> {
        Arc::new(Admission {
            max,
            per_address,
            exempt: trusted_proxies.iter().map(IpAddr::to_canonical).collect(),
            open: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
        })
    }

    /// Open connections now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        // Reserve first and give back on refusal: two accepts racing for the last place cannot both
        // get it.
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::ServerFull);
        }
        let peer = peer.to_canonical();
        if peer.is_loopback() || self.exempt.contains(&peer) {
            return Ok(Slot {
                admission: Arc::clone(self),
                group: None,
            });
        }
        let group = address_group(peer);
        let mut by_address = self.lock();
        let held = by_address.entry(group).or_insert(0);
        if *held >= self.per_address {
            drop(by_address);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::AddressFull);
        }
        *held += 1;
        Ok(Slot {
            admission: Arc::clone(self),
            group: Some(group),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // The map holds plain counts, consistent after any panic elsewhere.
        self.by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            let mut by_address = self.admission.lock();
            if let Entry::Occupied(mut held) = by_address.entry(group) {
                *held.get_mut() -= 1;
                if *held.get() == 0 {
                    held.remove();
                }
            }
        }
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The unit one client controls: an IPv4 address, or an IPv6 /64 (the smallest prefix a network
/// hands a site, so one host can pick any address in it).
fn address_group(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = v6.to_bits() & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from_bits(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    #[test]
    fn one_address_is_held_to_its_cap_and_others_still_get_in() {
        let admission = Admission::new(10, 2, &[]);
        let first = admission.admit(ip("192.0.2.1")).expect("first");
        let _second = admission.admit(ip("192.0.2.1")).expect("second");
        assert_eq!(
            admission.admit(ip("192.0.2.1")).err(),
            Some(Refusal::AddressFull)
        );
        // The IPv4-mapped form is the same client.
        assert_eq!(
            admission.admit(ip("::ffff:192.0.2.1")).err(),
            Some(Refusal::AddressFull)
        );
        let _other = admission.admit(ip("192.0.2.2")).expect("another address");
        assert_eq!(admission.open(), 3);
        drop(first);
        let _again = admission
            .admit(ip("192.0.2.1"))
            .expect("a place was given back");
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let admission = Admission::new(10, 1, &[]);
        let _held = admission.admit(ip("2001:db8:1:2::1")).expect("first");
        assert_eq!(
            admission.admit(ip("2001:db8:1:2:ffff::9")).err(),
            Some(Refusal::AddressFull)
        );
        let _next = admission
            .admit(ip("2001:db8:1:3::1"))
            .expect("the next /64 is another client");
    }

    #[test]
    fn loopback_and_trusted_proxies_only_meet_the_server_cap() {
        let admission = Admission::new(3, 1, &[ip("::ffff:10.0.0.2")]);
        let _a = admission.admit(ip("10.0.0.2")).expect("a proxy");
        let _b = admission.admit(ip("10.0.0.2")).expect("a proxy, again");
        let _c = admission.admit(ip("127.0.0.1")).expect("loopback");
        assert_eq!(
            admission.admit(ip("127.0.0.1")).err(),
            Some(Refusal::ServerFull)
        );
        assert_eq!(admission.open(), 3);
    }

    #[test]
    fn refusals_hold_no_place() {
        let admission = Admission::new(1, 1, &[]);
        let held = admission.admit(ip("192.0.2.1")).expect("first");
        for _ in 0..5 {
            assert!(admission.admit(ip("192.0.2.1")).is_err());
            assert!(admission.admit(ip("192.0.2.7")).is_err());
        }
        drop(held);
        assert_eq!(admission.open(), 0);
        assert!(admission.lock().is_empty());
    }
}
