//! hll commands. (Being written: see the Foundation issue.)

use super::CommandSpec;

/// hll command specs.
pub(crate) const SPECS: &[CommandSpec] = &[];
