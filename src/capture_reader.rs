//! One interface's reader thread for `shakedown live`.
//!
//! It copies each packet into the bounded queue to the pipeline and, when the
//! queue is full, drops and counts instead of blocking the kernel ring. When
//! the interface goes away (a NIC reset, a driver reload, a virtual interface
//! deleted and created again) it reopens it, backing off up to every
//! [`MAX_BACKOFF`], for as long as the sensor runs: the sensor keeps its
//! state, and `shakedown_capture_up` says the interface is gone meanwhile.
//! Only an interface that cannot be reopened for lack of rights (after
//! `--user` gave them up) ends the sensor, with an error: retrying would not
//! help, a restart by the supervisor would.

use crossbeam_channel::{Sender, TrySendError};
use shakedown_capture::{LiveOptions, LiveSource, LiveStats, StopHandle, Timestamp};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// A captured frame on its way to the pipeline.
pub struct Captured {
    pub iface: usize,
    /// The link type of the capture it came from (a reopened capture may
    /// have another).
    pub linktype: i32,
    pub ts: Timestamp,
    pub data: Vec<u8>,
}

/// What one interface's reader counts (read by the metrics and the summary).
#[derive(Default)]
pub struct IfaceCounters {
    pub kernel_received: AtomicU64,
    pub kernel_dropped: AtomicU64,
    pub if_dropped: AtomicU64,
    pub queue_dropped: AtomicU64,
    /// Times the interface was opened again after it went away.
    pub reopens: AtomicU64,
    /// True while the interface is being captured.
    pub up: AtomicBool,
}

/// Longest wait between two attempts to reopen a lost interface.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The wait before reopen attempt `attempt` (0-based): 250 ms, doubling, at
/// most [`MAX_BACKOFF`].
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(16))).min(MAX_BACKOFF)
}

/// Whether a capture could not be opened for lack of rights (libpcap's words:
/// "You don't have permission to capture on that device (socket: Operation
/// not permitted)").
pub fn lacks_rights(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("permission") || r.contains("not permitted")
}

/// A running reader.
pub struct Reader {
    thread: JoinHandle<()>,
    /// Wakes the capture in use (replaced when the interface is reopened).
    wake: Arc<Mutex<Option<StopHandle>>>,
}

impl Reader {
    /// Wakes the reader if it is waiting for a packet (after `stop` was set).
    pub fn wake(&self) {
        if let Ok(w) = self.wake.lock() {
            if let Some(h) = w.as_ref() {
                h.stop();
            }
        }
    }

    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Where a reader that gives up says why; the sensor then stops and fails.
pub type Fatal = Arc<Mutex<Option<String>>>;

/// Starts the reader of interface `idx`, capturing with `src` (opened with
/// `opts`) until `stop` is set. A reader that gives up writes why to `fatal`
/// and sets `stop`.
pub fn spawn(
    idx: usize,
    mut src: LiveSource,
    opts: LiveOptions,
    tx: Sender<Captured>,
    stop: Arc<AtomicBool>,
    fatal: Fatal,
    counters: Arc<IfaceCounters>,
) -> std::io::Result<Reader> {
    let wake = Arc::new(Mutex::new(Some(src.stop_handle())));
    let w = wake.clone();
    let thread = std::thread::Builder::new()
        .name(format!("shakedown-capture-{idx}"))
        .spawn(move || {
            counters.up.store(true, Ordering::Relaxed);
            let iface = src.interface().to_string();
            // The capture's own counters when last read: each reopened
            // capture counts from zero, and libpcap's 32 bits wrap on a busy
            // link, so the totals are kept here, in 64 bits, from differences.
            let mut last = LiveStats::default();
            let mut last_stats = Instant::now();
            // Losses in a row (each within a minute of the one before): an
            // interface that keeps going away is retried ever more slowly.
            let (mut streak, mut last_loss): (u32, Option<Instant>) = (0, None);
            while !stop.load(Ordering::Relaxed) {
                match src.next_packet() {
                    Ok(Some(p)) => {
                        let item = Captured {
                            iface: idx,
                            linktype: p.linktype,
                            ts: p.ts,
                            data: p.data.to_vec(),
                        };
                        if let Err(TrySendError::Full(_)) = tx.try_send(item) {
                            counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        counters.up.store(false, Ordering::Relaxed);
                        // What the lost capture counted since the last read, if
                        // it still says.
                        if let Some(now) = src.stats() {
                            add_stats(&counters, now.since(last));
                        }
                        error!("capture on {e}; opening it again until it is back");
                        streak = match last_loss {
                            Some(t) if t.elapsed() < Duration::from_secs(60) => {
                                (streak + 1).min(16)
                            }
                            _ => 0,
                        };
                        last_loss = Some(Instant::now());
                        match reopen(&iface, &opts, streak, &stop, &counters) {
                            Ok(Some(s)) => {
                                src = s;
                                last = LiveStats::default();
                                if let Ok(mut w) = w.lock() {
                                    *w = Some(src.stop_handle());
                                }
                                counters.up.store(true, Ordering::Relaxed);
                            }
                            Ok(None) => break,
                            Err(why) => {
                                error!("{why}");
                                if let Ok(mut f) = fatal.lock() {
                                    f.get_or_insert(why);
                                }
                                stop.store(true, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
                if last_stats.elapsed() >= Duration::from_secs(1) {
                    if let Some(now) = src.stats() {
                        add_stats(&counters, now.since(last));
                        last = now;
                    }
                    last_stats = Instant::now();
                }
            }
        })?;
    Ok(Reader { thread, wake })
}

fn add_stats(c: &IfaceCounters, d: LiveStats) {
    let add = |n: &AtomicU64, v: u32| n.fetch_add(u64::from(v), Ordering::Relaxed);
    add(&c.kernel_received, d.received);
    add(&c.kernel_dropped, d.dropped);
    add(&c.if_dropped, d.if_dropped);
}

/// Opens `iface` again, backing off, until it opens (`Some`), the sensor stops
/// (`None`), or it cannot be opened for lack of rights (`Err`, the message).
/// The first wait is `backoff(first)`.
fn reopen(
    iface: &str,
    opts: &LiveOptions,
    first: u32,
    stop: &AtomicBool,
    counters: &IfaceCounters,
) -> Result<Option<LiveSource>, String> {
    let lost_at = Instant::now();
    let mut last_warning = Instant::now();
    for attempt in first.. {
        // Sleep in short steps: a stop must not wait for the backoff.
        let until = Instant::now() + backoff(attempt);
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        match LiveSource::open(iface, opts) {
            Ok(s) => {
                counters.reopens.fetch_add(1, Ordering::Relaxed);
                info!(
                    "capture on {iface} open again after {:.1} s ({} attempts)",
                    lost_at.elapsed().as_secs_f64(),
                    attempt - first + 1
                );
                return Ok(Some(s));
            }
            Err(e) if lacks_rights(&e.to_string()) => {
                return Err(format!(
                    "capture on {iface} lost and cannot be opened again: {e}. The process no longer has the rights to open a capture (`--user` gives them up; the systemd unit in docs/ keeps CAP_NET_RAW instead); stopping so that it can be restarted"
                ));
            }
            Err(e) => {
                if attempt == first || last_warning.elapsed() >= Duration::from_secs(60) {
                    warn!(
                        "capture on {iface} still lost after {:.0} s ({e}); trying every {} s",
                        lost_at.elapsed().as_secs_f64(),
                        MAX_BACKOFF.as_secs()
                    );
                    last_warning = Instant::now();
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_quarter_second_up_to_its_cap() {
        let waits: Vec<u64> = (0..8).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn libpcap_permission_errors_are_recognised() {
        assert!(lacks_rights(
            "eth1: cannot open capture: You don't have permission to capture on that device (socket: Operation not permitted)"
        ));
        assert!(!lacks_rights(
            "eth1: cannot open capture: No such device exists (SIOCGIFHWADDR: No such device)"
        ));
    }
}
