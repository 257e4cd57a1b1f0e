//! The on-disk spool of decisions waiting for Kafka: append-only, fsync'd in
//! batches, bounded in size. Decisions are appended as JSON lines; a separate
//! file holds the byte offset up to which the broker has acknowledged them.
//! After a crash or a restart, everything after that offset is sent again (in
//! order); decision ids make redelivery harmless for consumers.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Counters of the spool.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpoolStats {
    pub appended: u64,
    /// Decisions refused because the spool was full.
    pub refused: u64,
    pub committed: u64,
}

pub struct Spool {
    dir: PathBuf,
    data: File,
    /// Bytes in the data file.
    len: u64,
    /// Bytes acknowledged by the broker.
    committed: u64,
    cap_bytes: u64,
    unsynced: u32,
    sync_every: u32,
    pub stats: SpoolStats,
}

const DATA: &str = "decisions.jsonl";
const COMMITTED: &str = "committed";

impl Spool {
    /// Opens (or creates) the spool in `dir`. At most `cap_bytes` of
    /// unacknowledged decisions are kept; more are refused (and counted).
    pub fn open(dir: &Path, cap_bytes: u64, sync_every: u32) -> Result<Spool, SpoolError> {
        let io = |e| SpoolError::Io {
            path: dir.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let data = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(dir.join(DATA))
            .map_err(io)?;
        let len = data.metadata().map_err(io)?.len();
        let committed = match std::fs::read_to_string(dir.join(COMMITTED)) {
            Ok(s) => s.trim().parse::<u64>().unwrap_or(0).min(len),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io(e)),
        };
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            data,
            len,
            committed,
            cap_bytes,
            unsynced: 0,
            sync_every: sync_every.max(1),
            stats: SpoolStats::default(),
        };
        // A line cut short by a crash is dropped: it was never acknowledged to anyone.
        spool.trim_partial_line()?;
        Ok(spool)
    }

    fn err(&self, e: io::Error) -> SpoolError {
        SpoolError::Io {
            path: self.dir.clone(),
            source: e,
        }
    }

    fn trim_partial_line(&mut self) -> Result<(), SpoolError> {
        if self.len == 0 {
            return Ok(());
        }
        let mut last = [0u8; 1];
        let mut f = File::open(self.dir.join(DATA)).map_err(|e| self.err(e))?;
        f.seek(SeekFrom::Start(self.len - 1))
            .map_err(|e| self.err(e))?;
        f.read_exact(&mut last).map_err(|e| self.err(e))?;
        if last[0] != b'\n' {
            let pending = self.read_from(self.committed, usize::MAX)?;
            let keep: u64 = pending
                .iter()
                .map(|(_, end)| *end)
                .max()
                .unwrap_or(self.committed);
            self.data.set_len(keep).map_err(|e| self.err(e))?;
            self.len = keep;
        }
        Ok(())
    }

    /// Bytes waiting for the broker.
    pub fn depth(&self) -> u64 {
        self.len - self.committed
    }

    /// Appends one decision (a JSON line without its newline). Returns false
    /// if the spool is full (the decision is counted as refused).
    pub fn append(&mut self, line: &[u8]) -> Result<bool, SpoolError> {
        if self.depth() + line.len() as u64 + 1 > self.cap_bytes {
            self.stats.refused += 1;
            return Ok(false);
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if let Err(e) = self.data.write_all(&buf) {
            // A full disk may have taken part of the line: cut it back, so
            // that the file holds whole lines and the next append starts
            // where `len` says.
            let _ = self.data.set_len(self.len);
            return Err(self.err(e));
        }
        self.len += buf.len() as u64;
        self.stats.appended += 1;
        self.unsynced += 1;
        if self.unsynced >= self.sync_every {
            self.sync()?;
        }
        Ok(true)
    }

    /// Forces what was appended to disk.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced > 0 {
            self.data.sync_data().map_err(|e| self.err(e))?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Up to `max` complete lines starting at byte `from`: (line, end offset).
    pub fn read_from(&self, from: u64, max: usize) -> Result<Vec<(Vec<u8>, u64)>, SpoolError> {
        let mut out = Vec::new();
        if from >= self.len {
            return Ok(out);
        }
        let mut f = File::open(self.dir.join(DATA)).map_err(|e| self.err(e))?;
        f.seek(SeekFrom::Start(from)).map_err(|e| self.err(e))?;
        let want = (self.len - from).min(16 << 20) as usize;
        let mut buf = vec![0u8; want];
        f.read_exact(&mut buf).map_err(|e| self.err(e))?;
        let mut pos = 0usize;
        while out.len() < max {
            let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
                break;
            };
            out.push((buf[pos..pos + nl].to_vec(), from + (pos + nl + 1) as u64));
            pos += nl + 1;
        }
        Ok(out)
    }

    /// The broker has everything before byte `upto`.
    pub fn commit(&mut self, upto: u64) -> Result<(), SpoolError> {
        if upto <= self.committed {
            return Ok(());
        }
        let upto = upto.min(self.len);
        let lines = self
            .read_from(self.committed, usize::MAX)?
            .iter()
            .filter(|(_, e)| *e <= upto)
            .count();
        self.stats.committed += lines as u64;
        self.committed = upto;
        if self.committed == self.len {
            // Everything delivered: start the file afresh so that it never grows.
            self.data.set_len(0).map_err(|e| self.err(e))?;
            self.len = 0;
            self.committed = 0;
        }
        let tmp = self.dir.join("committed.tmp");
        std::fs::write(&tmp, self.committed.to_string()).map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, self.dir.join(COMMITTED)).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Byte offset up to which decisions are acknowledged.
    pub fn committed(&self) -> u64 {
        self.committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shakedown-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn append_read_commit_reopen() {
        let d = dir("basic");
        let mut s = Spool::open(&d, 1 << 20, 2).unwrap();
        for i in 0..5 {
            assert!(s.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap());
        }
        let lines = s.read_from(0, 10).unwrap();
        assert_eq!(lines.len(), 5);
        s.commit(lines[1].1).unwrap();
        drop(s);
        // After a restart, the unacknowledged ones are still there, in order.
        let s = Spool::open(&d, 1 << 20, 2).unwrap();
        let rest = s.read_from(s.committed(), 10).unwrap();
        assert_eq!(rest.len(), 3);
        assert_eq!(rest[0].0, b"{\"n\":2}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn full_spool_refuses_and_counts() {
        let d = dir("cap");
        let mut s = Spool::open(&d, 20, 1).unwrap();
        assert!(s.append(b"0123456789").unwrap());
        assert!(!s.append(b"0123456789").unwrap());
        assert_eq!(s.stats.refused, 1);
        let end = s.read_from(0, 1).unwrap()[0].1;
        s.commit(end).unwrap();
        assert_eq!(s.depth(), 0);
        assert!(s.append(b"0123456789").unwrap());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let d = dir("torn");
        let mut s = Spool::open(&d, 1 << 20, 1).unwrap();
        s.append(b"{\"a\":1}").unwrap();
        drop(s);
        let mut f = OpenOptions::new().append(true).open(d.join(DATA)).unwrap();
        f.write_all(b"{\"b\":").unwrap();
        let s = Spool::open(&d, 1 << 20, 1).unwrap();
        let lines = s.read_from(0, 10).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(s.depth(), 8);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
