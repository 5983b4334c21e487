//! An error with its sources on one line (`cannot open the store: database is locked`), the way
//! logs, API answers for the operator, the CLI and the demo print errors. A leaf: it imports
//! nothing of golive, so every layer can use it.

/// An error with its sources, on one line, separated by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the store")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_source_follows_its_error_on_one_line() {
        let error = Outer(std::io::Error::other("database is locked"));
        assert_eq!(
            error_chain(&error),
            "cannot open the store: database is locked"
        );
    }
}
