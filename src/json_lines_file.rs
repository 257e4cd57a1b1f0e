//! A JSON-lines output file that stays valid when writes fail (a full disk):
//! lines reach the file whole or not at all. A write that fails is cut back
//! to the last whole line, its lines are counted as lost, and the next write
//! tries again, so an output that recovers goes on where it stopped.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct JsonLinesFile {
    file: File,
    path: PathBuf,
    /// Bytes of whole lines in the file.
    len: u64,
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

impl JsonLinesFile {
    /// Creates (truncates) `path`; lines are written once `write_at` bytes
    /// have gathered (0: each at once).
    pub fn create(path: &Path, write_at: usize) -> io::Result<JsonLinesFile> {
        Ok(JsonLinesFile {
            file: File::create(path)?,
            path: path.to_path_buf(),
            len: 0,
            buf: Vec::with_capacity(write_at + 4096),
            lines_in_buf: 0,
            write_at,
            lost: 0,
            first_error: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds one line (`line` without its newline). Returns the write error
    /// if this call wrote and failed.
    pub fn push_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
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
        let res = self.file.write_all(&self.buf);
        match res {
            Ok(()) => self.len += self.buf.len() as u64,
            Err(ref e) => {
                self.lost += self.lines_in_buf;
                // Whatever part reached the file goes: the file ends with a
                // whole line, and the next write starts right after it.
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                if self.first_error.is_none() {
                    self.first_error = Some(io::Error::new(e.kind(), e.to_string()));
                }
            }
        }
        self.buf.clear();
        self.lines_in_buf = 0;
        res
    }
}

impl Drop for JsonLinesFile {
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
        let mut f = JsonLinesFile::create(&path, 20).unwrap();
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
