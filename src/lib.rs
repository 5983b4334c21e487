//! golive: a daemon that runs a software launch the way a good go-live call does.
//!
//! See ARCHITECTURE.md for the map of the code and the invariants between layers.
#![forbid(unsafe_code)]

pub mod ack_link;
pub mod api;
pub mod app;
pub mod cli;
pub mod client;
pub mod clock;
pub mod core;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod error_chain;
pub mod heartbeat;
pub mod human;
pub mod liveness;
pub mod log_lines;
pub mod metrics;
pub mod notify;
pub mod plan;
pub mod probe;
pub mod random;
pub mod report;
pub mod sd_notify;
pub mod secrets;
pub mod store;
pub mod wire;
