//! Typed communication plan: `[smtp]`, `[[channels]]`, `[[escalation]]` policies, `[alerting]`
//! (severity → policy, grouping, delivery limits, ack links), `[[silences]]`, and the rollback
//! criteria and hook. Reading and validating them from TOML lives beside the other readers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};

use super::checks::Severity;
use super::launch::SecretSource;
use crate::domain::{Phase, Role};

/// Everything about telling people: the communication plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// `[smtp]`: how email is sent. Without it, email is written as `.eml` files to `outbox_dir`.
    pub smtp: Option<Smtp>,
    /// `[[channels]]`.
    pub channels: Vec<Channel>,
    /// `[[escalation]]`: escalation policies.
    pub policies: Vec<EscalationPolicy>,
    /// `[alerting] policies = { critical = "page", warning = "team-chat" }`: which policy each
    /// severity uses; a severity not named raises no notifications (the alert is still recorded).
    pub severity_policies: BTreeMap<Severity, String>,
    /// `[alerting] group_window` (default 2s): alerts opening this soon after a first one for the
    /// same recipients go out together as one message (the first is never held back).
    pub group_window: Duration,
    /// `[alerting] delivery_max_age` (default 1h): how long a notification is retried before it is
    /// given up and the failure raised through another channel.
    pub delivery_max_age: Duration,
    /// `[alerting] fallback_channel`: where delivery failures and golive's own trouble go when the
    /// usual channel fails.
    pub fallback_channel: Option<String>,
    /// `[alerting] public_url`: the daemon's address as people reach it, for acknowledgement links
    /// (default `http://` + the listen address).
    pub public_url: Option<String>,
    /// `[alerting] ack_link_ttl` (default 24h): how long a one-click acknowledgement link works.
    pub ack_link_ttl: Duration,
    /// `[alerting] ack_link_secret = { env = ... }`: the key that signs acknowledgement links
    /// (default: a random key kept in the data directory).
    pub ack_link_secret: Option<SecretSource>,
    /// `[alerting] outbox_dir` (default `<data_dir>/outbox`): where `.eml` files go without SMTP.
    pub outbox_dir: Option<PathBuf>,
    /// `[[silences]]`: maintenance windows known in advance.
    pub silences: Vec<PlanSilence>,
}

impl Alerting {
    /// The ids of the channels whose kind `keep` accepts, in plan order (the email channels a
    /// report may use, the alertmanager channels the heartbeat may name).
    pub fn channel_ids_where(&self, keep: impl Fn(&ChannelKind) -> bool) -> Vec<&str> {
        self.channels
            .iter()
            .filter(|channel| keep(&channel.kind))
            .map(|channel| channel.id.as_str())
            .collect()
    }
}

impl Default for Alerting {
    fn default() -> Self {
        Alerting {
            smtp: None,
            channels: Vec::new(),
            policies: Vec::new(),
            severity_policies: BTreeMap::new(),
            group_window: Duration::from_secs(2),
            delivery_max_age: Duration::from_secs(3600),
            fallback_channel: None,
            public_url: None,
            ack_link_ttl: Duration::from_secs(24 * 3600),
            ack_link_secret: None,
            outbox_dir: None,
            silences: Vec::new(),
        }
    }
}

/// Section `[smtp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    pub host: String,
    /// `port` (default 587 with starttls, 465 with tls, 25 with none).
    pub port: u16,
    /// `tls` (default `starttls`).
    pub tls: SmtpTls,
    /// `username`.
    pub username: Option<String>,
    /// `password = { env = ... }` or `{ file = ... }`.
    pub password: Option<SecretSource>,
    /// `from`: the From address, e.g. `golive <golive@shop.example>`.
    pub from: String,
    /// `helo` (default: the machine's host name).
    pub helo: Option<String>,
    /// `timeout` (default 10s).
    pub timeout: Duration,
}

/// `tls` of `[smtp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption; only with `allow_insecure = true`.
    None,
}

/// One `[[channels]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// `id`, referenced by escalation levels.
    pub id: String,
    pub kind: ChannelKind,
}

/// `kind = "email" | "webhook" | "alertmanager" | "pagerduty" | "opsgenie"`.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelKind {
    /// Email to the people a level notifies, plus `to` (always copied).
    Email {
        to: Vec<Recipient>,
    },
    Webhook(WebhookChannel),
    /// Forward alerts to an existing Alertmanager's `/api/v2/alerts`.
    Alertmanager {
        url: String,
        timeout: Duration,
    },
    /// PagerDuty's Events API v2: one incident per alert, acknowledged and resolved with it.
    PagerDuty(PagerDutyChannel),
    /// Opsgenie's Alert API: one alert per golive alert, acknowledged and closed with it.
    Opsgenie(OpsgenieChannel),
}

impl ChannelKind {
    /// The kind as the plan writes it (`email`, `pagerduty`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ChannelKind::Email { .. } => "email",
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Alertmanager { .. } => "alertmanager",
            ChannelKind::PagerDuty(_) => "pagerduty",
            ChannelKind::Opsgenie(_) => "opsgenie",
        }
    }

    /// Whether the channel is a pager service (PagerDuty, Opsgenie): it carries an alert's life
    /// (trigger, acknowledge, resolve), not messages.
    pub fn is_pager(&self) -> bool {
        matches!(self, ChannelKind::PagerDuty(_) | ChannelKind::Opsgenie(_))
    }
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Opsgenie's API (the EU region's is `https://api.eu.opsgenie.com`).
pub const OPSGENIE_API_URL: &str = "https://api.opsgenie.com";

/// `kind = "pagerduty"`.
#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyChannel {
    /// `routing_key = { env = ... }`: the integration key of the PagerDuty service (Events API v2).
    pub routing_key: SecretSource,
    /// `url` (default [`PAGERDUTY_EVENTS_URL`]).
    pub url: String,
    /// `webhook_secret = { env = ... }`: the signing secret of the PagerDuty V3 webhook
    /// subscription that reports acknowledgements back to golive (two-way; off without it).
    pub webhook_secret: Option<SecretSource>,
    /// `timeout` (default 10s).
    pub timeout: Duration,
}

/// `kind = "opsgenie"`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsgenieChannel {
    /// `api_key = { env = ... }`: an API integration's key, sent as `Authorization: GenieKey ...`.
    pub api_key: SecretSource,
    /// `url` (default [`OPSGENIE_API_URL`]): the API's base address.
    pub url: String,
    /// `timeout` (default 10s).
    pub timeout: Duration,
}

/// `kind = "webhook"`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookChannel {
    /// `url`: a plain URL, or `{ env = ... }` / `{ file = ... }` when it carries a token (as chat
    /// incoming-webhook URLs do).
    pub url: MaybeSecret,
    /// `format` (default `slack`): `slack` posts `{"text": ...}` (Slack, Mattermost, Rocket.Chat);
    /// `golive` posts the full alert as JSON; `teams` an Adaptive Card for a Microsoft Teams
    /// workflow webhook; `discord` a Discord webhook message with embeds.
    pub format: WebhookFormat,
    /// `headers`.
    pub headers: Vec<(String, String)>,
    /// `hmac_secret = { env = ... }`: signs the body with HMAC-SHA256.
    pub hmac_secret: Option<SecretSource>,
    /// `hmac_header` (default `X-Golive-Signature`): carries `sha256=<hex>`.
    pub hmac_header: String,
    /// `timeout` (default 10s).
    pub timeout: Duration,
}

/// A value that may be given in the plan or, when it is secret, from the environment or a file.
#[derive(Debug, Clone, PartialEq)]
pub enum MaybeSecret {
    Plain(String),
    Secret(SecretSource),
}

/// The body a webhook posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    #[default]
    Slack,
    Golive,
    /// A Microsoft Teams workflow ("Post to a channel when a webhook request is received"): a
    /// `message` carrying one Adaptive Card.
    Teams,
    /// A Discord webhook: `content` and embeds, every mention suppressed.
    Discord,
}

/// Who a notification goes to: a person, everyone with a role, or a plain address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    Person(String),
    Role(Role),
    Address(String),
}

/// One `[[escalation]]` policy.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationPolicy {
    pub id: String,
    /// `levels`: in order; level 1 usually `after = "0s"`.
    pub levels: Vec<EscalationLevel>,
    /// `repeat` (default 30m): the last level is notified again this often until acknowledged or
    /// resolved.
    pub repeat: Duration,
    /// `ack_timeout`: an acknowledgement lapses after this long if the check is still failing, and
    /// the alert re-opens at its current level.
    pub ack_timeout: Option<Duration>,
}

/// One level of a policy: `{ after = "5m", notify = ["ops_lead", "jonas"], channels = ["email", "chat"] }`.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationLevel {
    /// Time since the alert opened (levels' `after` increase).
    pub after: Duration,
    pub notify: Vec<Recipient>,
    pub channels: Vec<String>,
}

/// One `[[silences]]` entry of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSilence {
    pub id: String,
    /// `checks`: check ids it covers (all checks when empty).
    pub checks: Vec<String>,
    /// `severities`: severities it covers (all when empty).
    pub severities: Vec<Severity>,
    pub window: SilenceWindow,
    /// `comment`: why.
    pub comment: String,
}

/// When a silence applies.
#[derive(Debug, Clone, PartialEq)]
pub enum SilenceWindow {
    /// `start` / `end`: one window (local times in the launch's time zone, or with an offset).
    Once { start: Timestamp, end: Timestamp },
    /// `days` (default every day), `from` and `to` local times (`to` before `from` crosses
    /// midnight), in the launch's time zone.
    Recurring {
        days: Vec<Weekday>,
        from: Time,
        to: Time,
    },
}

/// `[rollback]` criteria: when these hold, alerts recommend rolling back and the rollback
/// recipients get the procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackCriterion {
    /// `checks` (all when empty).
    pub checks: Vec<String>,
    /// `severity` (default critical): the lowest severity that counts.
    pub severity: Severity,
    /// `phases` (default deploying, verifying, hypercare).
    pub phases: Vec<Phase>,
}

/// `[rollback.hook]`: what rolling back runs.
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackHook {
    /// `command = ["./rollback.sh", "--to", "1.9"]` (run in the plan's folder), with `timeout`.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    /// `webhook = "https://deploy.example/rollback"` (or a secret source), POSTed as JSON.
    Webhook { url: MaybeSecret, timeout: Duration },
}

/// Section `[rollback]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rollback {
    /// `procedure`: the rollback procedure, as text people follow.
    pub procedure: String,
    /// `criteria`: when alerts recommend a rollback.
    pub criteria: Vec<RollbackCriterion>,
    /// `notify` (default the project manager and dev lead roles): who gets the procedure when the
    /// criteria hold.
    pub notify: Vec<Recipient>,
    /// `[rollback.hook]`.
    pub hook: Option<RollbackHook>,
    /// `auto` (default false): run the hook by itself when the criteria hold.
    pub auto: bool,
}
