//! The benchmark's HTTP/1.1 client: kept-alive TCP connections, one request in flight on each, its
//! bytes written at once and its answer read by `Content-Length` (or to its head, for a 204). Why
//! not reqwest: on one core it could not keep one core of bare axum busy (the load generator's CPU
//! at 100 % while the ceiling's server CPU stayed at 45–90 %), so the ceiling measured the client,
//! not the stack.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::future::try_join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

use crate::{Result, because, fail};

/// Longer than any answer is awaited (a long-poll's 30 s); only a stuck server takes it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(45);
/// Far longer than a loopback connection takes, even with a full accept queue.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One kept-alive connection to a server.
pub struct Connection {
    stream: TcpStream,
    /// `Host:` header line of every request.
    host: String,
    /// What was read of the answer so far.
    read: Vec<u8>,
}

impl Connection {
    /// Connects to `url`, `http://HOST:PORT` (no path), from `local` (any loopback address works
    /// on Linux) or the default address.
    pub async fn open(url: &str, local: Option<IpAddr>) -> Result<Self> {
        let Some(authority) = url.strip_prefix("http://") else {
            fail!("{url}: not an http:// base URL");
        };
        let not_ip_port = because(format!("{url}: not IP:PORT"));
        let server: SocketAddr = authority.parse().map_err(not_ip_port)?;
        let connecting = format!("connecting to {authority}");
        let socket = match server {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        };
        let socket = socket.map_err(because(connecting.clone()))?;
        if let Some(local) = local {
            let bound = socket.bind(SocketAddr::new(local, 0));
            bound.map_err(because(format!("binding to {local}")))?;
        }
        let connected = timeout(CONNECT_TIMEOUT, socket.connect(server)).await;
        let connected = connected.map_err(because(format!("{connecting}: no answer")))?;
        let stream = connected.map_err(because(connecting))?;
        let nodelay = stream.set_nodelay(true);
        nodelay.map_err(because("setting TCP_NODELAY"))?;
        let (host, read) = (format!("Host: {authority}\r\n"), Vec::with_capacity(4096));
        Ok(Self { stream, host, read })
    }

    /// `GET path`, with `bearer` if any; any status but `status` fails, with the body. Returns
    /// the body.
    pub async fn get(&mut self, path: &str, bearer: Option<&str>, status: u16) -> Result<&[u8]> {
        self.send("GET", path, bearer, None, status).await
    }

    /// `POST path` with a JSON `body`; otherwise as [`get`](Self::get).
    pub async fn post_json(
        &mut self,
        path: &str,
        bearer: Option<&str>,
        body: &str,
        status: u16,
    ) -> Result<&[u8]> {
        self.send("POST", path, bearer, Some(body), status).await
    }

    /// Writes the request and reads its answer, within [`ANSWER_TIMEOUT`].
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
        status: u16,
    ) -> Result<&[u8]> {
        let authorization = bearer.map(|bearer| format!("Authorization: Bearer {bearer}\r\n"));
        let content = body.map(|body| {
            let length = body.len();
            format!("Content-Type: application/json\r\nContent-Length: {length}\r\n")
        });
        let request = format!(
            "{method} {path} HTTP/1.1\r\n{}{}{}\r\n{}",
            self.host,
            authorization.unwrap_or_default(),
            content.unwrap_or_default(),
            body.unwrap_or_default()
        );
        let answered = timeout(ANSWER_TIMEOUT, self.answer(request.as_bytes())).await;
        let (got, body) = answered.map_err(because(format!("{path}: no answer")))??;
        if got != status {
            let body = String::from_utf8_lossy(body);
            fail!("{path}: HTTP {got}, not {status}: {body}");
        }
        Ok(body)
    }

    /// Writes `request` and reads its answer: the status and the body.
    async fn answer(&mut self, request: &[u8]) -> Result<(u16, &[u8])> {
        let sent = self.stream.write_all(request).await;
        sent.map_err(because("sending a request"))?;
        self.read.clear();
        let (head_end, length) = loop {
            self.fill().await?;
            if let Some(end) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break (end + 4, body_length(&self.read[..end])?);
            }
        };
        while self.read.len() < head_end + length {
            self.fill().await?;
        }
        if self.read.len() > head_end + length {
            fail!("the server answered more than one request's worth");
        }
        Ok((status(&self.read)?, &self.read[head_end..]))
    }

    async fn fill(&mut self) -> Result<()> {
        let read = self.stream.read_buf(&mut self.read).await;
        if read.map_err(because("reading an answer"))? == 0 {
            fail!("the server closed the connection before answering");
        }
        Ok(())
    }
}

/// The status code of the answer's first line, `HTTP/1.1 200 OK`.
fn status(answer: &[u8]) -> Result<u16> {
    let code = std::str::from_utf8(answer.get(9..12).unwrap_or_default());
    match code.ok().and_then(|code| code.parse().ok()) {
        Some(code) if answer.starts_with(b"HTTP/1.1 ") => Ok(code),
        _ => fail!(
            "not an HTTP/1.1 answer: {}",
            String::from_utf8_lossy(answer)
        ),
    }
}

/// The length of the body after an answer's `head`: none for a 204, else its `Content-Length`
/// (every other answer of the benchmark's requests has one).
fn body_length(head: &[u8]) -> Result<usize> {
    if status(head)? == 204 {
        return Ok(0);
    }
    let head = String::from_utf8_lossy(head);
    let value = head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let length = name.eq_ignore_ascii_case("content-length");
        length.then(|| value.trim().parse().ok())?
    });
    match value {
        Some(length) => Ok(length),
        None => fail!("an answer without a Content-Length: {head}"),
    }
}

/// Sends `request(connection, input)` for every input over `connections` fresh connections to
/// `url`, each sending its next request as soon as one is answered (a closed loop); returns the
/// answers and how long they took, not counting the connecting. The first failed request fails
/// the run: a rate counted around errors would not be the real one.
pub async fn drive<I, O>(
    url: &str,
    inputs: impl IntoIterator<Item = I>,
    connections: usize,
    request: impl AsyncFn(&mut Connection, I) -> Result<O>,
) -> Result<(Vec<O>, Duration)> {
    let opened = (0..connections).map(|_| Connection::open(url, None));
    let opened = try_join_all(opened).await?;
    let (inputs, request) = (RefCell::new(inputs.into_iter()), &request);
    let started = Instant::now();
    let each = opened.into_iter().map(|mut connection| {
        let inputs = &inputs;
        async move {
            let mut answers = Vec::new();
            // The borrow ends before the request is awaited: the connections share the inputs.
            while let Some(input) = { inputs.borrow_mut().next() } {
                answers.push(request(&mut connection, input).await?);
            }
            Ok::<_, crate::Error>(answers)
        }
    });
    let answers = try_join_all(each).await?;
    Ok((answers.into_iter().flatten().collect(), started.elapsed()))
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::extract::ConnectInfo;
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    use super::*;

    /// A server on a free loopback port: `GET /pending` answers a small JSON, `POST /echo` its
    /// body, `GET /large` 200 KB (more than one read), `GET /missing` a 404 with a body, `GET /peer`
    /// the caller's address, `POST /step` a 204.
    async fn server() -> String {
        let peer =
            |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() };
        let missing = || async { (StatusCode::NOT_FOUND, "no such thing") };
        let app = Router::new()
            .route("/pending", get(|| async { r#"{"status":"pending"}"# }))
            .route("/peer", get(peer))
            .route("/step", post(|| async { StatusCode::NO_CONTENT }))
            .route("/echo", post(|body: String| async move { body }))
            .route("/large", get(|| async { "x".repeat(200_000) }))
            .route("/missing", get(missing));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    async fn connection() -> Connection {
        Connection::open(&server().await, None).await.unwrap()
    }

    #[tokio::test]
    async fn every_input_is_answered_over_the_kept_alive_connections() {
        let echo = async |connection: &mut Connection, n: usize| {
            let pending = connection.get("/pending", Some("token"), 200).await?;
            assert_eq!(pending, br#"{"status":"pending"}"#);
            let sent = n.to_string();
            let echoed = connection.post_json("/echo", None, &sent, 200).await?;
            Ok(String::from_utf8_lossy(echoed).parse::<usize>().ok())
        };
        let (mut echoed, _took) = drive(&server().await, 0..200, 8, echo).await.unwrap();
        echoed.sort_unstable();
        assert_eq!(echoed, (0..200).map(Some).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_body_longer_than_one_read_is_read_whole() {
        let mut connection = connection().await;
        for _ in 0..2 {
            let body = connection.get("/large", None, 200).await.unwrap();
            assert_eq!(body.len(), 200_000);
        }
    }

    #[tokio::test]
    async fn another_status_fails_with_the_body() {
        let mut connection = connection().await;
        let error = connection.get("/missing", None, 200).await.unwrap_err();
        let expected = "HTTP 404, not 200: no such thing";
        assert!(error.to_string().contains(expected), "{error}");
    }

    #[tokio::test]
    async fn a_204_ends_at_its_head_and_the_connection_goes_on() {
        let mut connection = connection().await;
        for _ in 0..2 {
            let body = connection.post_json("/step", None, "{}", 204);
            assert!(body.await.unwrap().is_empty());
        }
        let pending = connection.get("/pending", None, 200).await.unwrap();
        assert_eq!(pending, br#"{"status":"pending"}"#);
    }

    #[tokio::test]
    async fn a_connection_comes_from_the_local_address_asked_for() {
        let url = server().await;
        for local in [None, Some([127, 1, 0, 7].into())] {
            let mut connection = Connection::open(&url, local).await.unwrap();
            let peer = connection.get("/peer", None, 200).await.unwrap();
            let expected = local.unwrap_or([127, 0, 0, 1].into()).to_string();
            assert_eq!(String::from_utf8_lossy(peer), expected);
        }
    }

    #[test]
    fn reads_the_status_and_the_body_length() {
        let head = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nContent-Length: 17";
        assert_eq!(status(head).unwrap(), 201);
        assert_eq!(body_length(head).unwrap(), 17);
        assert_eq!(body_length(b"HTTP/1.1 204 No Content\r\nx: 1").unwrap(), 0);
        assert!(body_length(b"HTTP/1.1 200 OK\r\nx: 1").is_err());
        assert!(status(b"HTTP/1.0 200 OK").is_err());
    }
}
