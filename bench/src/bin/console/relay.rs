//! A loopback TCP relay in front of the auth server that notes when each HTTP request passed
//! through it. It tells, without WebDriver, when a launched console asked for its QR image or
//! checked its saved session.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::BenchError;

const METHODS: [&str; 5] = ["GET ", "POST ", "PUT ", "DELETE ", "PATCH "];

/// One request line seen going to the server.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub at: Instant,
    pub method: String,
    pub path: String,
}

pub struct RecordingRelay {
    /// `http://127.0.0.1:PORT`: what the console is told its server is.
    pub url: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    task: JoinHandle<()>,
}

impl RecordingRelay {
    pub async fn start(server: SocketAddr) -> Result<RecordingRelay, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(relay(inbound, server, Arc::clone(&log)));
            }
        });
        Ok(RecordingRelay { url, seen, task })
    }

    /// Waits for the first request at or after `since` that `accept` picks.
    pub async fn wait_for(
        &self,
        since: Instant,
        what: &'static str,
        accept: impl Fn(&SeenRequest) -> bool,
    ) -> Result<SeenRequest, BenchError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(request) = self
                .requests_since(since)
                .into_iter()
                .find(|request| accept(request))
            {
                return Ok(request);
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout(what));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn requests_since(&self, since: Instant) -> Vec<SeenRequest> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|request| request.at >= since)
            .cloned()
            .collect()
    }
}

impl Drop for RecordingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut inbound: TcpStream, server: SocketAddr, log: Arc<Mutex<Vec<SeenRequest>>>) {
    let Ok(outbound) = TcpStream::connect(server).await else {
        return;
    };
    let (mut from_server, mut to_server) = outbound.into_split();
    let (mut from_client, mut to_client) = inbound.split();
    let upstream = async {
        let mut buffer = vec![0_u8; 16 * 1024];
        loop {
            let read = match from_client.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let at = Instant::now();
            let chunk = &buffer[..read];
            {
                let mut seen = log.lock().unwrap_or_else(PoisonError::into_inner);
                seen.extend(request_lines(chunk).map(|(method, path)| SeenRequest {
                    at,
                    method,
                    path,
                }));
            }
            if to_server.write_all(chunk).await.is_err() {
                break;
            }
        }
        // The client is done sending; let the server see it, the answer still flows back.
        let _closed = to_server.shutdown().await;
    };
    let downstream = async {
        // Either side hanging up ends the relay of this connection.
        let _copied = tokio::io::copy(&mut from_server, &mut to_client).await;
    };
    tokio::join!(upstream, downstream);
}

/// `(method, path)` of every HTTP/1.1 request line that starts a line in `chunk`. A client writes
/// a request head in one go, so heads are not split across reads on loopback.
fn request_lines(chunk: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    chunk.split(|&byte| byte == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
        let target = line.strip_suffix(" HTTP/1.1")?;
        let method = METHODS.iter().find(|method| target.starts_with(**method))?;
        let path = target.get(method.len()..)?.split('?').next()?.to_owned();
        Some((method.trim_end().to_owned(), path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_found_and_bodies_ignored() {
        let chunk = b"POST /auth/scenes HTTP/1.1\r\nhost: x\r\n\r\n{\"a\":\"GET / HTTP/1.1\"}\nGET /auth/scenes/ab/qr.png?x=1 HTTP/1.1\r\n\r\n";
        let found: Vec<_> = request_lines(chunk).collect();
        assert_eq!(
            found,
            vec![
                ("POST".to_owned(), "/auth/scenes".to_owned()),
                ("GET".to_owned(), "/auth/scenes/ab/qr.png".to_owned()),
            ]
        );
    }
}
