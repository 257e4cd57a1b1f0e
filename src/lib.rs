//! shakedown: a passive TLS-metadata bot detector.
//!
//! This crate is the pipeline and the command line. Packets come from
//! `shakedown-capture` (sources, decoding, flow table, reassembly), fingerprints
//! from `shakedown-fingerprints` (pure TLS parsing and JA3/JA4); here they are
//! turned into output records and run summaries.

pub mod addrfmt;
pub mod capture_input;
pub mod capture_reader;
pub mod cli;
pub mod client_behaviour;
pub mod commands;
pub mod config;
pub mod connection_record;
pub mod decision_output;
pub mod decisions;
pub mod enforce;
pub mod features;
pub mod in_order;
pub mod json_line;
pub mod json_lines_out;
pub mod kafka_sink;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod model_keeper;
pub mod observations;
pub mod pipeline;
pub mod population;
pub mod privileges;
pub mod proposal;
pub mod rank_order;
pub mod run_summary;
pub mod scoring;
pub mod seen_order;
pub mod shard_counters;
pub mod snapshot_http;
pub mod spool;
pub mod stack_names;
pub mod timefmt;
