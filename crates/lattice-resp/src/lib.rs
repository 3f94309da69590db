//! The Redis wire protocol (RESP2 and RESP3), with no knowledge of commands.
//!
//! * [`RequestDecoder`] turns client bytes into argument vectors (multibulk or
//!   inline form), enforcing Redis's protocol limits with Redis's error texts.
//! * [`encode`] writes reply frames for either protocol version.
//! * [`Frame`] and [`parse_frame`] read any RESP2/RESP3 reply; clients and tests
//!   use them, the server does not.
//!
//! This crate depends on no other Lattice crate, and never panics on any byte
//! sequence (see the fuzz target under `fuzz/` and `tests/decoder_hostile.rs`).

pub mod encode;
mod error;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod inline;
mod request;

pub use error::ProtocolError;
pub use frame::{parse_frame, Frame};
pub use inline::split_inline_args;
pub use request::{Limits, RequestDecoder};
