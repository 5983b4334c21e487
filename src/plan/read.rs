//! Reading the spanned TOML tree into raw values (placeholder).
