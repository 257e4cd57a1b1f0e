//! A JSON-lines output, a file or standard output, that stays valid when
//! writes fail (a full disk): lines reach a file whole or not at all. A write
//! that fails is cut back to the last whole line, its lines are counted as
//! lost, and the next write tries again, so an output that recovers goes on
//! where it stopped. Used for `fingerprint`'s records, `--flows` and
//! decisions.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

enum Target {
    Stdout(io::Stdout),
    File {
        file: File,
        path: PathBuf,
        /// Bytes of whole lines in the file.
        len: u64,
    },
}

pub struct JsonLinesOut {
    target: Target,
    /// Whole lines waiting to be written.
    buf: Vec<u8>,
    lines_in_buf: u64,
    /// Bytes gathered before a write (0: every line is written at once).
    write_at: usize,
    /// Lines that could not be written.
    pub lost: u64,
    /// The first write error, for the final report.
    pub first_error: Option<io::Error>,
}

impl JsonLinesOut {
    fn new(target: Target, write_at: usize) -> JsonLinesOut {
        JsonLinesOut {
            target,
            buf: Vec::with_capacity(write_at + 4096),
            lines_in_buf: 0,
            write_at,
            lost: 0,
            first_error: None,
        }
    }

    /// Creates (truncates) `path`; lines are written once `write_at` bytes
    /// have gathered (0: each at once).
    pub fn create(path: &Path, write_at: usize) -> io::Result<JsonLinesOut> {
        let target = Target::File {
            file: File::create(path)?,
            path: path.to_path_buf(),
            len: 0,
        };
        Ok(JsonLinesOut::new(target, write_at))
    }

    /// Standard output, written as [`JsonLinesOut::create`] writes a file.
    pub fn stdout(write_at: usize) -> JsonLinesOut {
        JsonLinesOut::new(Target::Stdout(io::stdout()), write_at)
    }

    /// The file's path, `None` for standard output.
    pub fn path(&self) -> Option<&Path> {
        match &self.target {
            Target::File { path, .. } => Some(path),
            Target::Stdout(_) => None,
        }
    }

    /// Where the lines go, for messages.
    pub fn describe(&self) -> String {
        self.path()
            .map_or_else(|| "standard output".into(), |p| p.display().to_string())
    }

    /// Adds one line (`line` without its newline). Returns the write error
    /// if this call wrote and failed.
    pub fn push_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.push_with(|buf| {
            buf.extend_from_slice(line);
            buf.push(b'\n');
        })
    }

    /// Adds the one line `write` appends, its newline included (written in
    /// place: no copy). Returns the write error if this call wrote and failed.
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        write(&mut self.buf);
        self.lines_in_buf += 1;
        if self.buf.len() > self.write_at {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Writes the gathered lines: all of them, or none (counted as lost).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = match &mut self.target {
            Target::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(&self.buf).and_then(|_| out.flush())
            }
            Target::File { file, len, .. } => {
                let res = file.write_all(&self.buf);
                match res {
                    Ok(()) => *len += self.buf.len() as u64,
                    // Whatever part reached the file goes: the file ends with
                    // a whole line, and the next write starts right after it.
                    Err(_) => {
                        let _ = file.set_len(*len);
                        let _ = file.seek(SeekFrom::Start(*len));
                    }
                }
                res
            }
        };
        if let Err(e) = &res {
            self.lost += self.lines_in_buf;
            if self.first_error.is_none() {
                self.first_error = Some(io::Error::new(e.kind(), e.to_string()));
            }
        }
        self.buf.clear();
        self.lines_in_buf = 0;
        res
    }
}

impl Drop for JsonLinesOut {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The failure path (a full disk) is tested on a small tmpfs in
    // tests/full_disk.rs.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("shakedown-jlf-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("out.jsonl")
    }

    #[test]
    fn lines_are_gathered_and_written_whole() {
        let path = scratch("gather");
        let mut f = JsonLinesOut::create(&path, 20).unwrap();
        f.push_line(br#"{"a":1}"#).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        f.push_line(br#"{"b":22222222222}"#).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 26);
        f.push_line(br#"{"c":3}"#).unwrap();
        drop(f);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":22222222222}\n{\"c\":3}\n"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
