//! Slow and greedy clients cannot hold the server: a request head, a body, an idle kept-alive
//! connection and an answer nobody takes each have a clock, past the connection cap new
//! connections are answered `429 too_many_requests`, and a client still sending a body too large
//! reads its answer instead of a reset. All of it while everyone else is answered promptly. And a
//! request that hangs does not hold a shutdown past its timeout.

use std::time::Duration;

use meeteasy_devtools::fake_wechat::{FakeEndpoint, FakeFault};
use meeteasy_tests::server::TestServer;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Slow connections held at once, when the open files limit allows (each costs two descriptors in
/// this process: the client's and the server's).
const SLOW_CONNECTIONS: u64 = 2_000;

/// The header clock of the slow-client test: long enough to open every slow connection first on a
/// busy machine, short enough for a quick test.
const HEADER_CLOCK: Duration = Duration::from_secs(3);

/// Beyond a clock, how late the cut may come on a busy machine and still pass.
const SLACK: Duration = Duration::from_secs(10);

/// How long an ordinary request may take while the slow ones are held.
const PROMPT: Duration = Duration::from_secs(2);

/// Raises this process's open files limit toward `wanted` (up to the hard limit) and says how
/// many it may use.
fn open_files(wanted: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return soft;
    }
    let raised = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
    limit.current = Some(raised);
    match setrlimit(Resource::Nofile, limit) {
        Ok(()) => raised,
        Err(_) => soft,
    }
}

/// Polls `condition` every 10 ms until it holds or `within` has passed; says whether it held.
async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn open_connections(server: &TestServer) -> i64 {
    server.service().metrics().open_connections()
}

/// Reads until the server ends the connection (end of stream or reset), at most until `deadline`;
/// says when it ended, or `None` if it is still open then.
async fn ended_by(mut stream: TcpStream, deadline: Instant) -> Option<Instant> {
    let mut sink = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn thousands_of_slow_clients_are_cut_while_others_are_answered_promptly() {
    // Spare descriptors for the rest of the suite, which runs alongside.
    let usable = open_files(2 * SLOW_CONNECTIONS + 1_000).saturating_sub(1_000) / 2;
    let count = SLOW_CONNECTIONS.min(usable);
    if count < SLOW_CONNECTIONS {
        eprintln!("open files limit: holding {count} slow connections, not {SLOW_CONNECTIONS}");
    }
    let server = TestServer::start_with(|s| s.connections.header_timeout = HEADER_CLOCK).await;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(server.addr).await.expect("connected");
        // Half a request line, and then nothing.
        stream.write_all(b"GET /healthz HT").await.expect("sent");
        slow.push(stream);
    }
    let held = i64::try_from(count).unwrap_or(i64::MAX);
    assert!(
        eventually(HEADER_CLOCK, || open_connections(&server) >= held).await,
        "the server holds every slow connection ({} of {held})",
        open_connections(&server)
    );

    for round in 0..20 {
        let asked = Instant::now();
        let reply = server.get("/healthz", None).await;
        assert_eq!(reply.status, 200, "round {round}: {reply:?}");
        let keys = server.get("/.well-known/jwks.json", None).await;
        assert_eq!(keys.status, 200, "round {round}: {keys:?}");
        assert!(
            asked.elapsed() < PROMPT,
            "round {round} took {:?} beside {count} slow connections",
            asked.elapsed()
        );
    }

    let deadline = opened + HEADER_CLOCK + SLACK;
    let mut cut = JoinSet::new();
    for stream in slow {
        cut.spawn(ended_by(stream, deadline));
    }
    let mut still_open = 0;
    while let Some(ended) = cut.join_next().await {
        if ended.expect("a reader ends").is_none() {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open,
        0,
        "slow connections still open {:?} after they were opened",
        opened.elapsed()
    );
}

#[tokio::test]
async fn a_kept_alive_connection_waits_its_idle_clock_not_the_header_clock() {
    let header = Duration::from_millis(500);
    let idle = Duration::from_secs(2);
    let server = TestServer::start_with(|s| {
        s.connections.header_timeout = header;
        s.connections.idle_timeout = idle;
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connected");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = [0u8; 1024];
    let read = tokio::time::timeout(idle, stream.read(&mut answer))
        .await
        .expect("answered within the idle timeout")
        .expect("answered");
    assert!(
        String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );
    let answered = Instant::now();
    let ended = ended_by(stream, answered + idle + SLACK)
        .await
        .expect("an idle connection is closed after its idle clock");
    let waited = ended - answered;
    // Half the idle clock: clear of the header clock, and of this test being scheduled late.
    assert!(
        waited >= idle / 2,
        "closed after {waited:?}: the idle clock ({idle:?}), not the header clock ({header:?}), applies between requests"
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused() {
    let clock = Duration::from_secs(1);
    let server = TestServer::start_with(|s| s.connections.body_timeout = clock).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connected");
    let started = Instant::now();
    stream
        .write_all(
            b"POST /auth/wechat/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"code\":",
        )
        .await
        .expect("sent");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(clock + SLACK, stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "a body that stalls is cut within the body clock"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("invalid_request"),
        "{answer}"
    );
    assert!(
        started.elapsed() >= clock,
        "cut after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_answer_the_client_does_not_take_is_given_up_after_the_body_clock() {
    let clock = Duration::from_secs(1);
    let server = TestServer::start_with(|s| s.connections.body_timeout = clock).await;
    // Pipelined requests for a 12 KB script, never read: the answers fill the socket buffers.
    let requests = b"GET /h5/login-ticket.js HTTP/1.1\r\nHost: test\r\n\r\n".repeat(2_000);
    let stream = TcpStream::connect(server.addr).await.expect("connected");
    let (not_reading, mut writer) = stream.into_split();
    // The writes stall too once the server stops reading; they end when it lets go.
    let writing = tokio::spawn(async move { writer.write_all(&requests).await });
    assert!(
        eventually(SLACK, || open_connections(&server) == 1).await,
        "the server takes the connection"
    );
    assert!(
        eventually(clock + SLACK, || open_connections(&server) == 0).await,
        "a connection whose answers are not taken is let go ({} open)",
        open_connections(&server)
    );
    writing.abort();
    drop(not_reading);
}

/// A client that takes its answers a trickle at a time (a small receive window, read a little now
/// and then) is let go as one that takes nothing is: once an answer waits on it, it must take
/// 16 KiB of it, or all of it, each `body_timeout`.
#[tokio::test]
async fn an_answer_taken_a_trickle_at_a_time_is_given_up_after_the_body_clock() {
    let clock = Duration::from_secs(1);
    let server = TestServer::start_with(|s| s.connections.body_timeout = clock).await;
    let requests = b"GET /h5/login-ticket.js HTTP/1.1\r\nHost: test\r\n\r\n".repeat(2_000);
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let stream = socket.connect(server.addr).await.expect("connected");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move { writer.write_all(&requests).await });
    // 2 KiB every quarter second: 8 KiB/s, half of what the clock asks for, often enough that
    // the server's writes move on every quarter second.
    let trickling = tokio::spawn(async move {
        let mut sip = [0u8; 2048];
        while let Ok(1..) = reader.read_exact(&mut sip).await {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    assert!(
        eventually(SLACK, || open_connections(&server) == 1).await,
        "the server takes the connection"
    );
    assert!(
        eventually(clock * 3 + SLACK, || open_connections(&server) == 0).await,
        "a connection whose answers are taken a trickle at a time is let go ({} open)",
        open_connections(&server)
    );
    writing.abort();
    trickling.abort();
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_are_told_to_retry() {
    let cap = 20;
    let page = "https://conf.example.com";
    let server = TestServer::start_with(|s| {
        s.connections.max = cap;
        s.h5_origins = vec![page.to_owned()];
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..cap {
        held.push(TcpStream::connect(server.addr).await.expect("connected"));
    }
    let cap_gauge = i64::try_from(cap).unwrap_or(i64::MAX);
    assert!(
        eventually(SLACK, || open_connections(&server) >= cap_gauge).await,
        "the server holds {cap} connections"
    );
    let refused = server.get("/healthz", None).await;
    refused.assert_error(429, "too_many_requests");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // A page on an H5 origin reads the refusal and its wait too, not a network error.
    let from_page = server
        .http()
        .get(server.url("/auth/me"))
        .header("origin", page)
        .send()
        .await
        .expect("answered");
    assert_eq!(from_page.status(), 429);
    let header = |name: &str| {
        let value = from_page.headers().get(name);
        value
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("access-control-allow-origin").as_deref(), Some(page));
    assert_eq!(
        header("access-control-expose-headers").as_deref(),
        Some("retry-after")
    );

    drop(held);
    assert!(
        eventually(SLACK, || open_connections(&server) == 0).await,
        "closed connections give their places back"
    );
    assert_eq!(server.get("/healthz", None).await.status, 200);
}

#[tokio::test]
async fn a_client_still_sending_a_body_too_large_reads_the_answer() {
    let server = TestServer::start_dev().await;
    // 8 MiB: more than the socket buffers between the two ends hold, so a server that stops
    // reading stops this client's writes; it writes all, then reads (as a naive client does).
    let body_len = 8 * 1024 * 1024;
    let mut stream = TcpStream::connect(server.addr).await.expect("connected");
    let head = format!(
        "POST /auth/wechat/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {body_len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head sent");
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let writing = tokio::time::timeout(SLACK, stream.write_all(&chunk)).await;
        match writing {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(error)) => panic!("the server cut the upload after {sent} bytes: {error}"),
            Err(_) => panic!("the server stopped reading after {sent} bytes"),
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(SLACK, stream.read_to_end(&mut answer)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "the answer is readable: {read:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    // The contract's answer to an oversized body.
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("16 KiB"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_request_in_flight_holds_shutdown_no_longer_than_its_timeout() {
    let grace = Duration::from_secs(1);
    let server = TestServer::start_with(|s| {
        s.wechat.timeout = Duration::from_secs(60);
        s.connections.shutdown_timeout = grace;
    })
    .await;
    let appid = &server.settings().apps[0].appid;
    let code = server.wechat().mint_code(appid, "openid-uma", None);
    server
        .wechat()
        .inject(FakeEndpoint::Code2Session, FakeFault::Hang, 1);
    let (http, url) = (server.http().clone(), server.url("/auth/wechat/login"));
    let login = http.post(url).json(&json!({ "code": code })).send();
    let in_flight = tokio::spawn(login);
    let wechat = server.wechat().clone();
    let reached = eventually(SLACK, || wechat.calls(FakeEndpoint::Code2Session) == 1).await;
    assert!(reached, "the login reaches WeChat, which never answers");

    let stopping = Instant::now();
    server.stop().await;
    let took = stopping.elapsed();
    assert!(
        took >= grace - Duration::from_millis(100) && took < grace + SLACK,
        "stopped after {took:?}; the login in flight had {grace:?}"
    );
    in_flight.abort();
}
