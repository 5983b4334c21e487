//! The HTTP API's contract as Rust types: the JSON bodies clients send ([`requests`]) and the
//! answers the daemon gives ([`answers`]). The API handlers build and parse exactly these types,
//! and the client (`crate::client`, used by the CLI and the demo) reads them back, so a renamed or
//! retyped field fails to build instead of printing blanks.
//!
//! A low layer: plain data with `Serialize + Deserialize`, no I/O, and nothing imported from the
//! rest of golive. Names of states, phases, kinds and severities travel as the strings the API
//! has always answered (snake case), so the wire format does not depend on the engine's enums.

pub mod answers;
pub mod requests;

pub use answers::*;
pub use requests::*;
