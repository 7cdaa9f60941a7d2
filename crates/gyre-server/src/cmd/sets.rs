//! Placeholder: this module's command table is filled by its type's commands.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
