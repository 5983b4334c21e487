//! Plan fragments the test modules share, as builders, so a key renamed in the plan reader is
//! renamed here once: the fast critical http check most daemon tests probe, the `page` escalation
//! policy with its `[alerting]` table, the communication plan (`[smtp]` and channels) and a
//! Prometheus check whose server refuses connections. Each renders as TOML with `Display`, to be
//! appended to [`crate::helpers::BASE_PLAN`].
//!
//! ```ignore
//! let plan = format!(
//!     "{BASE_PLAN}{}{}{}",
//!     http_check("web", &target.url()).named("Shop front page"),
//!     channels(smtp.port, &hook.url, "2s"),
//!     page_policy().level("0s", &["bob"], &["email", "chat"]).repeat("10m"),
//! );
//! ```

use std::fmt;

/// Every phase in which checks run before the launch closes.
pub const ALL_PHASES: &[&str] = &["planned", "go_no_go", "deploying", "verifying", "hypercare"];

/// A TOML array of strings: `["a", "b"]`.
fn strings(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("\"{item}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A critical `[[checks]]` entry of kind `http`.
#[derive(Debug, Clone)]
pub struct HttpCheck {
    id: String,
    name: Option<String>,
    url: String,
    interval: String,
    timeout: String,
    failure_threshold: Option<u32>,
    phases: String,
    extra: String,
}

/// A critical http check of `url`, probed every 200 ms with a timeout of 150 ms, failing after
/// two failed probes, in every phase before closing.
pub fn http_check(id: &str, url: &str) -> HttpCheck {
    HttpCheck {
        id: id.to_string(),
        name: None,
        url: url.to_string(),
        interval: "200ms".to_string(),
        timeout: "150ms".to_string(),
        failure_threshold: Some(2),
        phases: strings(ALL_PHASES),
        extra: String::new(),
    }
}

impl HttpCheck {
    /// Its readable name (without one, golive shows the id).
    pub fn named(mut self, name: &str) -> HttpCheck {
        self.name = Some(name.to_string());
        self
    }

    pub fn every(mut self, interval: &str, timeout: &str) -> HttpCheck {
        self.interval = interval.to_string();
        self.timeout = timeout.to_string();
        self
    }

    /// Failing after `probes` failed probes in a row; `None` leaves golive's default.
    pub fn failing_after(mut self, probes: Option<u32>) -> HttpCheck {
        self.failure_threshold = probes;
        self
    }

    pub fn in_phases(mut self, phases: &[&str]) -> HttpCheck {
        self.phases = strings(phases);
        self
    }

    /// More keys of the check, one `key = value` per line (e.g. `risks = ["payments"]`).
    pub fn with(mut self, lines: &str) -> HttpCheck {
        self.extra.push_str(lines.trim());
        self.extra.push('\n');
        self
    }
}

impl fmt::Display for HttpCheck {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "\n[[checks]]\nid = \"{}\"", self.id)?;
        if let Some(name) = &self.name {
            writeln!(out, "name = \"{name}\"")?;
        }
        writeln!(
            out,
            "kind = \"http\"\nurl = \"{}\"\nseverity = \"critical\"\ninterval = \"{}\"\ntimeout = \"{}\"",
            self.url, self.interval, self.timeout
        )?;
        if let Some(probes) = self.failure_threshold {
            writeln!(out, "failure_threshold = {probes}")?;
        }
        writeln!(out, "phases = {}\n{}", self.phases, self.extra)
    }
}

/// The `page` escalation policy for critical alerts, with the `[alerting]` table naming it.
#[derive(Debug, Clone, Default)]
pub struct PagePolicy {
    levels: Vec<String>,
    repeat: Option<String>,
    alerting: String,
}

/// A `page` policy without levels yet: add them with [`PagePolicy::level`].
pub fn page_policy() -> PagePolicy {
    PagePolicy::default()
}

impl PagePolicy {
    /// A level `after` the opening, paging `notify` (people or roles) through `channels`.
    pub fn level(mut self, after: &str, notify: &[&str], channels: &[&str]) -> PagePolicy {
        self.levels.push(format!(
            "{{ after = \"{after}\", notify = {}, channels = {} }}",
            strings(notify),
            strings(channels)
        ));
        self
    }

    /// The last level is paged again every `every` until someone acknowledges.
    pub fn repeat(mut self, every: &str) -> PagePolicy {
        self.repeat = Some(every.to_string());
        self
    }

    /// More keys of `[alerting]`, one `key = value` per line (e.g. `group_window = "1s"`).
    pub fn alerting(mut self, lines: &str) -> PagePolicy {
        self.alerting.push_str(lines.trim());
        self.alerting.push('\n');
        self
    }
}

impl fmt::Display for PagePolicy {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "\n[[escalation]]\nid = \"page\"\nlevels = [")?;
        for level in &self.levels {
            writeln!(out, "    {level},")?;
        }
        writeln!(out, "]")?;
        if let Some(every) = &self.repeat {
            writeln!(out, "repeat = \"{every}\"")?;
        }
        writeln!(
            out,
            "\n[alerting]\npolicies = {{ critical = \"page\" }}\n{}",
            self.alerting
        )
    }
}

/// The communication plan most tests use: `[smtp]` to a test SMTP server on loopback (plain,
/// From `golive@test.example`), an `email` channel and a `chat` webhook to `hook` with
/// `chat_timeout`.
pub fn channels(smtp_port: u16, hook: &str, chat_timeout: &str) -> String {
    format!(
        r#"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
allow_insecure = true
from = "golive <golive@test.example>"
timeout = "5s"

[[channels]]
id = "email"
kind = "email"

[[channels]]
id = "chat"
kind = "webhook"
url = "{hook}"
timeout = "{chat_timeout}"
"#
    )
}

/// A Prometheus server `prom` at `address`, where nothing listens, and the critical check
/// `error-rate` that queries it every 200 ms in `phases`: a check whose state golive cannot tell.
pub fn unreachable_prometheus_check(address: std::net::SocketAddr, phases: &[&str]) -> String {
    format!(
        r#"
[[prometheus]]
id = "prom"
url = "http://{address}"
timeout = "150ms"

[[checks]]
id = "error-rate"
kind = "prometheus"
query = "sum(rate(http_requests_total{{status=~\"5..\"}}[1m]))"
threshold = "> 0.05"
severity = "critical"
interval = "200ms"
timeout = "150ms"
phases = {}
"#,
        strings(phases)
    )
}

/// `config/example.toml` with every key the plan reader knows: the `[server] tls` it shows
/// commented out (the certificate files are the user's) switched on, and a second Prometheus
/// server with basic authentication (the example's uses a bearer token, and one server cannot
/// have both). The docs and schema tests read the reader's known keys from it.
pub fn example_with_every_key() -> String {
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"),
    )
    .expect("config/example.toml");
    example
        .replace("\n# tls = { cert", "\ntls = { cert")
        .replace("\n# [store]\n# url = ", "\n[store]\nurl = ")
        + r#"
[[prometheus]]
id = "second"
url = "http://127.0.0.1:9091"
basic = { username = "golive", password = { env = "PROMETHEUS_PASSWORD" } }
"#
}
