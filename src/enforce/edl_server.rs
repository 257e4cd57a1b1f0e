//! Plain-text external dynamic lists over HTTP, as firewalls poll them (Palo
//! Alto, Fortinet, Check Point): one address, range or fingerprint per line.
//!
//! * `/edl/ipv4.txt`, `/edl/ipv6.txt`: addresses and ranges;
//! * `/edl/ja4.txt`: JA4 fingerprints (for TLS-terminating proxies);
//! * `/active.json`: the whole active set.
//!
//! A tiny HTTP/1.1 responder on its own thread: lists are rebuilt after each
//! batch and served from memory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Lists {
    pub ipv4: String,
    pub ipv6: String,
    pub ja4: String,
    pub active_json: String,
}

pub struct EdlServer {
    lists: Arc<RwLock<Lists>>,
    pub addr: SocketAddr,
}

impl EdlServer {
    pub fn start(addr: &str) -> anyhow::Result<EdlServer> {
        let listener =
            TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("--serve {addr}: {e}"))?;
        let local = listener.local_addr()?;
        let lists = Arc::new(RwLock::new(Lists::default()));
        let l = lists.clone();
        std::thread::Builder::new()
            .name("shakedown-edl".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let _ = serve(stream, &l);
                }
            })?;
        Ok(EdlServer { lists, addr: local })
    }

    pub fn update(&self, lists: Lists) {
        *self.lists.write().expect("lists lock") = lists;
    }
}

fn serve(mut stream: TcpStream, lists: &RwLock<Lists>) -> std::io::Result<()> {
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
    let l = lists.read().expect("lists lock");
    let (status, ctype, body) = match (req.starts_with("GET "), path) {
        (true, "/edl/ipv4.txt") => ("200 OK", "text/plain", l.ipv4.clone()),
        (true, "/edl/ipv6.txt") => ("200 OK", "text/plain", l.ipv6.clone()),
        (true, "/edl/ja4.txt") => ("200 OK", "text/plain", l.ja4.clone()),
        (true, "/active.json") => ("200 OK", "application/json", l.active_json.clone()),
        (true, _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        (false, _) => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    drop(l);
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
