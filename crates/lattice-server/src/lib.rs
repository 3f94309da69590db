//! The Lattice network server: listener, connections, dispatch and the
//! commands that act on server or connection state.
//!
//! Depends on `lattice-resp` (wire format) and `lattice-engine` (command
//! semantics); owns all I/O, clocks and randomness that the engine takes as
//! inputs. The binary (`crates/lattice`) parses the command line, sets up
//! logging and calls [`Server::bind`] then [`Server::run`].

pub mod alloc;
mod builtin;
pub mod config;
mod connection;
pub mod data_check;
mod dispatch;
mod listener;
pub mod observe;
pub mod pubsub;
mod reply_codec;
pub mod scripting;
pub mod shared;
pub mod tracking;
mod transaction;
pub mod write_path;

pub use config::{ConfigError, ServerConfig};
pub use listener::Server;
pub use reply_codec::write_reply;

/// The Redis version Lattice reports (INFO `redis_version`, HELLO `version`)
/// so client libraries enable the features it implements.
pub const REDIS_VERSION: &str = "7.0.15";
