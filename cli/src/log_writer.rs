//! Where the log's lines go: into a buffer in memory, which a thread of its own writes to stdout
//! every [`LINGER`], or as soon as it holds [`WRITE_AT`] bytes. A request's line then costs an
//! append, where writing it to the terminal, file or journal behind stdout was about a tenth of a
//! pending `islogin` poll's CPU on one core. Lines keep their order and reach stdout at most
//! [`LINGER`] late; the [`Flusher`] writes what is left when `main` ends (a process killed outright
//! loses that much). A reader of stdout that falls [`MAX_PENDING`] bytes behind loses lines rather
//! than holding up requests, and the next write says how many.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// The longest a line waits in memory.
const LINGER: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const WRITE_AT: usize = 64 * 1024;
/// The most the buffer holds while stdout is not being read.
const MAX_PENDING: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// Lines refused since the last write: the buffer was full.
    dropped: u64,
    /// `main` has ended: write what is left and stop.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every change under the lock is a whole append or swap: a panic elsewhere leaves it whole.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the log's subscriber writes its lines through.
pub struct BufferedLog {
    shared: Arc<Shared>,
}

/// Writes the buffered lines out until it is dropped; its drop writes the rest and waits for that.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the thread that writes the log's lines to `out`.
pub fn start(out: impl Write + Send + 'static) -> io::Result<(BufferedLog, Flusher)> {
    let shared = Arc::new(Shared::default());
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("meeteasy-log".to_owned())
        .spawn(move || write_out(&for_thread, out))?;
    let log = BufferedLog {
        shared: Arc::clone(&shared),
    };
    let flusher = Flusher {
        shared,
        thread: Some(thread),
    };
    Ok((log, flusher))
}

fn write_out(shared: &Shared, mut out: impl Write) {
    let mut writing = Vec::new();
    loop {
        let (dropped, closed) = {
            let mut pending = shared.lock();
            if !pending.closed && pending.lines.len() < WRITE_AT {
                let waited = shared.wake.wait_timeout(pending, LINGER);
                pending = waited.unwrap_or_else(PoisonError::into_inner).0;
            }
            std::mem::swap(&mut pending.lines, &mut writing);
            (std::mem::take(&mut pending.dropped), pending.closed)
        };
        let mut written = Ok(());
        if dropped > 0 {
            written = writeln!(
                out,
                "meeteasy-auth: {dropped} log lines were dropped: stdout was not read in time"
            );
        }
        if let Err(error) = written
            .and_then(|()| out.write_all(&writing))
            .and_then(|()| out.flush())
        {
            // The log is where this would go; stderr is the place left.
            eprintln!("meeteasy-auth: writing the log to stdout failed: {error}");
        }
        writing.clear();
        if closed {
            return;
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            eprintln!("meeteasy-auth: the log's writing thread panicked");
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
            if before < WRITE_AT && pending.lines.len() >= WRITE_AT {
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
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// An output the test can read, which holds its first write until `release` is dropped.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<Vec<u8>>>);

    impl Output {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("output")).into_owned()
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
    fn a_line_is_written_out_without_waiting_for_more() {
        let output = Output::default();
        let (log, _flusher) = start(output.clone()).expect("start");
        log_line(&log, "alone\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while output.text() != "alone\n" {
            assert!(Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Holds every write until the test drops its sender.
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

    #[test]
    fn a_reader_too_slow_loses_lines_past_the_bound_and_is_told_how_many() {
        let (release, held) = mpsc::channel();
        let output = Output::default();
        let (log, flusher) = start(Stuck(held, output.clone())).expect("start");
        // The thread takes the first line and is stuck writing it; then the buffer fills.
        log_line(&log, "first\n");
        let line = format!("{}\n", "x".repeat(1023));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !log.shared.lock().lines.is_empty() {
            assert!(
                Instant::now() < deadline,
                "the thread never took the first line"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..MAX_PENDING / line.len() + 3 {
            log_line(&log, &line);
        }
        assert_eq!(log.shared.lock().dropped, 3);
        drop(release);
        drop(flusher);
        let text = output.text();
        let start = text.get(..80).unwrap_or(&text);
        assert!(
            text.starts_with("first\nmeeteasy-auth: 3 log lines were dropped"),
            "{start}"
        );
        assert_eq!(text.matches(&line).count(), MAX_PENDING / line.len());
    }
}
