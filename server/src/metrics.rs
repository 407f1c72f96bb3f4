//! Counters for `/metrics`, in Prometheus' text format: requests by route and status, logins by
//! method, long-polls waiting now, store errors. Small enough that a metrics crate would be weight.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoginMethod {
    Wechat,
    Ticket,
    Scan,
    Password,
}

impl LoginMethod {
    const fn label(self) -> &'static str {
        match self {
            Self::Wechat => "wechat",
            Self::Ticket => "ticket",
            Self::Scan => "scan",
            Self::Password => "password",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    /// Route -> status -> count: a route's key is made once, not on every request.
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    logins: Mutex<BTreeMap<LoginMethod, u64>>,
    islogin_waiters: AtomicI64,
    store_errors: AtomicU64,
    open_connections: AtomicI64,
    refused_server_full: AtomicU64,
    refused_address_full: AtomicU64,
    timed_out_connections: AtomicU64,
}

impl Metrics {
    /// `route` is the matched route template (never the raw path, which holds scene ids).
    pub fn count_request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(statuses) = requests.get_mut(route) {
            *statuses.entry(status).or_default() += 1;
        } else {
            requests.insert(route.to_owned(), BTreeMap::from([(status, 1)]));
        }
    }

    pub fn count_login(&self, method: LoginMethod) {
        let mut logins = self.logins.lock().unwrap_or_else(PoisonError::into_inner);
        *logins.entry(method).or_default() += 1;
    }

    pub fn count_store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> i64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// Counts one open connection for as long as the guard lives: its task's end, a panic's
    /// unwinding included, closes it.
    pub fn connection_opened(&self) -> GaugeGuard<'_> {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.open_connections)
    }

    /// A connection refused because the server held `max_connections`.
    pub fn count_refused_server_full(&self) {
        self.refused_server_full.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection refused because its address held `max_connections_per_address`.
    pub fn count_refused_address_full(&self) {
        self.refused_address_full.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended because a client was too slow (head, body, idle or taking the answer).
    pub fn count_timed_out_connection(&self) {
        self.timed_out_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one waiting long-poll for as long as the guard lives.
    pub fn waiting(&self) -> GaugeGuard<'_> {
        self.islogin_waiters.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.islogin_waiters)
    }

    pub fn render(&self) -> String {
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let logins = self.logins.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lines = vec![
            "# HELP meeteasy_http_requests_total HTTP requests by route and status.".to_owned(),
            "# TYPE meeteasy_http_requests_total counter".to_owned(),
        ];
        let counted = requests.iter().flat_map(|(route, statuses)| {
            statuses
                .iter()
                .map(move |(status, count)| (route, status, count))
        });
        lines.extend(counted.map(|(route, status, count)| {
            format!("meeteasy_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}")
        }));
        lines.push("# HELP meeteasy_logins_total Successful logins by method.".to_owned());
        lines.push("# TYPE meeteasy_logins_total counter".to_owned());
        lines.extend(logins.iter().map(|(method, count)| {
            format!(
                "meeteasy_logins_total{{method=\"{}\"}} {count}",
                method.label()
            )
        }));
        lines.push("# HELP meeteasy_islogin_waiters Long-polls waiting now.".to_owned());
        lines.push("# TYPE meeteasy_islogin_waiters gauge".to_owned());
        lines.push(format!(
            "meeteasy_islogin_waiters {}",
            self.islogin_waiters.load(Ordering::Relaxed)
        ));
        lines.push(
            "# HELP meeteasy_store_errors_total Requests a store failure spoiled.".to_owned(),
        );
        lines.push("# TYPE meeteasy_store_errors_total counter".to_owned());
        lines.push(format!(
            "meeteasy_store_errors_total {}",
            self.store_errors.load(Ordering::Relaxed)
        ));
        lines.push("# HELP meeteasy_connections_open Connections being served now.".to_owned());
        lines.push("# TYPE meeteasy_connections_open gauge".to_owned());
        lines.push(format!(
            "meeteasy_connections_open {}",
            self.open_connections.load(Ordering::Relaxed)
        ));
        lines.push(
            "# HELP meeteasy_connections_refused_total Connections refused by the connection caps."
                .to_owned(),
        );
        lines.push("# TYPE meeteasy_connections_refused_total counter".to_owned());
        for (reason, counter) in [
            ("server_full", &self.refused_server_full),
            ("address_full", &self.refused_address_full),
        ] {
            lines.push(format!(
                "meeteasy_connections_refused_total{{reason=\"{reason}\"}} {}",
                counter.load(Ordering::Relaxed)
            ));
        }
        lines.push(
            "# HELP meeteasy_connections_timed_out_total Connections ended because the client was too slow."
                .to_owned(),
        );
        lines.push("# TYPE meeteasy_connections_timed_out_total counter".to_owned());
        lines.push(format!(
            "meeteasy_connections_timed_out_total {}",
            self.timed_out_connections.load(Ordering::Relaxed)
        ));
        lines.push(String::new());
        lines.join("\n")
    }
}

/// One counted in a gauge (open connections, waiting long-polls) until dropped.
pub struct GaugeGuard<'a>(&'a AtomicI64);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose task unwinds (a handler's panic) is no longer counted open.
    #[test]
    fn a_connection_counted_open_is_closed_by_a_panic_too() {
        let metrics = Metrics::default();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _open = metrics.connection_opened();
            assert_eq!(metrics.open_connections(), 1);
            panic!("a fault of a handler");
        }));
        assert!(unwound.is_err());
        assert_eq!(metrics.open_connections(), 0);
    }
}
