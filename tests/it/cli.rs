//! The CLI against a real daemon.
