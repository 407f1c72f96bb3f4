//! Serving HTTP(S) on a bound listener: each accepted connection is admitted against the
//! connection caps (or answered `429 too_many_requests` and closed), given its TLS handshake when
//! configured, and served by hyper under the header, body and idle clocks; on shutdown the accept
//! loop stops and every connection finishes its request in flight, within `shutdown_timeout`.

mod admission;
mod exchange;
mod guarded_io;
mod read_buffer;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse as _;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::CorsLayer;

use crate::config::ConnectionLimits;
use crate::domain::AuthService;
use crate::http::error::ApiError;
use crate::http::extract::PeerAddr;
pub use admission::Refusal;
use admission::{Admission, Slot};
use exchange::ConnectionService;
use guarded_io::{Clocks, Exchanges, GuardedIo};

/// Refused connections being answered at once, at most; past it they are closed unanswered, so a
/// flood costs no more than a socket each.
const ANSWERING_REFUSALS: usize = 512;

/// How long a refused connection may take to send the request it is refused.
const REFUSAL_CLOCK: Duration = Duration::from_secs(2);

/// The most a request head (and what is read ahead of it) may occupy: far above any real client's
/// headers, far below hyper's default of about 400 KiB per connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

struct Shared {
    router: Router,
    /// The router's CORS, for the answers given outside it (a refused connection's 429), so a
    /// page on an H5 origin reads them too.
    cors: CorsLayer,
    service: Arc<AuthService>,
    tls: Option<TlsAcceptor>,
    http: http1::Builder,
    refusals: http1::Builder,
    clocks: Clocks,
    admission: Arc<Admission>,
    answering_refusals: AtomicUsize,
}

/// Serves `router` on `listener` until `stop` resolves, then waits for the connections to finish,
/// at most `shutdown_timeout`: a request that would take longer (a WeChat call or a Redis that
/// hangs) does not keep the server from stopping. Its connection ends with the process. (The
/// embedded store's database thread is still joined at exit: a write it is making ends first.)
pub async fn serve(
    listener: TcpListener,
    router: Router,
    service: Arc<AuthService>,
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()>,
) {
    let ConnectionLimits {
        max,
        per_address,
        header_timeout,
        body_timeout,
        idle_timeout,
        shutdown_timeout,
    } = service.settings().connections;
    let admission = Admission::new(max, per_address, &service.settings().trusted_proxies);
    let mut http = http1::Builder::new();
    // The clocks live in `GuardedIo`; hyper's own header timer (which also needs a timer) stays off.
    http.header_read_timeout(None).max_buf_size(MAX_HEAD_BYTES);
    let mut refusals = http.clone();
    refusals.keep_alive(false);
    let shared = Arc::new(Shared {
        router,
        cors: crate::http::cors(&service.settings().h5_origins),
        service,
        tls,
        http,
        refusals,
        clocks: Clocks {
            header: header_timeout,
            body: body_timeout,
            idle: idle_timeout,
        },
        admission,
        answering_refusals: AtomicUsize::new(0),
    });
    let graceful = GracefulShutdown::new();
    let mut stop = pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let opened = Instant::now();
        match shared.admission.admit(peer.ip()) {
            Ok(slot) => {
                let watcher = graceful.watcher();
                tokio::spawn(Arc::clone(&shared).connection(tcp, peer, slot, watcher, opened));
            }
            Err(refusal) => {
                let metrics = shared.service.metrics();
                match refusal {
                    Refusal::ServerFull => metrics.count_refused_server_full(),
                    Refusal::AddressFull => metrics.count_refused_address_full(),
                }
                shared.refuse(tcp, refusal, opened);
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        let cut = shared.service.metrics().open_connections();
        tracing::warn!(
            connections = cut,
            "connections still open after shutdown_timeout ({shutdown_timeout:?}): cutting them"
        );
    }
}

impl Shared {
    async fn connection(
        self: Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        slot: Slot,
        watcher: Watcher,
        opened: Instant,
    ) {
        let metrics = self.service.metrics();
        let _open = metrics.connection_opened();
        let exchanges = Arc::new(Exchanges::default());
        let service = ConnectionService {
            router: self.router.clone(),
            peer: PeerAddr(peer),
            exchanges: Arc::clone(&exchanges),
            body_timeout: self.clocks.body,
        };
        let served = match &self.tls {
            None => {
                let io = GuardedIo::new(tcp, Arc::clone(&exchanges), self.clocks, opened);
                self.drive(io, service, watcher).await
            }
            // Boxed: a TLS connection's state (rustls' buffers and keys, the handshake) is several
            // times a plain one's, and a task is as large as its largest branch.
            Some(acceptor) => {
                let tls = self.tls_connection(acceptor, tcp, &exchanges, service, watcher, opened);
                Box::pin(tls).await
            }
        };
        if let Err(error) = served {
            // A client that went away or was too slow: its business, not a fault of the server.
            tracing::debug!(%error, %peer, "connection ended with an error");
        }
        if exchanges.timed_out() {
            metrics.count_timed_out_connection();
        }
        drop(slot);
    }

    async fn tls_connection(
        &self,
        acceptor: &TlsAcceptor,
        tcp: TcpStream,
        exchanges: &Arc<Exchanges>,
        service: ConnectionService,
        watcher: Watcher,
        opened: Instant,
    ) -> Result<(), hyper::Error> {
        let peer = service.peer.0;
        let handshake = acceptor.accept(tcp);
        match tokio::time::timeout_at(opened + self.clocks.header, handshake).await {
            Ok(Ok(tls)) => {
                let io = GuardedIo::new(tls, Arc::clone(exchanges), self.clocks, opened);
                self.drive(io, service, watcher).await
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, %peer, "TLS handshake failed");
                Ok(())
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                exchanges.note_timeout();
                Ok(())
            }
        }
    }

    /// hyper serving `io` until the connection ends, or until shutdown and the end of its request
    /// in flight. Not an async fn: one keeps its arguments for as long as it runs, beside the
    /// connection they were moved into, and every waiting console's task would carry both.
    fn drive<I>(
        &self,
        io: GuardedIo<I>,
        service: ConnectionService,
        watcher: Watcher,
    ) -> impl Future<Output = Result<(), hyper::Error>>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        watcher.watch(self.http.serve_connection(TokioIo::new(io), service))
    }

    /// Answers a refused connection's first request with `429 too_many_requests` and closes it.
    /// Over TLS (a refusal would cost the handshake it is meant to save), or when many refusals are
    /// being answered already, closes it unanswered.
    fn refuse(self: &Arc<Self>, tcp: TcpStream, refusal: Refusal, opened: Instant) {
        if self.tls.is_some() {
            return;
        }
        if self.answering_refusals.fetch_add(1, Ordering::AcqRel) >= ANSWERING_REFUSALS {
            self.answering_refusals.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            let clocks = Clocks {
                header: REFUSAL_CLOCK,
                body: REFUSAL_CLOCK,
                idle: REFUSAL_CLOCK,
            };
            let io = GuardedIo::new(tcp, Arc::default(), clocks, opened);
            let cors = shared.cors.clone();
            let answer = hyper::service::service_fn(move |request: Request<Incoming>| {
                let refused = tower::service_fn(move |_request: Request<Incoming>| {
                    let response = ApiError::ConnectionRefused(refusal).into_response();
                    std::future::ready(Ok::<_, Infallible>(response))
                });
                cors.layer(refused).oneshot(request)
            });
            let _answered_or_gone = shared
                .refusals
                .serve_connection(TokioIo::new(io), answer)
                .await;
            shared.answering_refusals.fetch_sub(1, Ordering::AcqRel);
        });
    }
}
