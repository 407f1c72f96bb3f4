//! A loopback TCP relay in front of a server. It can play "unreachable" (while down it accepts and
//! drops every connection at once, so clients see the server as gone), and it notes each HTTP
//! request line passing through (`GET /auth/scenes/…/qr.png`, without the query) and when, so a
//! benchmark can tell, without WebDriver, when a launched console asked for its QR.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::io::InspectReader;

type Seen = Arc<Mutex<Vec<(Instant, String)>>>;

pub struct Relay {
    /// `http://127.0.0.1:PORT`: what clients are told their server is.
    pub url: String,
    up: Arc<AtomicBool>,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Relays to `target`, or plays "unreachable" until [`Relay::set_up`] when `up` is false.
    pub async fn start(target: SocketAddr, up: bool) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let url = format!("http://{}", listener.local_addr().expect("relay address"));
        let (up, seen) = (Arc::new(AtomicBool::new(up)), Seen::default());
        let (flag, log) = (Arc::clone(&up), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    tokio::spawn(relay(inbound, target, Arc::clone(&log)));
                }
            }
        });
        Relay {
            url,
            up,
            seen,
            task,
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// How many ms after `since` the first request at or after it that `picks` passed.
    pub fn find(&self, since: Instant, picks: fn(&str) -> bool) -> Option<f64> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, _) = seen.iter().find(|(at, line)| *at >= since && picks(line))?;
        Some((*at - since).as_secs_f64() * 1e3)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one connection to `target`, noting each request line the client sends.
async fn relay(inbound: TcpStream, target: SocketAddr, seen: Seen) {
    // A client writes a request head in one go: on loopback it is not split across reads.
    let note = move |chunk: &[u8]| {
        let chunk = String::from_utf8_lossy(chunk);
        let lines = chunk.lines().filter_map(request_line);
        let lines = lines.map(|line| (Instant::now(), line));
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.extend(lines);
    };
    if let Ok(mut outbound) = TcpStream::connect(target).await {
        // Either side hanging up ends the relay of this connection; one side done sending is
        // passed on as such, and the answer still flows back.
        let mut inbound = InspectReader::new(inbound, note);
        let _closed = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }
}

/// `GET /path` of an HTTP/1.1 request line, without the query; `None` for any other line.
fn request_line(line: &str) -> Option<String> {
    let (method, target) = line.strip_suffix(" HTTP/1.1")?.split_once(' ')?;
    let path = target.split('?').next()?;
    let is_method = method.bytes().all(|byte| byte.is_ascii_uppercase());
    (is_method && path.starts_with('/')).then(|| format!("{method} {path}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_lines_are_found_and_bodies_ignored() {
        let chunk = "POST /auth/scenes HTTP/1.1\r\nhost: x\r\n\r\n{\"a\":\"GET / HTTP/1.1\"}\n\
                     GET /auth/scenes/ab/qr.png?x=1 HTTP/1.1\r\n\r\n";
        let found: Vec<_> = chunk.lines().filter_map(super::request_line).collect();
        assert_eq!(found, ["POST /auth/scenes", "GET /auth/scenes/ab/qr.png"]);
    }
}
