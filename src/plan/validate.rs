//! Validation (placeholder).
use std::path::Path;

use super::{Diagnostic, Loaded};

pub(super) fn parse_and_validate(_text: &str, _path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    Err(Vec::new())
}
