//! Pure, I/O-free TLS handshake parsing and fingerprinting.
//!
//! This crate knows nothing about packets, files or sockets. It takes bytes that a
//! capture layer has already put in order (a TCP byte stream, or the CRYPTO stream
//! of a QUIC Initial) and turns them into:
//!
//! * [`record::TlsStream`]: an incremental TLS record reader that reassembles
//!   handshake messages spanning several records, buffers nothing once the
//!   handshake messages it needs are complete, and reports every record header
//!   (content type and length: the size/timing features of the detector);
//! * [`hello::ClientHello`] / [`hello::ServerHello`]: the fields that fingerprints
//!   are made of;
//! * fingerprints: [`ja3`], [`ja4`], and our own TCP SYN signature [`tcp::TcpSyn::tcp_sig`].
//!   JA4S, JA4T and JA4TS are licensed under the FoxIO License 1.1 and are only
//!   compiled with the `ja4plus` cargo feature (see docs/fingerprints.md).
//!
//! Every parser here takes untrusted bytes and never panics on them.
#![forbid(unsafe_code)]

pub mod cache;
pub mod grease;
pub mod hello;
mod hex;
pub mod ja3;
pub mod ja4;
#[cfg(feature = "ja4plus")]
pub mod ja4s;
pub mod record;
pub mod reputation;
pub mod tcp;

pub use hello::{ClientHello, HelloError, ServerHello};
pub use record::{TlsEvent, TlsStream};
