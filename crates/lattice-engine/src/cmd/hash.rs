//! hash commands. (Being written: see the Foundation issue.)

use super::CommandSpec;

/// hash command specs.
pub(crate) const SPECS: &[CommandSpec] = &[];
