//! A tiny HTTP/1.1 responder on its own thread that serves, read-only, the
//! latest snapshot some other thread published: the metrics of `live` and the
//! firewall lists of `enforce`. One request per connection, GET only; bodies
//! are rendered by the publisher, so a request costs a lock and a copy.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What a path of the snapshot gives: content type and body, `None` for 404.
pub type Route<T> = fn(&T, &str) -> Option<(&'static str, String)>;

pub struct SnapshotServer<T> {
    snapshot: Arc<RwLock<T>>,
    pub addr: SocketAddr,
}

impl<T: Default + Send + Sync + 'static> SnapshotServer<T> {
    /// Binds `addr` (errors name `option`, the flag it came from) and serves
    /// `route` over the snapshot from a thread called `thread`.
    pub fn start(
        addr: &str,
        option: &str,
        thread: &str,
        route: Route<T>,
        not_found: &'static str,
    ) -> anyhow::Result<SnapshotServer<T>> {
        let listener =
            TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("{option} {addr}: {e}"))?;
        let local = listener.local_addr()?;
        let snapshot = Arc::new(RwLock::new(T::default()));
        let s = snapshot.clone();
        std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let _ = serve(stream, &s, route, not_found);
                }
            })?;
        Ok(SnapshotServer {
            snapshot,
            addr: local,
        })
    }

    /// Replaces what is served.
    pub fn publish(&self, snapshot: T) {
        if let Ok(mut s) = self.snapshot.write() {
            *s = snapshot;
        }
    }
}

fn serve<T>(
    mut stream: TcpStream,
    snapshot: &RwLock<T>,
    route: Route<T>,
    not_found: &str,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while n < buf.len() {
        let r = stream.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let req = String::from_utf8_lossy(&buf[..n]);
    let path = req.split_whitespace().nth(1).unwrap_or("/");
    let found = if req.starts_with("GET ") {
        snapshot.read().ok().and_then(|s| route(&s, path))
    } else {
        None
    };
    let (status, ctype, body) = match found {
        Some((ctype, body)) => ("200 OK", ctype, body),
        None if req.starts_with("GET ") => ("404 Not Found", "text/plain", not_found.to_string()),
        None => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
