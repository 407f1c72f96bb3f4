//! Where the server's log lines go: into a buffer in memory, which a thread of its own writes to
//! stdout [`LINGER`] after the first line of a batch came in, or as soon as it holds [`WRITE_AT`]
//! bytes. A request's line then costs an append, where writing it to the terminal, file or journal
//! behind stdout was about a tenth of a pending `islogin` poll's CPU on one core. Lines keep their
//! order and reach stdout about [`LINGER`] late; the [`Flusher`] writes what is left when the
//! server has stopped (a process killed outright loses that much). A reader of stdout that falls
//! [`MAX_PENDING`] bytes behind loses lines rather than holding up requests, and the log then says
//! how many.

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long the first line of a batch waits for others to join it.
const LINGER: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const WRITE_AT: usize = 64 * 1024;
/// The most the buffer holds while stdout is not being read.
const MAX_PENDING: usize = 4 * 1024 * 1024;
/// How long the [`Flusher`] waits for the last lines to be written: a stdout nobody reads must not
/// keep the process from exiting.
const LAST_WRITE_BOUND: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// Lines refused since the last write: the buffer was full.
    dropped: u64,
    /// The server has stopped: write what is left and end.
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// [`LINGER`], but for tests.
    linger: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every change under the lock is a whole append or swap: a panic elsewhere leaves it whole.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, pending: MutexGuard<'a, Pending>) -> MutexGuard<'a, Pending> {
        self.wake
            .wait(pending)
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_for<'a>(
        &self,
        pending: MutexGuard<'a, Pending>,
        time: Duration,
    ) -> MutexGuard<'a, Pending> {
        let waited = self.wake.wait_timeout(pending, time);
        waited.unwrap_or_else(PoisonError::into_inner).0
    }
}

/// What the log's subscriber writes its lines through.
pub struct BufferedLog {
    shared: Arc<Shared>,
}

/// Writes the buffered lines out until it is dropped; its drop writes the rest, waiting for that
/// at most [`LAST_WRITE_BOUND`].
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Closed by the thread as it ends.
    ended: mpsc::Receiver<()>,
}

/// Starts the thread that writes the log's lines to `out`.
pub fn start(out: impl Write + Send + 'static) -> io::Result<(BufferedLog, Flusher)> {
    start_lingering(out, LINGER)
}

fn start_lingering(
    out: impl Write + Send + 'static,
    linger: Duration,
) -> io::Result<(BufferedLog, Flusher)> {
    let shared = Arc::new(Shared {
        pending: Mutex::default(),
        wake: Condvar::new(),
        linger,
    });
    let for_thread = Arc::clone(&shared);
    let (ending, ended) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("meeteasy-log".to_owned())
        .spawn(move || {
            write_out(&for_thread, out);
            drop(ending);
        })?;
    let log = BufferedLog {
        shared: Arc::clone(&shared),
    };
    let flusher = Flusher {
        shared,
        thread: Some(thread),
        ended,
    };
    Ok((log, flusher))
}

fn write_out(shared: &Shared, mut out: impl Write) {
    let mut writing = Vec::new();
    // Whether the last write failed: a lasting failure (a closed pipe) is reported once.
    let mut failing = false;
    loop {
        let (dropped, closed) = {
            let mut pending = shared.lock();
            while pending.lines.is_empty() && pending.dropped == 0 && !pending.closed {
                pending = shared.wait(pending);
            }
            let linger_until = Instant::now() + shared.linger;
            while !pending.closed && pending.lines.len() < WRITE_AT {
                let left = linger_until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                pending = shared.wait_for(pending, left);
            }
            std::mem::swap(&mut pending.lines, &mut writing);
            (std::mem::take(&mut pending.dropped), pending.closed)
        };
        let mut written = out.write_all(&writing);
        if dropped > 0 {
            let notice = "log lines were dropped: stdout was not read in time";
            written = written.and_then(|()| writeln!(out, "meeteasy-auth: {dropped} {notice}"));
        }
        match written.and_then(|()| out.flush()) {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                failing = true;
                // The log is where this would go; stderr is the place left.
                eprintln!(
                    "meeteasy-auth: writing the log to stdout failed, lines are lost: {error}"
                );
            }
            Err(_same_failure) => {}
        }
        // A burst (a reader that fell behind) leaves no 4 MiB buffers behind it.
        writing.clear();
        writing.shrink_to(2 * WRITE_AT);
        if closed {
            return;
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        match self.ended.recv_timeout(LAST_WRITE_BOUND) {
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take()
                    && thread.join().is_err()
                {
                    eprintln!("meeteasy-auth: the log's writing thread panicked");
                }
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => eprintln!(
                "meeteasy-auth: the log's last lines were not written within {LAST_WRITE_BOUND:?}: \
                 stdout is not being read"
            ),
        }
    }
}

impl<'a> MakeWriter<'a> for BufferedLog {
    type Writer = LineSink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink(&self.shared)
    }
}

/// Appends what the subscriber writes (one whole line per event) to the buffer.
pub struct LineSink<'a>(&'a Shared);

impl Write for LineSink<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.0.lock();
        let before = pending.lines.len();
        if before + line.len() > MAX_PENDING {
            pending.dropped += 1;
        } else {
            pending.lines.extend_from_slice(line);
            // The first line of a batch starts the thread's linger; a full buffer ends it.
            if before == 0 || (before < WRITE_AT && pending.lines.len() >= WRITE_AT) {
                self.0.wake.notify_one();
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<Vec<u8>>>);

    impl Output {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("output")).into_owned()
        }

        /// Waits (5 s at most) until the output holds `expected`.
        fn wait_for(&self, expected: &str) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.text() != expected {
                assert!(
                    Instant::now() < deadline,
                    "the output never read {expected:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    impl Write for Output {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("output").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Holds every write until the test drops the sender, then writes to its [`Output`].
    struct Stuck(mpsc::Receiver<()>, Output);

    impl Write for Stuck {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            // Returns once the test drops the sender.
            let _released = self.0.recv();
            self.1.write(bytes)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn log_line(log: &BufferedLog, line: &str) {
        log.make_writer()
            .write_all(line.as_bytes())
            .expect("the sink takes every line");
    }

    #[test]
    fn lines_reach_the_output_in_order_and_the_rest_when_the_flusher_drops() {
        let output = Output::default();
        let (log, flusher) = start(output.clone()).expect("start");
        let lines: Vec<String> = (0..5_000).map(|n| format!("line {n}\n")).collect();
        for line in &lines {
            log_line(&log, line);
        }
        drop(flusher);
        assert_eq!(output.text(), lines.concat());
    }

    #[test]
    fn a_line_is_written_out_without_waiting_for_more_and_so_is_the_next() {
        let output = Output::default();
        let (log, _flusher) = start(output.clone()).expect("start");
        log_line(&log, "alone\n");
        output.wait_for("alone\n");
        // The thread went back to waiting for a first line; this one wakes it again.
        log_line(&log, "later\n");
        output.wait_for("alone\nlater\n");
    }

    #[test]
    fn a_full_buffer_is_written_before_its_linger_ends() {
        let output = Output::default();
        // A linger no test outlasts: only a full buffer gets written.
        let (log, _flusher) =
            start_lingering(output.clone(), Duration::from_secs(3600)).expect("start");
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..WRITE_AT / line.len() {
            log_line(&log, &line);
        }
        output.wait_for(&line.repeat(WRITE_AT / line.len()));
    }

    #[test]
    fn a_reader_too_slow_loses_lines_past_the_bound_and_is_told_how_many() {
        let (release, held) = mpsc::channel();
        let output = Output::default();
        let (log, flusher) = start(Stuck(held, output.clone())).expect("start");
        // The thread takes the first line and is stuck writing it; then the buffer fills.
        log_line(&log, "first\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !log.shared.lock().lines.is_empty() {
            assert!(
                Instant::now() < deadline,
                "the thread never took the first line"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let line = format!("{}\n", "x".repeat(1023));
        let kept = MAX_PENDING / line.len();
        for _ in 0..kept + 3 {
            log_line(&log, &line);
        }
        assert_eq!(log.shared.lock().dropped, 3);
        drop(release);
        drop(flusher);
        let expected = format!(
            "first\n{}meeteasy-auth: 3 log lines were dropped: stdout was not read in time\n",
            line.repeat(kept)
        );
        assert!(
            output.text() == expected,
            "the output is not the lines kept, then the notice"
        );
    }

    #[test]
    fn a_stdout_nobody_reads_does_not_keep_the_flusher_waiting() {
        let (_never_released, held) = mpsc::channel();
        let (log, flusher) = start(Stuck(held, Output::default())).expect("start");
        log_line(&log, "never written\n");
        let dropping = Instant::now();
        // Dropped on a thread of its own, so an unbounded wait fails the test instead of hanging it.
        let (dropped, done) = mpsc::channel();
        std::thread::spawn(move || {
            drop(flusher);
            let _test_may_have_given_up = dropped.send(());
        });
        let waiting_at_most = LAST_WRITE_BOUND + Duration::from_secs(5);
        done.recv_timeout(waiting_at_most)
            .expect("the flusher kept waiting for a stdout nobody reads");
        let waited = dropping.elapsed();
        assert!(
            waited >= LAST_WRITE_BOUND && waited < LAST_WRITE_BOUND + Duration::from_secs(2),
            "the flusher waited {waited:?}"
        );
    }
}
