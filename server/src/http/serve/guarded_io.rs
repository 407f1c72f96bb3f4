//! A connection's byte stream as hyper sees it, with the clocks that keep a slow client from holding
//! the connection: its request head must arrive within `header_timeout` (counted from the
//! connection's start, or from the first byte of a later request), a kept-alive connection may
//! wait `idle_timeout` for its next request, and a response the client takes less than
//! [`LEAST_TAKEN`] of in `body_timeout` (once it has had to wait on the client) ends the
//! connection. hyper's own header timer cannot tell waiting for a request
//! from receiving one, so one clock would have to serve both; this keeps them apart.
//!
//! Closing after a request whose body was not read (too large, or answered without it) lingers:
//! the write side is shut, and what the client still sends is read and dropped for a while, so a
//! client still sending reads the answer instead of a connection reset.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What a client must take of an answer in each `body_timeout` once the answer waits on it, short
/// of taking all that was written (a flush done; over TLS that includes what the TLS layer
/// buffered, up to its own limit): a client reading a few bytes now and then (a small receive window, read a
/// trickle at a time) would otherwise hold its connection, and a shutdown waiting on it, for as
/// long as it likes. A slow phone on a poor network takes far more (16 KiB in 10 s is 1.6 KB/s).
const LEAST_TAKEN: usize = 16 * 1024;

/// The most a lingering close reads and drops. A client that sends its whole body before reading
/// (many simple HTTP clients do) reads the answer only if all of it is taken; this bounds that.
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// A lingering close also ends once the client has sent nothing for this long (nginx's
/// `lingering_timeout`, 5 s there): a client still sending its body keeps bytes coming, and one
/// that has gone quiet is not waited on for the rest of `body_timeout`. Quiet is also what a
/// kept-alive client looks like whose unread body hyper drained after all: its connection, closed
/// at a shutdown, would otherwise hold that shutdown for a whole `body_timeout`.
const LINGER_QUIET: Duration = Duration::from_secs(2);

/// What the HTTP side tells the byte stream about the requests on it.
#[derive(Debug, Default)]
pub struct Exchanges {
    started: AtomicU32,
    finished: AtomicU32,
    /// The last request's body was dropped before its end: closing must linger.
    unread_body: AtomicBool,
    /// A clock ran out (for the metrics).
    timed_out: AtomicBool,
    /// The connection's reader, woken when an exchange ends: hyper does not read again by itself
    /// until bytes arrive, and the idle clock must start.
    reader: AtomicWaker,
}

impl Exchanges {
    /// A request's head has arrived and is being answered.
    pub fn begin(&self) {
        self.unread_body.store(false, Ordering::Release);
        self.started.fetch_add(1, Ordering::AcqRel);
    }

    /// The response has been handed over whole (or given up).
    pub fn finish(&self) {
        self.finished.fetch_add(1, Ordering::AcqRel);
        self.reader.wake();
    }

    pub fn body_left_unread(&self) {
        self.unread_body.store(true, Ordering::Release);
    }

    pub fn note_timeout(&self) {
        self.timed_out.store(true, Ordering::Release);
    }

    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Acquire)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Receiving a request head whose first byte came (or whose connection opened) at `since`.
    Head { since: Instant },
    /// A request is being answered: the handler decides how long (a long-poll waits).
    Answering,
    /// Waiting for the next request since `since`.
    Idle { since: Instant },
}

#[derive(Debug, Clone, Copy)]
enum Closing {
    Open,
    /// Write side shut; reading and dropping what the client still sends, until `until`, or
    /// `quiet_until` if nothing arrives before it.
    Lingering {
        until: Instant,
        quiet_until: Instant,
        drained: usize,
    },
}

pub struct GuardedIo<I> {
    inner: I,
    exchanges: Arc<Exchanges>,
    clocks: Clocks,
    phase: Phase,
    /// `finished` as last seen: a change means a response went out and the connection is idle.
    seen_finished: u32,
    read_deadline: Option<Instant>,
    write_deadline: Option<Instant>,
    /// Bytes the client took since `write_deadline` was set (see [`LEAST_TAKEN`]).
    taken: usize,
    /// One timer for both directions, armed for the nearer deadline. Made on first need.
    timer: Option<Pin<Box<Sleep>>>,
    armed_for: Option<Instant>,
    closing: Closing,
}

impl<I> GuardedIo<I> {
    /// `opened`: when the connection was accepted; a TLS handshake counts toward the first head.
    pub fn new(inner: I, exchanges: Arc<Exchanges>, clocks: Clocks, opened: Instant) -> Self {
        GuardedIo {
            inner,
            exchanges,
            clocks,
            phase: Phase::Head { since: opened },
            seen_finished: 0,
            read_deadline: None,
            write_deadline: None,
            taken: 0,
            timer: None,
            armed_for: None,
            closing: Closing::Open,
        }
    }

    fn follow_exchanges(&mut self) {
        let started = self.exchanges.started.load(Ordering::Acquire);
        let finished = self.exchanges.finished.load(Ordering::Acquire);
        if started != finished {
            self.phase = Phase::Answering;
        } else if finished != self.seen_finished {
            self.seen_finished = finished;
            self.phase = Phase::Idle {
                since: Instant::now(),
            };
        }
    }

    fn read_limit(&self) -> Option<Instant> {
        match self.closing {
            Closing::Lingering {
                until, quiet_until, ..
            } => Some(until.min(quiet_until)),
            Closing::Open => match self.phase {
                Phase::Head { since } => Some(since + self.clocks.header),
                Phase::Idle { since } => Some(since + self.clocks.idle),
                Phase::Answering => None,
            },
        }
    }

    /// Polls the timer for the nearer of the two deadlines; ready once it has passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let nearest = match (self.read_deadline, self.write_deadline) {
            (Some(read), Some(write)) => read.min(write),
            (Some(deadline), None) | (None, Some(deadline)) => deadline,
            (None, None) => {
                // No clock runs while a request is answered: the timer is not kept through a
                // long-poll's wait.
                self.timer = None;
                self.armed_for = None;
                return Poll::Pending;
            }
        };
        let timer = match &mut self.timer {
            Some(timer) => {
                if self.armed_for != Some(nearest) {
                    timer.as_mut().reset(nearest);
                }
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(nearest))),
        };
        self.armed_for = Some(nearest);
        timer.as_mut().poll(cx)
    }

    fn expired(deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn timed_out(&self, what: &'static str) -> io::Error {
        self.exchanges.note_timeout();
        io::Error::new(io::ErrorKind::TimedOut, what)
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> GuardedIo<I> {
    /// A write-side poll under the send clock: once a write waits on the client, it must take
    /// [`LEAST_TAKEN`] bytes, or all that was written (`taken` answers `None`: a flush done), within
    /// `body_timeout`; else the connection ends.
    fn guard_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
        taken: impl Fn(&T) -> Option<usize>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(Ok(value)) => {
                match taken(&value) {
                    None => self.keep_up(),
                    Some(bytes) if self.write_deadline.is_some() => {
                        self.taken = self.taken.saturating_add(bytes);
                        if self.taken >= LEAST_TAKEN {
                            self.keep_up();
                        }
                    }
                    Some(_) => {}
                }
                Poll::Ready(Ok(value))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let body = self.clocks.body;
                let deadline = *self
                    .write_deadline
                    .get_or_insert_with(|| Instant::now() + body);
                while self.poll_timer(cx).is_ready() {
                    if Self::expired(Some(deadline)) {
                        return Poll::Ready(Err(self.timed_out(
                            "the client took too little of the answer within body_timeout",
                        )));
                    }
                    // The timer fired for the read side's deadline, which hyper may no longer
                    // poll (it stops reading once it closed its reads after an unread body): the
                    // timer is armed again for this side's, or this write would never be woken.
                    // Polled again, it may find this side's deadline passed too (a timer that is
                    // ready registers no wake-up): the loop checks it once more. A read polled
                    // again sets and checks its deadline itself.
                    self.read_deadline = None;
                }
                Poll::Pending
            }
        }
    }

    /// The client kept up: no send clock runs until a write waits on it again.
    fn keep_up(&mut self) {
        self.write_deadline = None;
        self.taken = 0;
    }

    /// Reads and drops what the client still sends after the write side was shut; done at its
    /// end of stream, an error, [`LINGER_BYTES`], the linger deadline, or [`LINGER_QUIET`] with
    /// nothing sent.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let Closing::Lingering { until, drained, .. } = self.closing else {
                return Poll::Ready(());
            };
            let mut scratch = [0u8; 4096];
            let mut sink = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut sink) {
                Poll::Ready(Ok(())) if sink.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    let drained = drained + sink.filled().len();
                    if drained >= LINGER_BYTES {
                        return Poll::Ready(());
                    }
                    self.closing = Closing::Lingering {
                        until,
                        quiet_until: Instant::now() + LINGER_QUIET,
                        drained,
                    };
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {
                    self.read_deadline = self.read_limit();
                    self.keep_up();
                    if self.poll_timer(cx).is_ready() && Self::expired(self.read_deadline) {
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncRead for GuardedIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.follow_exchanges();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.read_deadline = None;
                if buf.filled().len() > before
                    && let Phase::Idle { .. } = this.phase
                {
                    // The next request has begun: its head gets `header_timeout` from here.
                    this.phase = Phase::Head {
                        since: Instant::now(),
                    };
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                this.exchanges.reader.register(cx.waker());
                this.read_deadline = this.read_limit();
                if this.poll_timer(cx).is_ready() && Self::expired(this.read_deadline) {
                    let what = match this.phase {
                        Phase::Idle { .. } => "no next request within idle_timeout",
                        Phase::Head { .. } | Phase::Answering => {
                            "no complete request head within header_timeout"
                        }
                    };
                    return Poll::Ready(Err(this.timed_out(what)));
                }
                Poll::Pending
            }
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.guard_write(cx, polled, |written| Some(*written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.guard_write(cx, polled, |written| Some(*written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.guard_write(cx, polled, |()| None)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Closing::Open = this.closing {
            let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
            ready!(this.guard_write(cx, polled, |()| None))?;
            if !this.exchanges.unread_body.load(Ordering::Acquire) {
                return Poll::Ready(Ok(()));
            }
            let now = Instant::now();
            this.closing = Closing::Lingering {
                until: now + this.clocks.body,
                quiet_until: now + LINGER_QUIET,
                drained: 0,
            };
        }
        ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;

    use super::*;

    /// A client taking `each` bytes of the answer every `every`, reading nothing.
    struct Trickle {
        each: usize,
        every: Duration,
        next: Pin<Box<Sleep>>,
    }

    impl Trickle {
        fn new(each: usize, every: Duration) -> Self {
            let next = Box::pin(tokio::time::sleep(every));
            Trickle { each, every, next }
        }
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            ready!(this.next.as_mut().poll(cx));
            let every = this.every;
            this.next.as_mut().reset(Instant::now() + every);
            Poll::Ready(Ok(buf.len().min(this.each)))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Writes a 128 KiB answer to a client taking `each` bytes every 50 ms, under a one-second
    /// body clock; `None` if it takes longer than 20 s.
    async fn answer(each: usize) -> Option<io::Result<()>> {
        let clocks = Clocks {
            header: Duration::from_secs(1),
            body: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        };
        let client = Trickle::new(each, Duration::from_millis(50));
        let exchanges = Arc::new(Exchanges::default());
        let mut io = GuardedIo::new(client, exchanges, clocks, Instant::now());
        let written = io.write_all(&[0u8; 128 * 1024]);
        tokio::time::timeout(Duration::from_secs(20), written)
            .await
            .ok()
    }

    /// Taking a trickle of an answer (a few bytes now and then: 320 B/s) is taking too little:
    /// the connection ends after the body clock, as for a client taking nothing.
    #[tokio::test]
    async fn an_answer_taken_a_trickle_at_a_time_ends_after_the_body_clock() {
        let started = Instant::now();
        let trickled = answer(16).await.expect("ended within 20 s");
        let error = trickled.expect_err("cut");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    /// A write waiting on its client after a read clock ran out that nobody polls any more (hyper
    /// stops reading once it closed its reads after an unread body): the send clock still ends
    /// it, rather than the write waiting on a timer that already fired.
    #[tokio::test]
    async fn the_send_clock_ends_a_write_after_a_read_clock_nobody_polls() {
        let clocks = Clocks {
            header: Duration::from_millis(50),
            body: Duration::from_millis(300),
            idle: Duration::from_millis(50),
        };
        // Takes nothing for an hour.
        let client = Trickle::new(1, Duration::from_secs(3600));
        let exchanges = Arc::new(Exchanges::default());
        let mut io = GuardedIo::new(client, exchanges, clocks, Instant::now());
        // One read, pending: it arms the head's clock, and is not polled again.
        let mut unread = [0u8; 16];
        std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut unread);
            let _pending = Pin::new(&mut io).poll_read(cx, &mut buf);
            Poll::Ready(())
        })
        .await;

        let started = Instant::now();
        let written = tokio::time::timeout(Duration::from_secs(5), io.write_all(b"answer")).await;
        let error = written.expect("the send clock ended the write");
        assert_eq!(error.expect_err("cut").kind(), io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    /// Shuts a connection after an unread body under a ten-second body clock, its client sending
    /// `chunks` of 1 KiB 200 ms apart and then nothing (keeping its side open); how long the close
    /// took.
    async fn linger_with_client_sending(chunks: usize) -> Duration {
        let clocks = Clocks {
            header: Duration::from_secs(10),
            body: Duration::from_secs(10),
            idle: Duration::from_secs(10),
        };
        let (server_side, mut client) = tokio::io::duplex(64 * 1024);
        let exchanges = Arc::new(Exchanges::default());
        exchanges.body_left_unread();
        let mut io = GuardedIo::new(server_side, exchanges, clocks, Instant::now());
        let sending = tokio::spawn(async move {
            for _ in 0..chunks {
                client.write_all(&[b'x'; 1024]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // Open and silent until the test ends (the task is aborted, dropping `client`).
            std::future::pending::<()>().await;
        });
        let started = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(20), io.shutdown()).await;
        sending.abort();
        closed.expect("closed within 20 s").expect("closed");
        started.elapsed()
    }

    /// A client that sends nothing more after its unread body (gone quiet, or kept alive with its
    /// body drained after all) is not waited on for the whole body clock.
    #[tokio::test]
    async fn a_lingering_close_ends_once_its_client_is_quiet() {
        let took = linger_with_client_sending(0).await;
        assert!(took >= LINGER_QUIET, "{took:?}");
        assert!(took < LINGER_QUIET + Duration::from_secs(3), "{took:?}");
    }

    /// A client still sending keeps the linger going past the quiet time, so it reads the answer
    /// rather than a reset; once it stops, the quiet time ends the close.
    #[tokio::test]
    async fn a_lingering_close_reads_on_while_its_client_sends() {
        // The last of 15 chunks arrives at 2.8 s: the close ends about the quiet time later.
        let took = linger_with_client_sending(15).await;
        assert!(took >= Duration::from_secs(4), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    /// A slow client taking well over 16 KiB each body clock (160 KiB/s) gets the whole answer.
    #[tokio::test]
    async fn a_slow_client_taking_enough_gets_the_whole_answer() {
        let taken = answer(8 * 1024).await.expect("done within 20 s");
        taken.expect("the whole answer");
    }
}
