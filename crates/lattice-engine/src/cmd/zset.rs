//! zset commands. (Being written: see the Foundation issue.)

use super::CommandSpec;

/// zset command specs.
pub(crate) const SPECS: &[CommandSpec] = &[];
