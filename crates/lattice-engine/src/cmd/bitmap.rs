//! bitmap commands. (Being written: see the Foundation issue.)

use super::CommandSpec;

/// bitmap command specs.
pub(crate) const SPECS: &[CommandSpec] = &[];
