//! A problem found in a plan, with where it is and how to fix it.
//! (Placeholder: the plan-validation work fills this in.)

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticLevel {
    Error,
    Warning,
}

/// One problem in a plan file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub level: DiagnosticLevel,
    pub line: usize,
    pub column: usize,
    /// The key path, e.g. `checklist[2].owner`.
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}
