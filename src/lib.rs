//! shakedown: a passive TLS-metadata bot detector.
//!
//! This crate is the pipeline and the command line. Packets come from
//! `shakedown-capture` (sources, decoding, flow table, reassembly), fingerprints
//! from `shakedown-fingerprints` (pure TLS parsing and JA3/JA4); here they are
//! turned into output records and run summaries.

pub mod cli;
pub mod commands;
pub mod connection_record;
pub mod in_order;
pub mod json_line;
pub mod run_summary;
pub mod timefmt;
