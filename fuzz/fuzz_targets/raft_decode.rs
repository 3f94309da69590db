//! Fuzz target: the Raft layer's decoders of disk bytes (log entries, vote
//! records, snapshot containers) never panic, and entries round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lattice_raft::fuzzing::check_invariants(data);
});
