//! The typed `[launch]`, `[[people]]`, `[[checklist]]`, `[[risks]]` and `[server]` sections, and
//! where a secret comes from ([`SecretSource`]). Their readers are in `sections/`.

use std::net::SocketAddr;
use std::path::PathBuf;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::alertmanager_match;
use crate::domain::{Level, Owner, Phase, Role};

/// Section `[launch]`.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `name`: what is being launched, shown everywhere.
    pub name: String,
    /// `timezone`: the IANA name, e.g. `Europe/Berlin`.
    pub timezone_name: String,
    /// The time zone itself.
    pub timezone: TimeZone,
    /// `go_live`: the planned go-live instant (a local time in `timezone`, or with an offset).
    pub go_live: Timestamp,
    /// `hypercare_days`: how long hypercare lasts before the launch closes by itself (> 0).
    pub hypercare_days: f64,
    /// `data_dir`: where the store lives, resolved against the plan file's folder.
    pub data_dir: PathBuf,
}

impl Launch {
    /// The length of hypercare as a duration.
    pub fn hypercare(&self) -> SignedDuration {
        SignedDuration::from_secs_f64(self.hypercare_days * 86_400.0)
    }
}

/// One entry of `[[people]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub email: String,
    /// `chat`: optional chat handle, e.g. `@alice`.
    pub chat: Option<String>,
}

/// One entry of `[[checklist]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecklistItem {
    pub id: String,
    pub title: String,
    /// `owner`: a person id or a role.
    pub owner: Owner,
    /// `required` (default true): leaving the gated phase needs this item confirmed.
    pub required: bool,
    /// `gates` (default `go_no_go`): the phase this item must be confirmed before leaving.
    pub gates: Phase,
}

/// One entry of `[[risks]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    pub id: String,
    pub title: String,
    pub likelihood: Level,
    pub impact: Level,
    /// `contingency`: what to do when the risk materialises.
    pub contingency: String,
    /// `owner`: a person id or a role.
    pub owner: Owner,
    /// `checks`: ids of checks whose failure means this risk has materialised.
    pub checks: Vec<String>,
    /// `alertmanager`: which alerts from Alertmanager mean it has materialised (any matcher).
    pub alertmanager: Vec<alertmanager_match::LabelMatcher>,
}

impl Risk {
    /// Whether an alert from Alertmanager with `labels` means this risk has materialised.
    pub fn matches_alertmanager(
        &self,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        alertmanager_match::any_matches(&self.alertmanager, labels)
    }
}

/// Section `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// `listen` (default `127.0.0.1:9898`).
    pub listen: SocketAddr,
    /// `[[server.tokens]]`: where API write tokens come from.
    pub tokens: Vec<TokenSource>,
    /// `tls`: serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// `allowed_hosts`: host names (lowercase, no port) answered besides the listen address,
    /// `localhost` and the `public_url` host; requests naming another `Host` are refused.
    pub allowed_hosts: Vec<String>,
}

/// `[server] tls = { cert = "...", key = "..." }`: PEM files, resolved against the plan's folder
/// and read by the daemon (at start and on SIGHUP), never by `golive check`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// `cert`: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// `key`: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9898";

/// One `[[server.tokens]]` entry: a named token read from an environment variable or a file,
/// never written in the plan itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSource {
    /// `name`: who uses this token; it becomes the default author of writes made with it.
    pub name: String,
    pub source: SecretSource,
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// `env = "VAR"`.
    Env(String),
    /// `file = "path"`, resolved against the plan file's folder.
    File(PathBuf),
}
