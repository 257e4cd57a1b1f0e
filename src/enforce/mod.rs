//! `shakedown enforce`: the consumer side. Reads decisions from Kafka, keeps the
//! active set (blocks with expiry, unblocks, renewals; rebuilt from the topic at
//! start), and keeps enforcement points in step: nftables sets, ipset, plain-text
//! external dynamic lists over HTTP, or a hook command. Each output receives
//! changes in batches, never one command per address.

pub mod active_set;
pub mod edl_server;
pub mod outputs;
