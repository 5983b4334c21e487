//! The dispatcher: drains the outbox. It reads due notifications (a read connection), delivers
//! each through its channel's sender, merges notifications that share a group key into one
//! message, and reports every outcome to the engine, which records it (retry with backoff, give up
//! after the maximum age, raise through the fallback channel). It never writes the store itself.
//!
//! Delivery is at least once: a notification whose outcome was not recorded (a crash between
//! sending and recording) is sent again after a restart, never lost.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::lanes::{LaneChange, LaneOutcome, Lanes, PROBE_EVERY, QueueKey};
use super::outcome::{DeliveryReport, DispatchLink};
use super::{
    AlertmanagerForwarder, DeliveryError, EmailTransport, ForwardedAlert, HookRun, OpsgenieSender,
    OutboxKind, OutboxPayload, PagerDutySender, ROLLBACK_HOOK, WebhookSender,
};
use crate::clock::Clock;
use crate::core::message::{GoliveBody, TestBody};
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::plan::alerting::{ChannelKind, MaybeSecret, RollbackHook};
use crate::report::message_id::MessageIds;
use crate::report::notice::{self, Notice, Thread};
use crate::store::Reader;
use crate::store::StoreError;
use crate::store::alerts::{DueOutbox, OutboxBacklog, OutboxRow, UnreadableRow};

/// How much of a hook's output is kept in the log.
const HOOK_OUTPUT_MAX: usize = 4000;

/// The longest sleep between looks at the outbox (retries become due without a wake-up).
const IDLE: Duration = Duration::from_secs(1);

/// How long a stop without a lease (SQLite) waits for a send in flight: one not finished by then
/// is sent again after the restart. A rollback hook is always waited for (see [`stop_drain`]).
const UNLEASED_STOP: Duration = Duration::from_secs(3);

/// What a stop still does after the drain (the engine stops, the store closes, the lease is
/// given up): added to the time systemd is asked to wait (`EXTEND_TIMEOUT_USEC`).
const AFTER_DRAIN: Duration = Duration::from_secs(15);

/// Every channel's sender, built from one plan (again on a reload: `super::live`).
pub struct Senders {
    email: EmailTransport,
    /// The plan's channels by id.
    channels: HashMap<String, ChannelSender>,
    hook: Option<RollbackHook>,
    /// The launch's name and the ops leads' addresses, for golive's own trouble.
    launch: String,
    ops: Vec<(Option<String>, String)>,
    /// The plan's folder: where a hook command runs.
    plan_dir: PathBuf,
    client: reqwest::Client,
    message_ids: MessageIds,
    /// The longest one delivery can take per channel, by its own timeouts (the rollback hook's
    /// under [`ROLLBACK_HOOK`]): how long a stop waits for one in flight.
    longest_sends: HashMap<String, Duration>,
}

/// Where `.eml` files go without SMTP: the plan's `outbox_dir`, else `<data_dir>/outbox`.
pub fn outbox_dir(plan: &Plan) -> PathBuf {
    plan.alerting
        .outbox_dir
        .clone()
        .unwrap_or_else(|| plan.launch.data_dir.join("outbox"))
}

/// Per channel, the longest one delivery takes before its own timeouts end it: an SMTP session
/// is given its timeout to connect and three more to finish (`email.rs`), an HTTP channel its
/// request timeout, a rollback hook its own; a second more for the answer to be read.
fn longest_sends(plan: &Plan) -> HashMap<String, Duration> {
    let email = plan
        .alerting
        .smtp
        .as_ref()
        .map_or(Duration::from_secs(5), super::email::longest_session);
    let mut longest: HashMap<String, Duration> = plan
        .alerting
        .channels
        .iter()
        .map(|channel| {
            let took = match &channel.kind {
                ChannelKind::Email { .. } => email,
                ChannelKind::Webhook(webhook) => webhook.timeout,
                ChannelKind::Alertmanager { timeout, .. } => *timeout,
                ChannelKind::PagerDuty(pagerduty) => pagerduty.timeout,
                ChannelKind::Opsgenie(opsgenie) => opsgenie.timeout,
            };
            (channel.id.clone(), took + Duration::from_secs(1))
        })
        .collect();
    if let Some(RollbackHook::Command { timeout, .. } | RollbackHook::Webhook { timeout, .. }) =
        &plan.rollback.hook
    {
        longest.insert(ROLLBACK_HOOK.to_string(), *timeout + Duration::from_secs(1));
    }
    longest
}

/// What delivers through one plan channel: its kind, and the sender of a webhook or
/// Alertmanager channel (email channels share the one transport).
enum ChannelSender {
    Email,
    Webhook(WebhookSender),
    Alertmanager(AlertmanagerForwarder),
    PagerDuty(PagerDutySender),
    Opsgenie(OpsgenieSender),
}

impl Senders {
    pub fn new(plan: &Plan, client: reqwest::Client, message_ids: MessageIds) -> Senders {
        let email = EmailTransport::new(plan.alerting.smtp.as_ref(), &outbox_dir(plan));
        let channels = plan
            .alerting
            .channels
            .iter()
            .map(|channel| {
                let sender = match &channel.kind {
                    ChannelKind::Email { .. } => ChannelSender::Email,
                    ChannelKind::Webhook(webhook) => {
                        ChannelSender::Webhook(WebhookSender::new(webhook, client.clone()))
                    }
                    ChannelKind::Alertmanager { url, timeout } => ChannelSender::Alertmanager(
                        AlertmanagerForwarder::new(url, *timeout, client.clone()),
                    ),
                    ChannelKind::PagerDuty(pagerduty) => {
                        ChannelSender::PagerDuty(PagerDutySender::new(pagerduty, client.clone()))
                    }
                    ChannelKind::Opsgenie(opsgenie) => {
                        ChannelSender::Opsgenie(OpsgenieSender::new(opsgenie, client.clone()))
                    }
                };
                (channel.id.clone(), sender)
            })
            .collect();
        Senders {
            email,
            channels,
            hook: plan.rollback.hook.clone(),
            launch: plan.launch.name.clone(),
            ops: plan
                .people
                .iter()
                .filter(|person| person.role == crate::domain::Role::OpsLead)
                .map(|person| (Some(person.name.clone()), person.email.clone()))
                .collect(),
            plan_dir: plan
                .source
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from),
            client,
            message_ids,
            longest_sends: longest_sends(plan),
        }
    }

    /// The longest a delivery on `channel` can take before its own timeouts end it.
    fn longest_send(&self, channel: &str) -> Duration {
        (self.longest_sends.get(channel).copied()).unwrap_or(Duration::from_secs(10))
    }

    /// What is wrong with the senders' set-up (missing secrets), to say at start.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(problem) = self.email.setup_problem() {
            problems.push(format!("email: {problem}"));
        }
        for (id, sender) in self.webhooks() {
            if let Some(problem) = sender.setup_problem() {
                problems.push(format!("channel `{id}`: {problem}"));
            }
        }
        for (id, sender) in &self.channels {
            let problem = match sender {
                ChannelSender::PagerDuty(sender) => sender.setup_problem(),
                ChannelSender::Opsgenie(sender) => sender.setup_problem(),
                _ => None,
            };
            if let Some(problem) = problem {
                problems.push(format!("channel `{id}`: {problem}"));
            }
        }
        problems
    }

    /// A line per channel saying where it delivers.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("email: {}", self.email.describe())];
        for (id, sender) in &self.channels {
            match sender {
                ChannelSender::Email => {}
                ChannelSender::Webhook(sender) => {
                    lines.push(format!("channel `{id}`: {}", sender.describe()));
                }
                ChannelSender::Alertmanager(sender) => {
                    lines.push(format!("channel `{id}`: {}", sender.describe()));
                }
                ChannelSender::PagerDuty(sender) => {
                    lines.push(format!("channel `{id}`: {}", sender.describe()));
                }
                ChannelSender::Opsgenie(sender) => {
                    lines.push(format!("channel `{id}`: {}", sender.describe()));
                }
            }
        }
        lines
    }

    /// The HTTP client the webhook and Alertmanager senders share (one connection pool).
    pub fn http_client(&self) -> reqwest::Client {
        self.client.clone()
    }

    pub fn email(&self) -> &EmailTransport {
        &self.email
    }

    pub fn webhook(&self, channel: &str) -> Option<&WebhookSender> {
        match self.channels.get(channel) {
            Some(ChannelSender::Webhook(sender)) => Some(sender),
            _ => None,
        }
    }

    pub fn alertmanager(&self, channel: &str) -> Option<&AlertmanagerForwarder> {
        match self.channels.get(channel) {
            Some(ChannelSender::Alertmanager(sender)) => Some(sender),
            _ => None,
        }
    }

    /// The signing secrets of the PagerDuty channels' V3 webhooks (two-way), by channel id.
    pub fn pagerduty_webhook_secrets(&self) -> Vec<(&str, &crate::domain::Secret)> {
        self.channels
            .iter()
            .filter_map(|(id, sender)| match sender {
                ChannelSender::PagerDuty(sender) => {
                    sender.webhook_secret().map(|secret| (id.as_str(), secret))
                }
                _ => None,
            })
            .collect()
    }

    /// Why the PagerDuty channels' configured webhook secrets cannot be read, one per channel.
    pub fn pagerduty_webhook_secret_problems(&self) -> Vec<&str> {
        self.channels
            .values()
            .filter_map(|sender| match sender {
                ChannelSender::PagerDuty(sender) => sender.webhook_secret_problem(),
                _ => None,
            })
            .collect()
    }

    /// The webhook channels' senders, by channel id.
    fn webhooks(&self) -> impl Iterator<Item = (&String, &WebhookSender)> {
        self.channels
            .iter()
            .filter_map(|(id, sender)| match sender {
                ChannelSender::Webhook(sender) => Some((id, sender)),
                _ => None,
            })
    }

    /// Delivers one (possibly merged) message through `channel`; an email is dated `now`.
    pub async fn deliver(
        &self,
        channel: &str,
        payloads: &[OutboxPayload],
        now: jiff::Timestamp,
    ) -> Result<String, DeliveryError> {
        let Some(first) = payloads.first() else {
            return Err(DeliveryError::Permanent("nothing to deliver".into()));
        };
        if let OutboxPayload::RollbackHook { run } = first {
            // Only from its own outbox channel, where it is recorded as started before it runs.
            if channel != ROLLBACK_HOOK {
                return Err(DeliveryError::Permanent(format!(
                    "a rollback-hook run on channel `{channel}` is not run"
                )));
            }
            return self.run_hook(run).await;
        }
        let Some(sender) = self.channels.get(channel) else {
            return Err(DeliveryError::Permanent(format!(
                "channel `{channel}` is not in the plan (any more)"
            )));
        };
        match (first, sender) {
            (OutboxPayload::Email { .. }, ChannelSender::Email) => {
                let email = super::merge::emails(payloads).ok_or_else(|| {
                    DeliveryError::Permanent("unreadable email in the outbox".into())
                })?;
                self.email
                    .send(&email, now)
                    .await
                    .map(|delivered| delivered.answer)
            }
            (OutboxPayload::Webhook { .. }, ChannelSender::Webhook(sender)) => {
                let message = super::merge::webhooks(payloads).ok_or_else(|| {
                    DeliveryError::Permanent("unreadable webhook message in the outbox".into())
                })?;
                sender
                    .send(&message, now)
                    .await
                    .map(|delivered| delivered.answer)
            }
            (OutboxPayload::Alertmanager { .. }, ChannelSender::Alertmanager(sender)) => {
                let alerts: Vec<ForwardedAlert> = payloads
                    .iter()
                    .filter_map(|payload| match payload {
                        OutboxPayload::Alertmanager { alerts } => Some(alerts.iter().cloned()),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                sender
                    .send(&alerts, now)
                    .await
                    .map(|delivered| delivered.answer)
            }
            // A pager event is never grouped: each row is one step of one alert.
            (OutboxPayload::Pager { event }, ChannelSender::PagerDuty(sender)) => sender
                .send(event, now)
                .await
                .map(|delivered| delivered.answer),
            (OutboxPayload::Pager { event }, ChannelSender::Opsgenie(sender)) => sender
                .send(event, now)
                .await
                .map(|delivered| delivered.answer),
            (payload, _) => {
                let expected = match payload {
                    OutboxPayload::Email { .. } => "email",
                    OutboxPayload::Webhook { .. } => "webhook",
                    OutboxPayload::Alertmanager { .. } => "alertmanager",
                    OutboxPayload::RollbackHook { .. } => ROLLBACK_HOOK,
                    OutboxPayload::Pager { .. } => "pagerduty or opsgenie",
                };
                Err(DeliveryError::Permanent(format!(
                    "channel `{channel}` is no longer of kind {expected} in the plan"
                )))
            }
        }
    }
}

impl Senders {
    /// Sends golive's own trouble straight to the ops lead through every channel, without the
    /// outbox (used when the store itself is failing); best effort, the outcome is only logged.
    pub async fn tell_ops_directly(&self, text: &str, now: jiff::Timestamp) {
        let trouble = Notice::plain(
            format!("[WARNING] {}: golive's store is failing", self.launch),
            text,
            GoliveBody::warning(&self.launch, text),
        );
        if !self.ops.is_empty() {
            let email = notice::email(
                self.ops.clone(),
                &trouble,
                self.message_ids.fresh("golive-trouble"),
                Thread::default(),
            );
            match self.email.send(&email, now).await {
                Ok(delivered) => {
                    tracing::warn!(answer = %delivered.answer, "told the ops lead that the store is failing")
                }
                Err(error) => {
                    tracing::error!(%error, "could not tell the ops lead by email that the store is failing")
                }
            }
        }
        for (id, sender) in self.webhooks() {
            if let Err(error) = sender.send(&notice::post(&trouble), now).await {
                tracing::error!(channel = %id, %error, "could not tell the ops lead through this channel that the store is failing");
            }
        }
    }

    /// Runs the plan's rollback hook. A failing hook is never retried by itself (rolling back twice
    /// can do harm); its output is logged for the people on the call.
    async fn run_hook(&self, run: &HookRun) -> Result<String, DeliveryError> {
        let (reason, by) = (run.reason.clone(), run.by.clone());
        match &self.hook {
            None => Err(DeliveryError::Permanent(
                "the plan has no rollback hook".into(),
            )),
            Some(RollbackHook::Command { argv, timeout }) => {
                let Some((program, args)) = argv.split_first() else {
                    return Err(DeliveryError::Permanent(
                        "the rollback hook command is empty".into(),
                    ));
                };
                let mut command = tokio::process::Command::new(program);
                command
                    .args(args)
                    .current_dir(&self.plan_dir)
                    .env("GOLIVE_ROLLBACK_REASON", &reason)
                    .env("GOLIVE_ROLLBACK_BY", &by)
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true);
                let output = match tokio::time::timeout(*timeout, command.output()).await {
                    Err(_) => {
                        return Err(DeliveryError::Permanent(format!(
                            "the rollback hook `{program}` did not finish within {}",
                            crate::human::std_duration(*timeout)
                        )));
                    }
                    Ok(Err(error)) => {
                        return Err(DeliveryError::Permanent(format!(
                            "cannot run the rollback hook `{program}`: {error}"
                        )));
                    }
                    Ok(Ok(output)) => output,
                };
                let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&output.stderr));
                let text = truncate(text.trim(), HOOK_OUTPUT_MAX);
                if output.status.success() {
                    Ok(format!("`{program}` exited with 0: {text}"))
                } else {
                    Err(DeliveryError::Permanent(format!(
                        "`{program}` failed ({}): {text}",
                        output.status
                    )))
                }
            }
            Some(RollbackHook::Webhook { url, timeout }) => {
                let url = match url {
                    MaybeSecret::Plain(url) => url.clone(),
                    MaybeSecret::Secret(source) => crate::secrets::read_secret(source)
                        .map_err(DeliveryError::Permanent)?
                        .expose()
                        .to_string(),
                };
                let answer = self
                    .client
                    .post(url)
                    .timeout(*timeout)
                    .json(run)
                    .send()
                    .await
                    .map_err(|error| {
                        DeliveryError::Retryable(format!(
                            "rollback webhook: {}",
                            if error.is_timeout() {
                                "timeout".to_string()
                            } else {
                                "request failed".to_string()
                            }
                        ))
                    })?;
                let status = answer.status();
                let body = truncate(
                    answer.text().await.unwrap_or_default().trim(),
                    HOOK_OUTPUT_MAX,
                );
                if status.is_success() {
                    Ok(format!("rollback webhook answered {status}: {body}"))
                } else if status.is_server_error() {
                    Err(DeliveryError::Retryable(format!(
                        "rollback webhook answered {status}: {body}"
                    )))
                } else {
                    Err(DeliveryError::Permanent(format!(
                        "rollback webhook answered {status}: {body}"
                    )))
                }
            }
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The outcome of testing one channel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelTest {
    pub channel: String,
    pub kind: &'static str,
    #[serde(skip)]
    pub delivered: bool,
    /// `delivered` or `failed`.
    pub result: &'static str,
    /// The server's answer, or why it failed.
    pub answer: String,
}

/// Sends a test message through each channel of the plan (or only the `wanted` ones) now and
/// reports each outcome: email to everyone an escalation level or the channel names, so each can
/// confirm they receive it; a line to each webhook; a short-lived info alert to each Alertmanager.
pub async fn test_channels(
    plan: &Plan,
    senders: &Senders,
    wanted: &[String],
    by: &str,
    now: jiff::Timestamp,
) -> Vec<ChannelTest> {
    let mut results = Vec::new();
    for channel in plan
        .alerting
        .channels
        .iter()
        .filter(|channel| wanted.is_empty() || wanted.contains(&channel.id))
    {
        let test = test_notice(plan, &channel.id, by, now);
        let (kind, result) = match &channel.kind {
            ChannelKind::Email { to } => (
                "email",
                send_test_email(plan, senders, &channel.id, to, &test, now).await,
            ),
            ChannelKind::Webhook(_) => (
                "webhook",
                send_test_post(senders, &channel.id, &test, now).await,
            ),
            ChannelKind::Alertmanager { .. } => (
                "alertmanager",
                send_test_alert(plan, senders, &channel.id, &test.text, now).await,
            ),
            ChannelKind::PagerDuty(_) | ChannelKind::Opsgenie(_) => (
                channel.kind.name(),
                send_test_page(plan, senders, &channel.id, &test, now).await,
            ),
        };
        results.push(ChannelTest::of(&channel.id, kind, result));
    }
    results
}

impl ChannelTest {
    /// The outcome of testing `channel` of `kind`: the server's answer, or why it failed.
    fn of(channel: &str, kind: &'static str, result: Result<String, DeliveryError>) -> Self {
        ChannelTest {
            channel: channel.to_string(),
            kind,
            delivered: result.is_ok(),
            result: if result.is_ok() {
                "delivered"
            } else {
                "failed"
            },
            answer: match result {
                Ok(answer) => answer,
                Err(error) => error.to_string(),
            },
        }
    }
}

/// The test message for `channel`: which launch, which channel, who sent it and when.
fn test_notice(plan: &Plan, channel: &str, by: &str, now: jiff::Timestamp) -> Notice {
    let text = format!(
        "golive notification test for \"{}\" via `{}`, sent by {by} at {}. If you read this, the channel works.",
        plan.launch.name,
        channel,
        crate::human::time(now, &plan.launch.timezone)
    );
    Notice {
        subject: format!(
            "[TEST] {}: golive notification test via {}",
            plan.launch.name, channel
        ),
        text: text.clone(),
        html: None,
        // `by` is whoever called the API: plain text in chat.
        chat: crate::report::alert_message::chat_escape(&text),
        json: GoliveBody::Test(TestBody {
            launch: plan.launch.name.clone(),
            channel: channel.to_string(),
            message: text,
        }),
    }
}

/// Emails the test to everyone the email `channel` reaches: its `to` and the people of every
/// escalation level that uses it.
async fn send_test_email(
    plan: &Plan,
    senders: &Senders,
    channel: &str,
    to: &[crate::plan::alerting::Recipient],
    test: &Notice,
    now: jiff::Timestamp,
) -> Result<String, DeliveryError> {
    let mut wanted = to.to_vec();
    for policy in &plan.alerting.policies {
        for level in policy
            .levels
            .iter()
            .filter(|level| level.channels.iter().any(|used| used == channel))
        {
            wanted.extend(level.notify.iter().cloned());
        }
    }
    let recipients: Vec<(Option<String>, String)> =
        crate::plan::recipients::resolve_recipients(plan, &wanted)
            .into_iter()
            .filter_map(|addressee| addressee.email.map(|email| (Some(addressee.name), email)))
            .collect();
    if recipients.is_empty() {
        return Err(DeliveryError::Permanent(
            "nobody to send a test to: no escalation level uses this channel and it has no `to`"
                .into(),
        ));
    }
    let email = notice::email(
        recipients,
        test,
        senders.message_ids.fresh(&format!("test-{channel}")),
        Thread::default(),
    );
    senders
        .email()
        .send(&email, now)
        .await
        .map(|delivered| delivered.answer)
}

/// Posts the test to the webhook `channel`.
async fn send_test_post(
    senders: &Senders,
    channel: &str,
    test: &Notice,
    now: jiff::Timestamp,
) -> Result<String, DeliveryError> {
    let message = notice::post(test);
    match senders.webhook(channel) {
        Some(sender) => sender
            .send(&message, now)
            .await
            .map(|delivered| delivered.answer),
        None => Err(DeliveryError::Permanent("no sender".into())),
    }
}

/// Forwards a short-lived info alert carrying the test `text` to the Alertmanager `channel`.
async fn send_test_alert(
    plan: &Plan,
    senders: &Senders,
    channel: &str,
    text: &str,
    now: jiff::Timestamp,
) -> Result<String, DeliveryError> {
    let mut labels = std::collections::BTreeMap::new();
    labels.insert(
        "alertname".to_string(),
        "GoliveNotificationTest".to_string(),
    );
    labels.insert("severity".to_string(), "info".to_string());
    labels.insert("launch".to_string(), plan.launch.name.clone());
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert("summary".to_string(), text.to_string());
    let alert = crate::notify::ForwardedAlert {
        labels,
        annotations,
        starts_at: now,
        ends_at: now.checked_add(jiff::SignedDuration::from_mins(5)).ok(),
        generator_url: None,
    };
    match senders.alertmanager(channel) {
        Some(sender) => sender
            .send(&[alert], now)
            .await
            .map(|delivered| delivered.answer),
        None => Err(DeliveryError::Permanent("no sender".into())),
    }
}

/// Opens a test alert of severity info at the pager service of `channel` and resolves it at
/// once (PagerDuty: `trigger` then `resolve`; Opsgenie: create P5 then close), under a key of
/// its own, so no golive alert's incident is touched.
async fn send_test_page(
    plan: &Plan,
    senders: &Senders,
    channel: &str,
    test: &Notice,
    now: jiff::Timestamp,
) -> Result<String, DeliveryError> {
    let Some(sender) = senders.channels.get(channel) else {
        return Err(DeliveryError::Permanent("no sender".into()));
    };
    let send = async |action| {
        let event = test_page(plan, channel, test, action, now);
        match sender {
            ChannelSender::PagerDuty(sender) => sender.send(&event, now).await,
            ChannelSender::Opsgenie(sender) => sender.send(&event, now).await,
            _ => Err(DeliveryError::Permanent("not a pager channel".into())),
        }
    };
    let opened = send(super::PagerAction::Trigger).await?;
    // The incident is open now: a failed close must say so, or it stays open unnoticed.
    match send(super::PagerAction::Resolve).await {
        Ok(closed) => Ok(format!(
            "opened and resolved: {}, {}",
            opened.answer, closed.answer
        )),
        Err(error) => Err(DeliveryError::Permanent(format!(
            "opened ({}); closing it failed: {error}; resolve the test incident by hand",
            opened.answer
        ))),
    }
}

/// The test alert a pager channel receives, as a golive alert of severity info.
fn test_page(
    plan: &Plan,
    channel: &str,
    test: &Notice,
    action: super::PagerAction,
    now: jiff::Timestamp,
) -> super::PagerEvent {
    use crate::core::message::{AlertBody, AlertFacts, HowToAcknowledge};
    let public_url = plan
        .alerting
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", plan.server.listen));
    super::PagerEvent {
        action,
        key: format!(
            "{}-test-{channel}",
            crate::core::message::pager_key(&plan.launch.name, 0)
        ),
        summary: test.subject.clone(),
        alert: Box::new(AlertBody {
            kind: "test".to_string(),
            launch: plan.launch.name.clone(),
            alert: AlertFacts {
                id: 0,
                key: format!("test:{channel}"),
                title: "golive notification test".to_string(),
                severity: crate::plan::checks::Severity::Info,
                reason: test.text.clone(),
                opened_at: now,
                acknowledged: None,
                resolved_at: (action == super::PagerAction::Resolve).then_some(now),
            },
            check: None,
            value: None,
            value_now: None,
            value_at_opening: None,
            phase: crate::domain::Phase::Planned,
            level: 1,
            risks: Vec::new(),
            rollback_recommended: false,
            rollback_procedure: None,
            recipients: Vec::new(),
            also_told: Vec::new(),
            next_level: None,
            steps_running: Vec::new(),
            note: None,
            status_url: public_url,
            acknowledge: HowToAcknowledge {
                cli: "golive notify test".to_string(),
                api: "/api/v1/notify/test".to_string(),
            },
            sent_at: now,
        }),
    }
}

/// Runs until `shutdown`; deliveries in flight then are reported if they finish within a moment,
/// otherwise they stay pending and are sent again after a restart.
///
/// Each channel is a lane of its own (see [`super::lanes`]): its due messages start oldest first
/// as long as the lane has room, a down lane is probed with one message at a time, and a report
/// that brings a lane up again tells the engine to make the channel's waiting messages due now.
///
/// `current_senders` gives the senders of the plan in force (`LiveSenders::current`, in `live.rs`),
/// asked again on every turn, so a reload's channels apply from the next delivery.
pub async fn run(
    current_senders: impl Fn() -> Arc<Senders>,
    reader: Arc<Mutex<Reader>>,
    mut link: DispatchLink,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let mut flights = Flights::default();
    let mut deliveries: JoinSet<DeliveryReport> = JoinSet::new();
    // Channels whose messages were being retried when golive stopped are probed at once.
    let retrying = {
        let reader = reader.clone();
        tokio::task::spawn_blocking(move || reader.lock().ok()?.channels_retrying().ok())
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let started = clock.now();
    for (channel, since) in retrying {
        flights.lanes.assume_down(&channel, since, started);
    }
    // Unreadable rows already handed to the engine (it marks them failed).
    let mut reported_unreadable: HashSet<i64> = HashSet::new();
    // The backlog gauges need no fresher than once per IDLE; a storm turns this loop per delivery.
    let mut backlog_read_at: Option<std::time::Instant> = None;
    loop {
        let now = clock.now();
        // The queue heads of the down lanes due a probe, and of the lanes where a refused
        // message holds back its alert's newer ones (to see whether it was given up).
        let mut heads_of = flights.lanes.probes_due(now);
        heads_of.extend(flights.waiting_channels());
        heads_of.sort();
        heads_of.dedup();
        let read_backlog = backlog_read_at.is_none_or(|at| at.elapsed() >= IDLE);
        if read_backlog {
            backlog_read_at = Some(std::time::Instant::now());
        }
        let looked = read_outbox(&reader, now, heads_of, read_backlog).await;
        // The senders of the plan in force: a reload's channels from the next delivery on
        // (deliveries in flight finish with the senders they started with).
        let senders = current_senders();
        match &looked {
            // A dispatcher that cannot read the outbox is stuck, whatever its loop does: the
            // heartbeat must stop.
            Ok(_) => link.liveness.dispatcher_turned(),
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox; nothing is delivered until it can")
            }
        }
        // Under a PostgreSQL lease nothing starts once the lease may be lost (a daemon woken from
        // SIGSTOP, cut off): another member may be the active one and send it.
        let may_send = link.liveness.may_send();
        if !may_send {
            deliveries.abort_all(); // each also stops itself at the deadline (`deliver_group`)
        }
        if let Ok((due, heads, backlog)) = looked
            && may_send
        {
            match backlog {
                Some(Ok(backlog)) => metrics.set_outbox_backlog(&backlog),
                Some(Err(error)) => tracing::warn!(%error, "cannot read the outbox backlog"),
                None => {}
            }
            // A row that cannot be read holds back nothing: it is given up, with the fallback.
            give_up_unreadable(due.unreadable, &mut reported_unreadable, &link).await;
            flights.cooldown.retain(|_, until| *until > now);
            for (channel, heads) in &heads {
                flights.forget_given_up(channel, heads);
            }
            start_due_rows(
                due.rows,
                &mut flights,
                &mut deliveries,
                &senders,
                &clock,
                &link,
            )
            .await;
            probe_down_lanes(
                heads,
                now,
                &mut flights,
                &mut deliveries,
                &senders,
                &clock,
                &link,
            )
            .await;
        }
        let sleep = next_wake(&mut flights, clock.now());
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = link.outbox_written.notified() => {}
            Some(trouble) = link.trouble.recv(), if link.liveness.may_send() => {
                // On a task of its own: a hung channel must not stop the lanes meanwhile.
                let senders = current_senders();
                let now = clock.now();
                tokio::spawn(async move { senders.tell_ops_directly(&trouble, now).await });
            }
            () = tokio::time::sleep(sleep) => {}
            Some(done) = deliveries.join_next_with_id(), if !deliveries.is_empty() => {
                record_finished(done, &mut flights, &link, &clock).await;
            }
        }
    }
    finish_in_flight(deliveries, &mut flights, &link, &clock).await;
}

/// At a stop: lets deliveries in flight finish so their outcome is recorded, for as long as
/// [`stop_drain`] says, and asks systemd to wait that long (plus [`AFTER_DRAIN`]) beyond its
/// `TimeoutStopSec=`, so it does not kill golive with an outcome unrecorded.
async fn finish_in_flight(
    mut deliveries: JoinSet<DeliveryReport>,
    flights: &mut Flights,
    link: &DispatchLink,
    clock: &Arc<dyn Clock>,
) {
    let leased = link.liveness.send_until().is_some();
    let grace = stop_drain(&flights.ends_by, leased, std::time::Instant::now());
    if !deliveries.is_empty() {
        tracing::info!(
            in_flight = deliveries.len(),
            wait_seconds = grace.as_secs_f64(),
            "stopping: waiting for the deliveries in flight to end"
        );
        crate::sd_notify::notify_extend_stop(
            grace + AFTER_DRAIN,
            &format!(
                "stopping: waiting for {} deliveries in flight",
                deliveries.len()
            ),
        );
    }
    let _ = tokio::time::timeout(grace, async {
        while let Some(done) = deliveries.join_next_with_id().await {
            if let Ok((task, mut report)) = done {
                flights.finish(task, &mut report, clock.now());
                let _ = (link.record)(report).await;
            }
        }
    })
    .await;
}

/// How long a stop waits for the deliveries in flight: until the last of them must have ended by
/// its own timeouts (their `ends_by`, `true` for a rollback hook). Under a lease every one is
/// waited for, since the member taking over would send an unfinished one again; the lease's
/// deadline stops them sooner if it is lost, and other pages wait only as long as the slowest
/// send in flight can take. Without a lease (SQLite), a send gets [`UNLEASED_STOP`] and is sent
/// again after the restart. A running rollback hook is let finish on both: it is recorded as
/// started and never run twice, and a rollback killed half-way is worse than a late stop.
fn stop_drain(
    ends_by: &HashMap<tokio::task::Id, (std::time::Instant, bool)>,
    leased: bool,
    now: std::time::Instant,
) -> Duration {
    ends_by
        .values()
        .map(|(end, hook)| {
            let left = end.saturating_duration_since(now);
            if leased || *hook {
                left
            } else {
                left.min(UNLEASED_STOP)
            }
        })
        .max()
        .unwrap_or(Duration::ZERO)
}

/// Lanes that are down: one probe each when it is due (`probe_pick` passes over the lanes that
/// are up).
async fn probe_down_lanes(
    heads: Vec<(String, Vec<OutboxRow>)>,
    now: jiff::Timestamp,
    flights: &mut Flights,
    deliveries: &mut JoinSet<DeliveryReport>,
    senders: &Arc<Senders>,
    clock: &Arc<dyn Clock>,
    link: &DispatchLink,
) {
    for (channel, heads) in heads {
        let heads: Vec<OutboxRow> = heads
            .into_iter()
            .filter(|row| flights.available(row))
            .collect();
        if let Some(index) = flights.lanes.probe_pick(&channel, heads.len(), now) {
            let probe = heads[index].clone();
            flights
                .start(vec![probe], true, deliveries, senders, clock, link)
                .await;
        }
    }
}

/// How long the dispatcher may sleep: until the next probe of a down lane or the end of a lane's
/// pause, and at most IDLE (retries become due without a wake-up).
fn next_wake(flights: &mut Flights, now: jiff::Timestamp) -> Duration {
    [flights.lanes.next_probe(), flights.lanes.next_resume(now)]
        .into_iter()
        .flatten()
        .min()
        .and_then(|at| Duration::try_from(at.duration_since(now)).ok())
        .map_or(IDLE, |until| until.clamp(Duration::from_millis(10), IDLE))
}

/// What one look at the outbox found: due rows, the heads of down lanes, the backlog.
type OutboxLook = (
    DueOutbox,
    Vec<(String, Vec<OutboxRow>)>,
    Option<Result<OutboxBacklog, StoreError>>,
);

/// The due rows of every channel, the heads of the queues of the `heads_of` channels (the probes
/// of down lanes; whether a refused message still waits), and, when `read_backlog`, the backlog
/// for the gauges; read on a blocking thread.
async fn read_outbox(
    reader: &Arc<Mutex<Reader>>,
    now: jiff::Timestamp,
    heads_of: Vec<String>,
    read_backlog: bool,
) -> Result<OutboxLook, String> {
    let reader = reader.clone();
    tokio::task::spawn_blocking(move || {
        let reader = reader
            .lock()
            .map_err(|_| "the outbox reader is poisoned".to_string())?;
        let backlog = read_backlog.then(|| reader.outbox_backlog(now));
        let due = reader
            .due_outbox_per_channel(now, LANE_BATCH)
            .map_err(|error| error.to_string())?;
        let heads: Vec<(String, Vec<OutboxRow>)> = heads_of
            .into_iter()
            .filter_map(|channel| {
                let heads = reader.outbox_heads(&channel, now, LANE_BATCH).ok()?;
                Some((channel, heads))
            })
            .collect();
        Ok::<_, String>((due, heads, backlog))
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|read| read)
}

/// A row that cannot be read holds back nothing: it is given up (the engine marks it failed and
/// raises it through the fallback), once; `reported` remembers which were handed over.
async fn give_up_unreadable(
    unreadable: Vec<UnreadableRow>,
    reported: &mut HashSet<i64>,
    link: &DispatchLink,
) {
    for row in unreadable {
        if reported.insert(row.id) {
            tracing::error!(row = row.id, channel = %row.channel, error = %row.error, "an outbox row cannot be read; giving it up");
            let report = DeliveryReport {
                rows: vec![row.id],
                channel: row.channel,
                attempts: 0,
                queued_at: row.created_at,
                kind: row.kind.unwrap_or(OutboxKind::Warning),
                hook_started: false,
                alert_id: row.alert_id,
                result: Err(DeliveryError::Permanent(format!(
                    "the outbox row cannot be read ({}); was it written by a newer golive?",
                    row.error
                ))),
                lane: LaneChange::None,
            };
            if (link.record)(report).await.is_err() {
                reported.remove(&row.id);
            }
        }
    }
}

/// Starts the due rows of the lanes that are up: every due message that has room, oldest first.
async fn start_due_rows(
    rows: Vec<OutboxRow>,
    flights: &mut Flights,
    deliveries: &mut JoinSet<DeliveryReport>,
    senders: &Arc<Senders>,
    clock: &Arc<dyn Clock>,
    link: &DispatchLink,
) {
    // A queue whose
    // older message cannot start now (its lane is full, it waits after an unrecorded
    // outcome, an older one of it is on its way) keeps its newer ones back too, so nobody
    // hears "resolved" before "opened".
    // Per (channel, alert): the oldest batch that could not start in this pass, starting with
    // the messages the channel refused for now (they are not due, yet newer ones wait for them).
    let mut blocked: HashMap<(String, i64), i64> = flights
        .waiting
        .iter()
        .map(|(queue, waiting)| (queue.clone(), waiting.batch))
        .collect();
    let mut ready: Vec<OutboxRow> = Vec::new();
    let now = clock.now();
    for row in rows {
        if flights.lanes.is_down(&row.channel) || flights.lanes.is_paused(&row.channel, now) {
            continue;
        }
        if flights.available(&row) {
            ready.push(row);
        } else {
            block(
                &mut blocked,
                &row.channel,
                &queue_keys(std::slice::from_ref(&row)),
            );
        }
    }
    for group in group_rows(ready) {
        let channel = group[0].channel.clone();
        let keys = queue_keys(&group);
        let behind_older = keys.iter().any(|key| match key {
            QueueKey::Alert { alert, batch } => blocked
                .get(&(channel.clone(), *alert))
                .is_some_and(|oldest| oldest < batch),
            QueueKey::Row(_) => false,
        });
        if behind_older || !flights.lanes.may_start(&channel, &keys) {
            block(&mut blocked, &channel, &keys);
            continue;
        }
        flights
            .start(group, false, deliveries, senders, clock, link)
            .await;
    }
}

/// Hands a finished delivery's report to the engine; when it cannot be recorded, the rows cool
/// down and are sent again later, and a lane it brought up stays down.
async fn record_finished(
    done: Result<(tokio::task::Id, DeliveryReport), tokio::task::JoinError>,
    flights: &mut Flights,
    link: &DispatchLink,
    clock: &Arc<dyn Clock>,
) {
    match done {
        Ok((task, mut report)) => {
            let now = clock.now();
            flights.finish(task, &mut report, now);
            let rows = report.rows.clone();
            let (channel, lane) = (report.channel.clone(), report.lane);
            if let Err(error) = (link.record)(report).await {
                // Not sent again at once (that would resend in a loop while the
                // store is failing); after a pause, at least once.
                tracing::warn!(%error, "could not record a delivery outcome; it will be sent again later");
                flights.cool_down(&rows, clock.now());
                // The engine did not release what waited for the channel: it stays
                // down, so the next page that gets through says so again.
                if let LaneChange::CameUp { down_since } = lane {
                    flights.lanes.assume_down(&channel, down_since, clock.now());
                }
            }
        }
        Err(error) if error.is_cancelled() => flights.abandon(error.id(), clock.now()),
        Err(error) => {
            tracing::error!(%error, "a delivery task failed; its notification will be sent again later");
            flights.abandon(error.id(), clock.now());
        }
    }
}

/// How many due messages per channel are read at once.
const LANE_BATCH: usize = 64;

/// The dispatcher's bookkeeping: the lanes, which rows are on their way, and which wait after an
/// outcome could not be recorded.
#[derive(Default)]
struct Flights {
    lanes: Lanes,
    in_flight: HashSet<i64>,
    /// What each delivery task carries, so its end (or its panic) frees its lane and rows.
    tasks: HashMap<tokio::task::Id, (String, Vec<i64>, Vec<QueueKey>)>,
    /// When each delivery in flight has surely ended by its own timeouts, and whether it is the
    /// rollback hook: how long a stop waits ([`stop_drain`]).
    ends_by: HashMap<tokio::task::Id, (std::time::Instant, bool)>,
    /// Rows whose outcome could not be recorded: not sent again before this time.
    cooldown: HashMap<i64, jiff::Timestamp>,
    /// Per (channel, alert queue): the oldest message the channel refused for now (429 with
    /// `Retry-After`, an SMTP 4xx for it). Its retry is not due yet, so the outbox read does not
    /// show it; until it is delivered or given up, the queue's newer messages wait behind it,
    /// so a pager never gets the close before the create, nor chat "resolved" before "opened".
    waiting: HashMap<(String, i64), Waiting>,
}

/// A refused message that holds back its queue: its batch and its rows.
#[derive(Debug, Clone)]
struct Waiting {
    batch: i64,
    rows: Vec<i64>,
}

impl Flights {
    fn available(&self, row: &OutboxRow) -> bool {
        !self.in_flight.contains(&row.id) && !self.cooldown.contains_key(&row.id)
    }

    /// Starts delivering `group` (one message) as a task.
    async fn start(
        &mut self,
        group: Vec<OutboxRow>,
        probe: bool,
        deliveries: &mut JoinSet<DeliveryReport>,
        senders: &Arc<Senders>,
        clock: &Arc<dyn Clock>,
        link: &DispatchLink,
    ) {
        let channel = group[0].channel.clone();
        if channel == ROLLBACK_HOOK {
            // Recorded as started before it runs, so it can never run twice.
            let started = DeliveryReport {
                rows: group.iter().map(|row| row.id).collect(),
                channel: ROLLBACK_HOOK.to_string(),
                attempts: 0,
                queued_at: group[0].created_at,
                kind: OutboxKind::RollbackHook,
                hook_started: true,
                alert_id: None,
                result: Err(DeliveryError::Permanent("started".into())),
                lane: LaneChange::None,
            };
            if (link.record)(started).await.is_err() {
                return;
            }
        }
        let ids: Vec<i64> = group.iter().map(|row| row.id).collect();
        let keys = queue_keys(&group);
        self.in_flight.extend(ids.iter().copied());
        self.lanes.started(&channel, &keys, probe);
        let ends_by = std::time::Instant::now() + senders.longest_send(&channel);
        let senders = senders.clone();
        let clock = clock.clone();
        let liveness = link.liveness.clone();
        let handle = deliveries.spawn(async move {
            deliver_group(&senders, group, clock.now(), liveness.lease_lost()).await
        });
        (self.ends_by).insert(handle.id(), (ends_by, channel == ROLLBACK_HOOK));
        self.tasks.insert(handle.id(), (channel, ids, keys));
    }

    /// Frees a finished delivery's rows and lane, and notes in its report what changed about
    /// the channel.
    fn finish(&mut self, task: tokio::task::Id, report: &mut DeliveryReport, now: jiff::Timestamp) {
        self.ends_by.remove(&task);
        let Some((channel, ids, keys)) = self.tasks.remove(&task) else {
            return;
        };
        for id in &ids {
            self.in_flight.remove(id);
        }
        let outcome = match &report.result {
            Ok(_) => LaneOutcome::Delivered,
            // A rollback hook is never retried: its failure says nothing about a lane.
            Err(_) if report.kind == OutboxKind::RollbackHook => LaneOutcome::Permanent,
            Err(DeliveryError::RateLimited { wait, .. }) => {
                LaneOutcome::RateLimited { wait: *wait }
            }
            Err(error) if error.is_channel_trouble() => LaneOutcome::Retryable,
            Err(error) if error.is_retryable() => LaneOutcome::Deferred,
            Err(_) => LaneOutcome::Permanent,
        };
        self.note_waiting(&channel, &ids, &keys, outcome);
        report.lane = self.lanes.finished(&channel, &keys, outcome, now);
        match report.lane {
            LaneChange::WentDown => {
                tracing::warn!(channel = %channel, "channel is down: its messages wait, one is tried every {}s", PROBE_EVERY.as_secs());
            }
            LaneChange::CameUp { .. } => {
                tracing::info!(channel = %channel, "channel works again: its waiting messages go out now");
            }
            LaneChange::None => {
                if let LaneOutcome::RateLimited { wait } = outcome {
                    tracing::info!(channel = %channel, wait_seconds = wait.as_secs(), "channel asked for quiet (Retry-After): nothing goes to it before then");
                }
            }
        }
    }

    /// Notes a message refused for now as holding back its queues, and forgets one delivered or
    /// refused for good. (A channel in trouble goes down: its probes take the oldest first.)
    fn note_waiting(
        &mut self,
        channel: &str,
        ids: &[i64],
        keys: &[QueueKey],
        outcome: LaneOutcome,
    ) {
        match outcome {
            LaneOutcome::RateLimited { .. } | LaneOutcome::Deferred => {
                for key in keys {
                    if let QueueKey::Alert { alert, batch } = *key {
                        let refused = Waiting {
                            batch,
                            rows: ids.to_vec(),
                        };
                        self.waiting
                            .entry((channel.to_string(), alert))
                            .and_modify(|oldest| {
                                if batch < oldest.batch {
                                    *oldest = refused.clone();
                                }
                            })
                            .or_insert(refused);
                    }
                }
            }
            LaneOutcome::Delivered | LaneOutcome::Permanent => {
                self.waiting.retain(|(on, _), waiting| {
                    on != channel || !waiting.rows.iter().any(|row| ids.contains(row))
                });
            }
            LaneOutcome::Retryable => {}
        }
    }

    /// The channels where a refused message holds back its queue.
    fn waiting_channels(&self) -> Vec<String> {
        self.waiting
            .keys()
            .map(|(channel, _)| channel.clone())
            .collect()
    }

    /// Forgets the refused messages of `channel` that are no longer pending (the engine gave
    /// them up): no head of `heads` (the oldest pending message of each queue) is as old.
    fn forget_given_up(&mut self, channel: &str, heads: &[OutboxRow]) {
        if heads.len() >= LANE_BATCH {
            return; // A head may be missing from a cut list: keep waiting.
        }
        let mut oldest: HashMap<i64, i64> = HashMap::new();
        for key in queue_keys(heads) {
            if let QueueKey::Alert { alert, batch } = key {
                let at = oldest.entry(alert).or_insert(batch);
                *at = (*at).min(batch);
            }
        }
        self.waiting.retain(|(on, alert), waiting| {
            on != channel
                || oldest
                    .get(alert)
                    .is_some_and(|batch| *batch <= waiting.batch)
        });
    }

    /// A delivery task that panicked: its rows wait a moment, then go again.
    fn abandon(&mut self, task: tokio::task::Id, now: jiff::Timestamp) {
        self.ends_by.remove(&task);
        if let Some((channel, ids, keys)) = self.tasks.remove(&task) {
            self.lanes.abandoned(&channel, &keys, now);
            for id in &ids {
                self.in_flight.remove(id);
            }
            self.cool_down(&ids, now);
        }
    }

    fn cool_down(&mut self, ids: &[i64], now: jiff::Timestamp) {
        let later = now
            .checked_add(jiff::SignedDuration::from_secs(30))
            .unwrap_or(now);
        for id in ids {
            self.cooldown.insert(*id, later);
        }
    }
}

/// Notes that the alerts of `keys` could not start on `channel` from their batch on.
fn block(blocked: &mut HashMap<(String, i64), i64>, channel: &str, keys: &[QueueKey]) {
    for key in keys {
        if let QueueKey::Alert { alert, batch } = key {
            let oldest = blocked
                .entry((channel.to_string(), *alert))
                .or_insert(*batch);
            *oldest = (*oldest).min(*batch);
        }
    }
}

/// The queue stakeholder updates share on each channel: they leave in the order they were
/// written, like one alert's levels, so nobody reads "rolled back" before "live". Alert ids are
/// SQLite row ids, always positive, so this one never names an alert.
const UPDATES_QUEUE: i64 = -1;

/// Where a message's rows stand in their channel's order: each alert's (and the launch's
/// stakeholder updates') with the batch (creation time) of the change that wrote it, or the rows
/// themselves.
fn queue_keys(group: &[OutboxRow]) -> Vec<QueueKey> {
    let mut keys: Vec<QueueKey> = group
        .iter()
        .map(|row| match (row.alert_id, row.kind) {
            (Some(alert), _) => QueueKey::Alert {
                alert,
                batch: row.created_at.as_millisecond(),
            },
            // Each update is one row per channel: its id orders it, even within a millisecond.
            (None, OutboxKind::Update) => QueueKey::Alert {
                alert: UPDATES_QUEUE,
                batch: row.id,
            },
            (None, _) => QueueKey::Row(row.id),
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Rows with the same group key go out as one message; the rest one by one.
fn group_rows(rows: Vec<OutboxRow>) -> Vec<Vec<OutboxRow>> {
    let mut groups: Vec<Vec<OutboxRow>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for row in rows {
        match row.group_key.clone() {
            Some(key) => {
                let slot = (row.channel.clone(), key);
                match index.get(&slot) {
                    Some(&at) => groups[at].push(row),
                    None => {
                        index.insert(slot, groups.len());
                        groups.push(vec![row]);
                    }
                }
            }
            None => groups.push(vec![row]),
        }
    }
    groups
}

/// Delivers `group` unless `lease_lost` resolves first (under a PostgreSQL lease: another member
/// may be the active one by then and send it): then the send is dropped where it is and reported
/// as refused for now, to be tried again by whichever member holds the lease. A send whose last
/// step already reached the server may still arrive; nothing later does.
async fn deliver_group(
    senders: &Senders,
    group: Vec<OutboxRow>,
    now: jiff::Timestamp,
    lease_lost: impl Future<Output = ()>,
) -> DeliveryReport {
    let first = &group[0];
    let payloads: Vec<OutboxPayload> = group.iter().map(|row| row.payload.clone()).collect();
    let result = tokio::select! {
        biased;
        () = lease_lost => Err(DeliveryError::Deferred(
            "not sent: this daemon's lease may be lost (another member may be active)".into(),
        )),
        result = senders.deliver(&first.channel, &payloads, now) => result,
    };
    DeliveryReport {
        rows: group.iter().map(|row| row.id).collect(),
        channel: first.channel.clone(),
        attempts: group.iter().map(|row| row.attempts).max().unwrap_or(0),
        queued_at: group
            .iter()
            .map(|row| row.created_at)
            .min()
            .unwrap_or(first.created_at),
        kind: first.kind,
        hook_started: false,
        alert_id: first.alert_id,
        result,
        lane: LaneChange::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::{OutgoingEmail, WebhookMessage};

    const PLAN: &str = r#"
[launch]
name = "Web shop 2.0"
timezone = "Europe/Berlin"
go_live = 2030-01-01T20:00:00
hypercare_days = 14
data_dir = "data"

[[people]]
id = "jonas"
name = "Jonas Weber"
role = "ops_lead"
email = "jonas@shop.example"

[[channels]]
id = "mail"
kind = "email"

[[channels]]
id = "chat"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
"#;

    fn email() -> OutboxPayload {
        OutboxPayload::email(OutgoingEmail {
            to: vec![(None, "jonas@shop.example".into())],
            subject: "Checkout failing".into(),
            text: "Checkout fails.".into(),
            html: None,
            message_id: "id@shop.example".into(),
            in_reply_to: None,
            references: Vec::new(),
            inline_images: Vec::new(),
            calendar: None,
        })
    }

    #[tokio::test]
    async fn a_message_for_a_channel_the_plan_dropped_or_changed_fails_for_good_naming_it() {
        let plan = crate::plan::parse(PLAN, &std::env::temp_dir().join("plan.toml"))
            .map_err(|diagnostics| format!("{diagnostics:?}"))
            .unwrap()
            .plan;
        let senders = Senders::new(
            &plan,
            reqwest::Client::new(),
            MessageIds::new(&plan, "launch"),
        );
        let now = jiff::Timestamp::from_second(1_893_524_400).unwrap();
        let changed = senders.deliver("chat", &[email()], now).await;
        assert_eq!(
            changed,
            Err(DeliveryError::Permanent(
                "channel `chat` is no longer of kind email in the plan".into()
            ))
        );
        let post = OutboxPayload::webhook(WebhookMessage {
            text: "Checkout fails.".into(),
            json: GoliveBody::None,
        });
        let dropped = senders
            .deliver("pager", std::slice::from_ref(&post), now)
            .await;
        assert_eq!(
            dropped,
            Err(DeliveryError::Permanent(
                "channel `pager` is not in the plan (any more)".into()
            ))
        );
        let on_mail = senders.deliver("mail", &[post], now).await;
        assert!(
            matches!(&on_mail, Err(DeliveryError::Permanent(text)) if text.contains("of kind webhook")),
            "{on_mail:?}"
        );
        assert!(senders.webhook("chat").is_some() && senders.webhook("mail").is_none());
        assert!(senders.alertmanager("chat").is_none());
    }

    /// A webhook channel at a server that takes the connection and never answers.
    async fn senders_at_a_silent_server() -> (Senders, tokio::net::TcpListener) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let plan = crate::plan::parse(
            &PLAN.replace("http://127.0.0.1:9/hook", &url),
            &std::env::temp_dir().join("plan.toml"),
        )
        .map_err(|diagnostics| format!("{diagnostics:?}"))
        .unwrap()
        .plan;
        let ids = MessageIds::new(&plan, "launch");
        (Senders::new(&plan, reqwest::Client::new(), ids), listener)
    }

    fn chat_row() -> OutboxRow {
        let mut chat = row(7, OutboxKind::Opened, Some(1));
        chat.channel = "chat".into();
        chat.payload = OutboxPayload::webhook(WebhookMessage {
            text: "Checkout fails.".into(),
            json: GoliveBody::None,
        });
        chat
    }

    #[tokio::test]
    async fn a_delivery_started_after_the_lease_deadline_is_not_sent() {
        let (senders, listener) = senders_at_a_silent_server().await;
        let liveness = crate::liveness::Liveness::new();
        liveness.act_under_lease(crate::liveness::LeaseDeadline::new());
        let now = jiff::Timestamp::UNIX_EPOCH;
        let report = deliver_group(&senders, vec![chat_row()], now, liveness.lease_lost()).await;
        assert!(
            matches!(&report.result, Err(DeliveryError::Deferred(why)) if why.contains("lease")),
            "{:?}",
            report.result
        );
        let connected = futures_util::FutureExt::now_or_never(listener.accept());
        assert!(connected.is_none(), "nothing reached the channel");
    }

    #[tokio::test]
    async fn a_send_in_flight_when_the_lease_deadline_passes_stops_and_is_retried_later() {
        let (senders, listener) = senders_at_a_silent_server().await;
        let liveness = crate::liveness::Liveness::new();
        let deadline = crate::liveness::LeaseDeadline::new();
        liveness.act_under_lease(deadline.clone());
        deadline.renewed(deadline.now(), Duration::from_millis(500));
        let silent = tokio::spawn(async move {
            let (connection, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(connection);
        });
        let now = jiff::Timestamp::UNIX_EPOCH;
        // Without the deadline this would wait for the HTTP timeout (10 s) and fail as trouble.
        let report = deliver_group(&senders, vec![chat_row()], now, liveness.lease_lost()).await;
        assert!(
            matches!(&report.result, Err(error @ DeliveryError::Deferred(_)) if error.is_retryable()),
            "{:?}",
            report.result
        );
        silent.abort();
    }

    fn row(id: i64, kind: OutboxKind, alert_id: Option<i64>) -> OutboxRow {
        let at = jiff::Timestamp::UNIX_EPOCH;
        OutboxRow {
            id,
            created_at: at,
            not_before: at,
            next_attempt_at: at,
            channel: "mail".into(),
            kind,
            alert_id,
            group_key: None,
            payload: OutboxPayload::webhook(WebhookMessage {
                text: String::new(),
                json: GoliveBody::None,
            }),
            attempts: 0,
            status: "pending".into(),
            last_error: None,
            answer: None,
            finished_at: None,
        }
    }

    #[test]
    fn stakeholder_updates_share_one_queue_in_the_order_they_were_written_other_lone_rows_do_not() {
        // Written in the same millisecond, the later update still waits for the earlier one.
        let earlier = queue_keys(&[row(7, OutboxKind::Update, None)]);
        let later = queue_keys(&[row(9, OutboxKind::Update, None)]);
        let mut lanes = Lanes::default();
        assert!(lanes.may_start("mail", &earlier));
        lanes.started("mail", &earlier, false);
        assert!(
            !lanes.may_start("mail", &later),
            "a later update must not overtake an earlier one in flight"
        );
        // A report (no alert, not an update) is independent of the updates.
        let report = queue_keys(&[row(8, OutboxKind::Report, None)]);
        assert!(lanes.may_start("mail", &report));
    }

    #[test]
    fn a_stop_waits_for_what_the_sends_in_flight_can_still_take_and_for_a_hook_on_sqlite_too() {
        let now = std::time::Instant::now();
        let mut ends_by = HashMap::new();
        assert_eq!(stop_drain(&ends_by, true, now), Duration::ZERO);
        let task = |n: u64| {
            let mut set = JoinSet::new();
            let handle = set.spawn(async move { n });
            handle.id()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (send, hook) = runtime.block_on(async { (task(1), task(2)) });
        ends_by.insert(send, (now + Duration::from_secs(41), false));
        // Under a lease: the slowest send in flight, not a flat minute.
        assert_eq!(stop_drain(&ends_by, true, now), Duration::from_secs(41));
        // Without one: a send gets a moment, then is sent again after the restart.
        assert_eq!(stop_drain(&ends_by, false, now), UNLEASED_STOP);
        // A running rollback hook is let finish on both, up to its own timeout.
        ends_by.insert(hook, (now + Duration::from_secs(301), true));
        assert_eq!(stop_drain(&ends_by, false, now), Duration::from_secs(301));
    }

    #[test]
    fn the_longest_send_of_a_channel_follows_its_own_timeouts() {
        let plan = crate::plan::parse(
            &format!(
                "{PLAN}\n[smtp]\nhost = \"127.0.0.1\"\nfrom = \"golive@shop.example\"\ntimeout = \"5s\"\n\n[rollback]\nprocedure = \"Redeploy\"\n\n[rollback.hook]\ncommand = [\"./rollback.sh\"]\ntimeout = \"2m\"\n"
            ),
            &std::env::temp_dir().join("plan.toml"),
        )
        .map_err(|diagnostics| format!("{diagnostics:?}"))
        .unwrap()
        .plan;
        let longest = longest_sends(&plan);
        assert_eq!(longest["mail"], Duration::from_secs(21));
        assert_eq!(longest["chat"], Duration::from_secs(11));
        assert_eq!(longest[ROLLBACK_HOOK], Duration::from_secs(121));
    }
}
