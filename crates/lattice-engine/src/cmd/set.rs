//! set commands. (Being written: see the Foundation issue.)

use super::CommandSpec;

/// set command specs.
pub(crate) const SPECS: &[CommandSpec] = &[];
