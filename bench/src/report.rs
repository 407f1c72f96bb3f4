//! The Markdown the run prints: one table, embedded next to Redis, with the ratios and the targets,
//! and above it how the figures were made (to paste into README.md as it is).

use std::fmt::Write as _;
use std::time::Duration;

use crate::redis::RedisRates;
use crate::stats::Latencies;
use crate::throughput::{ROUNDS, Rate};
use crate::waiters::{BATCH, Waiting};

const P50_TARGET_MS: f64 = 5.0;
const P99_TARGET_MS: f64 = 25.0;

/// The seed's 5-second polling and the OAuth device flow: about 2.5 s from confirm to console.
const POLLING_AVERAGE_MS: f64 = 2_500.0;

const CPU_LABEL: &str = "… CPU the server side used meanwhile (`meeteasy-auth`, and `redis-server` for Redis), and how busy the server CPU was (all processes)";

/// Everything one store gave.
pub struct StoreResults {
    pub latency: Latencies,
    pub islogin: Rate,
    pub exchange: Rate,
    pub waiting: Waiting,
}

pub struct Results {
    pub command: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub load_before: f64,
    pub load_after: f64,
    pub server_cpu: usize,
    pub client_cpus: String,
    pub connections: usize,
    pub waiters: usize,
    pub embedded: StoreResults,
    pub redis: StoreResults,
    pub cross_instance: Latencies,
    pub redis_rates: RedisRates,
    pub redis_requests: u64,
    pub took: Duration,
}

pub fn render(results: &Results) -> String {
    let (e, r) = (&results.embedded, &results.redis);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Command: `scripts/bench.sh` (runs `{}`); every figure below is from one run of {:.0} s.",
        results.command,
        results.took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "Machine: {}, {} CPUs, shared with other work (1-minute load average {:.2} before, {:.2} after). \
         Server side (`meeteasy-auth` release binary in `--dev` mode, and `redis-server` for Redis) pinned to CPU {}; \
         load generator (`meeteasy-bench`, `redis-benchmark`) on CPU {}; loopback, HTTP/1.1.",
        results.cpu_model,
        results.cpus,
        results.load_before,
        results.load_after,
        results.server_cpu,
        results.client_cpus,
    );
    out.push('\n');
    out.push_str("| Measurement | Embedded (redb) | Redis | Redis / embedded | Target |\n");
    out.push_str("|---|---:|---:|---:|---|\n");
    let latency = format!(
        "Confirm → console `confirmed` through the long-poll ({} logins)",
        e.latency.count()
    );
    row(
        &mut out,
        &format!("{latency}, p50"),
        ms(e.latency.p50_ms()),
        ms(r.latency.p50_ms()),
        ratio(r.latency.p50_ms(), e.latency.p50_ms()),
        "< 5 ms",
    );
    row(
        &mut out,
        &format!("{latency}, p99"),
        ms(e.latency.p99_ms()),
        ms(r.latency.p99_ms()),
        ratio(r.latency.p99_ms(), e.latency.p99_ms()),
        "< 25 ms",
    );
    let cross = &results.cross_instance;
    row(
        &mut out,
        &format!(
            "Same, confirm on instance A, console waiting on instance B, one Redis ({} logins), p50 / p99",
            cross.count()
        ),
        "—".to_owned(),
        format!("{} / {}", ms(cross.p50_ms()), ms(cross.p99_ms())),
        "—".to_owned(),
        "< 5 ms / < 25 ms",
    );
    let rate_label = |what: &str| {
        format!(
            "{what}, requests/s, {} connections, median of {ROUNDS} rounds (min–max)",
            results.connections
        )
    };
    row(
        &mut out,
        &rate_label("`islogin`: first `wait=0` poll of a fresh pending scene"),
        per_second(&e.islogin),
        per_second(&r.islogin),
        ratio(r.islogin.per_second.median, e.islogin.per_second.median),
        "",
    );
    row(
        &mut out,
        CPU_LABEL,
        cores(&e.islogin),
        cores(&r.islogin),
        "—".to_owned(),
        "",
    );
    row(
        &mut out,
        &rate_label("Ticket exchange (fresh ticket each)"),
        per_second(&e.exchange),
        per_second(&r.exchange),
        ratio(r.exchange.per_second.median, e.exchange.per_second.median),
        "",
    );
    row(
        &mut out,
        CPU_LABEL,
        cores(&e.exchange),
        cores(&r.exchange),
        "—".to_owned(),
        "",
    );
    row(
        &mut out,
        &format!(
            "`redis-benchmark -q -t set,get -n {}` (50 connections), SET / GET requests/s",
            results.redis_requests
        ),
        "—".to_owned(),
        format!(
            "{} / {}",
            thousands(results.redis_rates.set),
            thousands(results.redis_rates.get)
        ),
        "—".to_owned(),
        "",
    );
    row(
        &mut out,
        "`islogin` / ticket exchange rate as a share of Redis's own SET rate",
        "—".to_owned(),
        format!(
            "{:.2} / {:.2}",
            r.islogin.per_second.median / results.redis_rates.set,
            r.exchange.per_second.median / results.redis_rates.set
        ),
        "—".to_owned(),
        "",
    );
    let (ew, rw) = (&e.waiting, &r.waiting);
    let n = thousands(results.waiters as f64);
    row(
        &mut out,
        "Server RSS, fresh server",
        mib(ew.rss_idle_kib),
        mib(rw.rss_idle_kib),
        ratio(rw.rss_idle_kib as f64, ew.rss_idle_kib as f64),
        "",
    );
    row(
        &mut out,
        &format!("Server RSS with {n} scenes created"),
        mib(ew.rss_scenes_kib),
        mib(rw.rss_scenes_kib),
        ratio(rw.rss_scenes_kib as f64, ew.rss_scenes_kib as f64),
        "",
    );
    row(
        &mut out,
        &format!(
            "Server RSS with {n} consoles waiting in `islogin?wait=30` (waiter gauge {} / {})",
            thousands(ew.waiters as f64),
            thousands(rw.waiters as f64)
        ),
        mib(ew.rss_waiting_kib),
        mib(rw.rss_waiting_kib),
        ratio(rw.rss_waiting_kib as f64, ew.rss_waiting_kib as f64),
        "",
    );
    let per_waiter = |w: &Waiting| {
        (w.rss_waiting_kib.saturating_sub(w.rss_scenes_kib)) as f64 / results.waiters as f64
    };
    row(
        &mut out,
        "… memory per waiting console (connection + long-poll)",
        kib(per_waiter(ew)),
        kib(per_waiter(rw)),
        ratio(per_waiter(rw), per_waiter(ew)),
        "",
    );
    row(
        &mut out,
        &format!("{n} long-polls opened ({BATCH} at a time) in"),
        seconds(ew.ramp_up.as_secs_f64()),
        seconds(rw.ramp_up.as_secs_f64()),
        "—".to_owned(),
        "",
    );
    let (ewake, rwake) = (&ew.wake_ups, &rw.wake_ups);
    row(
        &mut out,
        &format!(
            "Confirm → `confirmed` while {n} wait ({} confirms), p50 / max",
            ewake.count()
        ),
        format!("{} / {}", ms(ewake.p50_ms()), ms(ewake.max_ms())),
        format!("{} / {}", ms(rwake.p50_ms()), ms(rwake.max_ms())),
        ratio(rwake.p50_ms(), ewake.p50_ms()),
        "< 5 ms / < 25 ms",
    );
    out.push('\n');
    let missed = missed_targets(results);
    if missed.is_empty() {
        out.push_str(
            "Every confirm → console latency above met its targets (p50 < 5 ms, p99 < 25 ms).\n",
        );
    } else {
        let _ = writeln!(out, "Targets MISSED: {}.", missed.join("; "));
    }
    let _ = writeln!(
        out,
        "Against the seed's 5-second polling (about {:.1} s on average from confirm to console), the long-poll's p50 is {} times faster on the embedded store and {} times on Redis.",
        POLLING_AVERAGE_MS / 1000.0,
        thousands(POLLING_AVERAGE_MS / e.latency.p50_ms().max(f64::EPSILON)),
        thousands(POLLING_AVERAGE_MS / r.latency.p50_ms().max(f64::EPSILON)),
    );
    out
}

/// The latency targets (p50 < 5 ms, p99 < 25 ms) that a measured latency missed, in words.
pub fn missed_targets(results: &Results) -> Vec<String> {
    let (e, r) = (&results.embedded, &results.redis);
    let measured = [
        ("embedded", &e.latency),
        ("Redis", &r.latency),
        ("two instances on Redis", &results.cross_instance),
        ("embedded, many waiting", &e.waiting.wake_ups),
        ("Redis, many waiting", &r.waiting.wake_ups),
    ];
    let mut missed = Vec::new();
    for (setup, latency) in measured {
        if latency.p50_ms() >= P50_TARGET_MS {
            missed.push(format!(
                "{setup}: p50 {} (target < {P50_TARGET_MS} ms)",
                ms(latency.p50_ms())
            ));
        }
        if latency.p99_ms() >= P99_TARGET_MS {
            missed.push(format!(
                "{setup}: p99 {} (target < {P99_TARGET_MS} ms)",
                ms(latency.p99_ms())
            ));
        }
    }
    missed
}

fn row(
    out: &mut String,
    label: &str,
    embedded: String,
    redis: String,
    ratio: String,
    target: &str,
) {
    let _ = writeln!(
        out,
        "| {label} | {embedded} | {redis} | {ratio} | {target} |"
    );
}

fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}

fn seconds(value: f64) -> String {
    format!("{value:.1} s")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn kib(value: f64) -> String {
    format!("{value:.1} KiB")
}

fn cores(rate: &Rate) -> String {
    format!(
        "{:.2} cores (CPU {:.0} % busy)",
        rate.server_cores,
        rate.server_cpu_busy * 100.0
    )
}

fn per_second(rate: &Rate) -> String {
    let spread = rate.per_second;
    format!(
        "{} ({}–{})",
        thousands(spread.median),
        thousands(spread.min),
        thousands(spread.max)
    )
}

fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 {
        format!("{:.2}", value / base)
    } else {
        "—".to_owned()
    }
}

/// A whole number with thousands separators: 12345.6 -> "12,346".
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.6), "12,346");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
