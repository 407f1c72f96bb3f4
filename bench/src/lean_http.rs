//! The benchmark's HTTP/1.1 client: kept-alive TCP connections, one request in flight on each, its
//! bytes written at once and its answer read by `Content-Length` (or to its head, for a 204). Not
//! reqwest: on one core it kept bare axum's server CPU only 45–90 % busy (its own CPU at 100 %), so
//! the ceiling measured the client, not the stack.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::future::try_join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

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
    /// Connects to `server` from `local` if given (any loopback address works on Linux).
    pub async fn open(server: SocketAddr, local: Option<IpAddr>) -> Result<Self> {
        let connecting = format!("connecting to {server}");
        // Every server of the benchmark listens on IPv4 loopback.
        let socket = TcpSocket::new_v4().context(connecting.clone())?;
        if let Some(local) = local {
            let bound = socket.bind(SocketAddr::new(local, 0));
            bound.context(format!("binding to {local}"))?;
        }
        let connected = timeout(CONNECT_TIMEOUT, socket.connect(server)).await;
        let stream = connected.context(format!("{connecting}: no answer"))?;
        let stream = stream.context(connecting)?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let (host, read) = (format!("Host: {server}\r\n"), Vec::with_capacity(4096));
        Ok(Self { stream, host, read })
    }

    /// POSTs the JSON `body` (GETs if none): the body of a 2xx answer within [`ANSWER_TIMEOUT`].
    pub async fn request(
        &mut self,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> Result<&[u8]> {
        let method = if body.is_some() { "POST" } else { "GET" };
        let bearer = bearer.map(|bearer| format!("Authorization: Bearer {bearer}\r\n"));
        let json = "Content-Type: application/json\r\nContent-Length";
        let content = body.map(|body| format!("{json}: {}\r\n", body.len()));
        let (host, bearer) = (&self.host, bearer.unwrap_or_default());
        let (content, body) = (content.unwrap_or_default(), body.unwrap_or_default());
        let request = format!("{method} {path} HTTP/1.1\r\n{host}{bearer}{content}\r\n{body}");
        let answered = timeout(ANSWER_TIMEOUT, self.answer(request.as_bytes())).await;
        let (status, body) = answered.context(format!("{path}: no answer"))??;
        if !(200..300).contains(&status) {
            bail!("{path}: HTTP {status}: {}", String::from_utf8_lossy(body));
        }
        Ok(body)
    }

    /// Writes `request` and reads its answer: the status and the body.
    async fn answer(&mut self, request: &[u8]) -> Result<(u16, &[u8])> {
        let sent = self.stream.write_all(request).await;
        sent.context("sending a request")?;
        self.read.clear();
        let (head_end, (status, length)) = loop {
            self.fill().await?;
            if let Some(end) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break (end + 4, status_and_length(&self.read[..end])?);
            }
        };
        while self.read.len() < head_end + length {
            self.fill().await?;
        }
        if self.read.len() > head_end + length {
            bail!("the server answered more than one request's worth");
        }
        Ok((status, &self.read[head_end..]))
    }

    async fn fill(&mut self) -> Result<()> {
        let read = self.stream.read_buf(&mut self.read).await;
        if read.context("reading an answer")? == 0 {
            bail!("the server closed the connection before answering");
        }
        Ok(())
    }
}

/// The status of an answer's `head` and the length of the body after it: none for a 204, else
/// its `Content-Length` (every other answer to the benchmark's requests has one).
fn status_and_length(head: &[u8]) -> Result<(u16, usize)> {
    let head = String::from_utf8_lossy(head);
    let status_line = head.strip_prefix("HTTP/1.1 ");
    let status = status_line.and_then(|line| line.get(..3)?.parse().ok());
    let length = head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let length = name.eq_ignore_ascii_case("content-length");
        length.then(|| value.trim().parse().ok())?
    });
    match (status, length) {
        (Some(204), _) => Ok((204, 0)),
        (Some(status), Some(length)) => Ok((status, length)),
        _ => bail!("not an HTTP/1.1 answer with a Content-Length: {head}"),
    }
}

/// Sends `request(connection, input)` for every input over `connections` fresh connections, each
/// sending its next once one is answered: the answers, and how long they took (not connecting). A
/// failed request fails them all: a rate counted around errors would not be the real one.
pub async fn drive<I, O>(
    server: SocketAddr,
    inputs: impl IntoIterator<Item = I>,
    connections: usize,
    request: impl AsyncFn(&mut Connection, I) -> Result<O>,
) -> Result<(Vec<O>, Duration)> {
    let opened = (0..connections).map(|_| Connection::open(server, None));
    let opened = try_join_all(opened).await?;
    let (inputs, request) = (&RefCell::new(inputs.into_iter()), &request);
    let started = Instant::now();
    let each = opened.into_iter().map(|mut connection| async move {
        let mut answers = Vec::new();
        // The borrow ends before the request is awaited: the connections share the inputs.
        while let Some(input) = { inputs.borrow_mut().next() } {
            answers.push(request(&mut connection, input).await?);
        }
        anyhow::Ok(answers)
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

    /// A server on a free loopback port; `/large` is more than one read.
    async fn server() -> SocketAddr {
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
        let server = listener.local_addr().unwrap();
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    #[tokio::test]
    async fn every_input_is_answered_over_the_kept_alive_connections() {
        let echo = async |connection: &mut Connection, n: usize| {
            let pending = connection.request("/pending", Some("token"), None);
            assert_eq!(pending.await?, br#"{"status":"pending"}"#);
            let sent = n.to_string();
            let echoed = connection.request("/echo", None, Some(&sent)).await?;
            Ok(String::from_utf8_lossy(echoed).parse::<usize>().ok())
        };
        let (mut echoed, _took) = drive(server().await, 0..200, 8, echo).await.unwrap();
        echoed.sort_unstable();
        assert_eq!(echoed, (0..200).map(Some).collect::<Vec<_>>());
    }

    /// A body longer than one read is read whole, a 204 ends at its head, and either way the
    /// connection goes on; another status fails with the body; a head without a length is refused.
    #[tokio::test]
    async fn answers_are_read_whole_and_the_connection_goes_on() {
        let mut connection = Connection::open(server().await, None).await.unwrap();
        for _ in 0..2 {
            let large = connection.request("/large", None, None).await;
            assert_eq!(large.unwrap().len(), 200_000);
            let step = connection.request("/step", None, Some("{}")).await;
            assert!(step.unwrap().is_empty());
        }
        let missing = connection.request("/missing", None, None).await;
        let error = missing.unwrap_err().to_string();
        assert!(error.contains("HTTP 404: no such thing"), "{error}");
        assert!(status_and_length(b"HTTP/1.1 200 OK\r\nx: 1").is_err());
        assert!(status_and_length(b"HTTP/1.0 200 OK\r\nContent-Length: 1").is_err());
    }

    #[tokio::test]
    async fn a_connection_comes_from_the_local_address_asked_for() {
        let server = server().await;
        for local in [None, Some([127, 1, 0, 7].into())] {
            let mut connection = Connection::open(server, local).await.unwrap();
            let peer = connection.request("/peer", None, None).await.unwrap();
            let expected = local.unwrap_or([127, 0, 0, 1].into()).to_string();
            assert_eq!(String::from_utf8_lossy(peer), expected);
        }
    }
}
