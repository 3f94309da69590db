//! Fuzz target: the request decoder and the frame parser never panic, the
//! decoder's buffered state stays bounded, and a frame that parses
//! re-serialises to something that parses to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lattice_resp::fuzzing::check_invariants(data);
});
