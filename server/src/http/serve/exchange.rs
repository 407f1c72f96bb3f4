//! One connection's requests on their way to the router: each gets the peer's address, a body that
//! must arrive within `body_timeout`, and a response body that tells the connection when the
//! exchange is over (so the idle clock starts then); one that will not wait gives hyper's read
//! buffer back first (see [`read_buffer`]).

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::routing::future::RouteFuture;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use tower::Service as _;

use super::guarded_io::Exchanges;
use super::read_buffer;
use crate::http::extract::PeerAddr;

type BoxError = Box<dyn Error + Send + Sync>;

/// The router, as one connection serves it.
#[derive(Clone)]
pub struct ConnectionService {
    pub router: Router,
    pub peer: PeerAddr,
    pub exchanges: Arc<Exchanges>,
    pub body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<AnsweredBody>;
    type Error = Infallible;
    type Future = Answering;

    fn call(&self, request: Request<Incoming>) -> Answering {
        self.exchanges.begin();
        let (mut parts, body) = request.into_parts();
        read_buffer::let_go(&mut parts);
        parts.extensions.insert(ConnectInfo(self.peer));
        let body = TimedBody {
            inner: body,
            deadline: Instant::now() + self.body_timeout,
            timer: None,
            ended: false,
            exchanges: Arc::clone(&self.exchanges),
        };
        let request = Request::from_parts(parts, Body::new(body));
        // axum's router is always ready, so it needs no `poll_ready` first.
        Answering {
            routed: self.router.clone().call(request),
            exchanges: Arc::clone(&self.exchanges),
        }
    }
}

/// The router's answer to one request, its body made to tell the connection when it is sent.
/// Named rather than boxed: hyper holds it in a box of its own for as long as a long-poll waits,
/// and a second box would cost every waiting console one more allocation.
pub struct Answering {
    routed: RouteFuture<Infallible>,
    exchanges: Arc<Exchanges>,
}

impl Future for Answering {
    type Output = Result<Response<AnsweredBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let response = ready!(Pin::new(&mut this.routed).poll(cx))?;
        let exchanges = Arc::clone(&this.exchanges);
        Poll::Ready(Ok(response.map(|inner| AnsweredBody { inner, exchanges })))
    }
}

/// A request body given `body_timeout` from its head to arrive whole; the slowest client allowed
/// sends the contract's 16 KiB in that time.
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    /// Made only when the body is not already there.
    timer: Option<Pin<Box<Sleep>>>,
    ended: bool,
    exchanges: Arc<Exchanges>,
}

#[derive(Debug)]
struct BodyTooSlow;

impl fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive within body_timeout")
    }
}

impl Error for BodyTooSlow {}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(BoxError::from))),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.exchanges.note_timeout();
                    return Poll::Ready(Some(Err(BoxError::from(BodyTooSlow))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        if !self.ended && !self.inner.is_end_stream() {
            self.exchanges.body_left_unread();
        }
    }
}

/// The response body; when hyper is done with it, the exchange is over.
pub struct AnsweredBody {
    inner: Body,
    exchanges: Arc<Exchanges>,
}

impl http_body::Body for AnsweredBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AnsweredBody {
    fn drop(&mut self) {
        self.exchanges.finish();
    }
}
