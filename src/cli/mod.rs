//! The command-line interface: argument definitions and one module per group of subcommands.

pub mod check;
