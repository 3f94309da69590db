//! list commands. (Being written: see the Foundation issue.)

use super::CommandSpec;

/// list command specs.
pub(crate) const SPECS: &[CommandSpec] = &[];
