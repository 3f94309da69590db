//! `lattice-bench`: a load generator for Lattice and the servers it is
//! compared with. It speaks RESP with its own small client (C connections,
//! P pipelined commands per connection, a key space of K keys, the set, get,
//! incr, lpush, zadd, hset and mixed workloads) and, behind the `etcd`
//! feature, etcd's gRPC KV API (put, range, mixed), so single-node and
//! cluster comparisons drive both sides with one client model. A run stops
//! after a number of requests or a duration and reports ops/s, p50/p99/p999
//! latency (HdrHistogram) and errors as JSON.
//!
//! The binary is a thin wrapper: [`config::parse_args`] then [`run::run`]
//! then [`stats::Report::to_json`]. Tests call the same functions.

pub mod config;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod resp;
pub mod run;
pub mod stats;
pub mod workload;

pub use config::{parse_args, Config, EtcdRead, Parsed, Protocol, Workload};
pub use run::{run, run_async};
pub use stats::Report;
