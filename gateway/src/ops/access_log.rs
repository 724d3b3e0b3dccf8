//! The access log: one JSON line per request ([`AccessLine`]), handed from
//! the proxy's `logging` phase to a dedicated writer thread through a
//! bounded queue. The proxy never waits on the disk or a full pipe: when
//! the queue is full the line is dropped and counted, never blocking.
//!
//! A thread of its own rather than a `tracing` target: the lines keep their
//! own destination and format whatever the process logs are set to
//! (level filters, human or JSON format), and cannot be filtered away.

use crate::config::AccessLogTarget;
use crate::ops::access_line::AccessLine;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Lines waiting for the writer before new ones are dropped.
pub const QUEUE: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    #[error("cannot open the access log {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("cannot start the access log writer: {0}")]
    Thread(io::Error),
}

/// The running access log.
#[derive(Debug)]
pub struct AccessLog {
    lines: SyncSender<Vec<u8>>,
    dropped: AtomicU64,
}

enum Sink {
    Stdout,
    File(BufWriter<File>),
}

impl AccessLog {
    /// Open `target` and start its writer.
    pub fn start(target: &AccessLogTarget) -> Result<Self, AccessLogError> {
        let sink = match target {
            AccessLogTarget::Stdout => Sink::Stdout,
            AccessLogTarget::File(path) => OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(|f| Sink::File(BufWriter::new(f)))
                .map_err(|source| AccessLogError::Open {
                    path: path.display().to_string(),
                    source,
                })?,
        };
        let (lines, queue) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_all(queue, sink))
            .map_err(AccessLogError::Thread)?;
        Ok(AccessLog {
            lines,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queue `line`; never blocks.
    pub fn record(&self, line: &AccessLine<'_>) {
        let bytes = match line.to_json_line() {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "access log line not written");
                return;
            }
        };
        match self.lines.try_send(bytes) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed);
                // Said once, then every 10 000 lines lost.
                if dropped.is_multiple_of(10_000) {
                    tracing::warn!(
                        dropped = dropped + 1,
                        "access log writer behind: lines dropped"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Lines dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: write what is queued, flush when the queue is empty.
fn write_all(queue: Receiver<Vec<u8>>, mut sink: Sink) {
    let mut failed = false;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while let Ok(line) = queue.try_recv() {
            batch.push(line);
        }
        let written = match &mut sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                batch
                    .iter()
                    .try_for_each(|l| out.write_all(l))
                    .and_then(|()| out.flush())
            }
            Sink::File(file) => batch
                .iter()
                .try_for_each(|l| file.write_all(l))
                .and_then(|()| file.flush()),
        };
        match written {
            Err(e) if !failed => {
                failed = true;
                tracing::error!(error = %e, "access log write failed");
            }
            Err(_) => {}
            Ok(()) => failed = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::access_line::Finished;
    use crate::ops::access_notes::AccessNotes;
    use pingora::http::RequestHeader;
    use std::time::{Duration, SystemTime};

    #[test]
    fn lines_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(&AccessLogTarget::File(path.clone())).unwrap();
        let req = RequestHeader::build("GET", b"/a?b=c", None).unwrap();
        for id in ["r1", "r2"] {
            log.record(&AccessLine::of(&Finished {
                req: &req,
                request_id: id,
                trace_id: None,
                route: None,
                status: 404,
                decision: "no_route",
                notes: AccessNotes::default(),
                identity: None,
                client_ip: None,
                bytes_in: 0,
                bytes_out: 0,
                arrived: SystemTime::now(),
                took: Duration::ZERO,
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut text = String::new();
        while std::time::Instant::now() < deadline {
            text = std::fs::read_to_string(&path).unwrap();
            if text.lines().count() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"].to_string()
            })
            .collect();
        assert_eq!(ids, ["\"r1\"", "\"r2\""]);
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn an_unwritable_file_is_an_error() {
        let target = AccessLogTarget::File("/nonexistent-dir/access.log".into());
        assert!(AccessLog::start(&target).is_err());
    }
}
