//! `golive check` tests (placeholder).
