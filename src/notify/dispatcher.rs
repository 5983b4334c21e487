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

use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{
    AlertmanagerForwarder, DeliveryError, EmailTransport, ForwardedAlert, OutgoingEmail,
    WebhookMessage, WebhookSender,
};
use crate::clock::Clock;
use crate::engine::{DeliveryReport, DispatchLink, HOOK_STARTED};
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::plan::alerting::{ChannelKind, MaybeSecret, RollbackHook};
use crate::store::Reader;
use crate::store::alerts::OutboxRow;

/// The outbox channel of rollback hook runs (not a plan channel).
pub const ROLLBACK_HOOK: &str = "rollback-hook";
/// How much of a hook's output is kept in the log.
const HOOK_OUTPUT_MAX: usize = 4000;

/// How many messages are delivered at once.
const PARALLEL: usize = 16;
/// How many due rows are read at once.
const BATCH: usize = 200;
/// The longest sleep between looks at the outbox (retries become due without a wake-up).
const IDLE: Duration = Duration::from_secs(1);

/// Every channel's sender, built once from the plan.
pub struct Senders {
    email: EmailTransport,
    webhooks: HashMap<String, WebhookSender>,
    alertmanagers: HashMap<String, AlertmanagerForwarder>,
    kinds: HashMap<String, &'static str>,
    hook: Option<RollbackHook>,
    /// The launch's name and the ops leads' addresses, for golive's own trouble.
    launch: String,
    ops: Vec<(Option<String>, String)>,
    /// The plan's folder: where a hook command runs.
    plan_dir: PathBuf,
    client: reqwest::Client,
}

/// Where `.eml` files go without SMTP: the plan's `outbox_dir`, else `<data_dir>/outbox`.
pub fn outbox_dir(plan: &Plan) -> PathBuf {
    plan.alerting
        .outbox_dir
        .clone()
        .unwrap_or_else(|| plan.launch.data_dir.join("outbox"))
}

impl Senders {
    pub fn new(plan: &Plan, client: reqwest::Client) -> Senders {
        let email = EmailTransport::new(plan.alerting.smtp.as_ref(), &outbox_dir(plan));
        let mut webhooks = HashMap::new();
        let mut alertmanagers = HashMap::new();
        let mut kinds = HashMap::new();
        for channel in &plan.alerting.channels {
            match &channel.kind {
                ChannelKind::Email { .. } => {
                    kinds.insert(channel.id.clone(), "email");
                }
                ChannelKind::Webhook(webhook) => {
                    kinds.insert(channel.id.clone(), "webhook");
                    webhooks.insert(
                        channel.id.clone(),
                        WebhookSender::new(webhook, client.clone()),
                    );
                }
                ChannelKind::Alertmanager { url, timeout } => {
                    kinds.insert(channel.id.clone(), "alertmanager");
                    alertmanagers.insert(
                        channel.id.clone(),
                        AlertmanagerForwarder::new(url, *timeout, client.clone()),
                    );
                }
            }
        }
        Senders {
            email,
            webhooks,
            alertmanagers,
            kinds,
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
        }
    }

    /// What is wrong with the senders' set-up (missing secrets), to say at start.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(problem) = self.email.setup_problem() {
            problems.push(format!("email: {problem}"));
        }
        for (id, sender) in &self.webhooks {
            if let Some(problem) = sender.setup_problem() {
                problems.push(format!("channel `{id}`: {problem}"));
            }
        }
        problems
    }

    /// A line per channel saying where it delivers.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("email: {}", self.email.describe())];
        for (id, sender) in &self.webhooks {
            lines.push(format!("channel `{id}`: {}", sender.describe()));
        }
        for (id, sender) in &self.alertmanagers {
            lines.push(format!("channel `{id}`: {}", sender.describe()));
        }
        lines
    }

    pub fn email(&self) -> &EmailTransport {
        &self.email
    }

    pub fn webhook(&self, channel: &str) -> Option<&WebhookSender> {
        self.webhooks.get(channel)
    }

    pub fn alertmanager(&self, channel: &str) -> Option<&AlertmanagerForwarder> {
        self.alertmanagers.get(channel)
    }

    /// Delivers one (possibly merged) message through `channel`; an email is dated `now`.
    pub async fn deliver(
        &self,
        channel: &str,
        payloads: &[Value],
        now: jiff::Timestamp,
    ) -> Result<String, DeliveryError> {
        if channel == ROLLBACK_HOOK {
            return self
                .run_hook(payloads.first().cloned().unwrap_or_default())
                .await;
        }
        match self.kinds.get(channel).copied() {
            Some("email") => {
                let emails: Vec<OutgoingEmail> = payloads
                    .iter()
                    .filter_map(|payload| serde_json::from_value(payload.clone()).ok())
                    .collect();
                let email = merge_emails(emails).ok_or_else(|| {
                    DeliveryError::Permanent("unreadable email in the outbox".into())
                })?;
                self.email
                    .send(&email, now)
                    .await
                    .map(|delivered| delivered.answer)
            }
            Some("webhook") => {
                let sender = self.webhooks.get(channel).ok_or_else(|| {
                    DeliveryError::Permanent(format!("no sender for `{channel}`"))
                })?;
                let messages: Vec<WebhookMessage> = payloads
                    .iter()
                    .filter_map(|payload| serde_json::from_value(payload.clone()).ok())
                    .collect();
                let message = merge_webhooks(messages).ok_or_else(|| {
                    DeliveryError::Permanent("unreadable webhook message in the outbox".into())
                })?;
                sender
                    .send(&message)
                    .await
                    .map(|delivered| delivered.answer)
            }
            Some("alertmanager") => {
                let sender = self.alertmanagers.get(channel).ok_or_else(|| {
                    DeliveryError::Permanent(format!("no sender for `{channel}`"))
                })?;
                let alerts: Vec<ForwardedAlert> = payloads
                    .iter()
                    .filter_map(|payload| {
                        serde_json::from_value::<Vec<ForwardedAlert>>(payload.clone()).ok()
                    })
                    .flatten()
                    .collect();
                sender.send(&alerts).await.map(|delivered| delivered.answer)
            }
            _ => Err(DeliveryError::Permanent(format!(
                "channel `{channel}` is not in the plan (any more)"
            ))),
        }
    }
}

impl Senders {
    /// Sends golive's own trouble straight to the ops lead through every channel, without the
    /// outbox (used when the store itself is failing); best effort, the outcome is only logged.
    pub async fn tell_ops_directly(&self, text: &str, now: jiff::Timestamp) {
        let subject = format!("[WARNING] {}: golive's store is failing", self.launch);
        if !self.ops.is_empty() {
            let email = OutgoingEmail {
                to: self.ops.clone(),
                subject: subject.clone(),
                text: text.to_string(),
                html: None,
                message_id: format!("golive-trouble-{}@golive.local", now.as_millisecond()),
                in_reply_to: None,
                references: Vec::new(),
                inline_images: Vec::new(),
            };
            match self.email.send(&email, now).await {
                Ok(delivered) => {
                    tracing::warn!(answer = %delivered.answer, "told the ops lead that the store is failing")
                }
                Err(error) => {
                    tracing::error!(%error, "could not tell the ops lead by email that the store is failing")
                }
            }
        }
        for (id, sender) in &self.webhooks {
            let message = WebhookMessage {
                text: format!("*{subject}*\n{text}"),
                json: json!({"kind": "warning", "launch": self.launch, "message": text}),
            };
            if let Err(error) = sender.send(&message).await {
                tracing::error!(channel = %id, %error, "could not tell the ops lead through this channel that the store is failing");
            }
        }
    }

    /// Runs the plan's rollback hook. A failing hook is never retried by itself (rolling back twice
    /// can do harm); its output is logged for the people on the call.
    async fn run_hook(&self, payload: Value) -> Result<String, DeliveryError> {
        let reason = payload["reason"].as_str().unwrap_or("").to_string();
        let by = payload["by"].as_str().unwrap_or("").to_string();
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
                            crate::probe::format_duration(*timeout)
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
                    MaybeSecret::Secret(source) => super::secrets::read_secret(source)
                        .map_err(DeliveryError::Permanent)?
                        .expose()
                        .to_string(),
                };
                let answer = self
                    .client
                    .post(url)
                    .timeout(*timeout)
                    .json(&payload)
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
    use crate::plan::alerting::{ChannelKind, Recipient};
    let mut results = Vec::new();
    for channel in plan
        .alerting
        .channels
        .iter()
        .filter(|channel| wanted.is_empty() || wanted.contains(&channel.id))
    {
        let text = format!(
            "golive notification test for \"{}\" via `{}`, sent by {by} at {}. If you read this, the channel works.",
            plan.launch.name,
            channel.id,
            crate::report::timeline::local(now, &plan.launch.timezone)
        );
        let (kind, result) = match &channel.kind {
            ChannelKind::Email { to } => {
                let mut wanted: Vec<Recipient> = to.clone();
                for policy in &plan.alerting.policies {
                    for level in policy
                        .levels
                        .iter()
                        .filter(|level| level.channels.contains(&channel.id))
                    {
                        wanted.extend(level.notify.iter().cloned());
                    }
                }
                let recipients: Vec<(Option<String>, String)> =
                    crate::engine::alerts::resolve_recipients(plan, &wanted)
                        .into_iter()
                        .filter_map(|addressee| {
                            addressee.email.map(|email| (Some(addressee.name), email))
                        })
                        .collect();
                if recipients.is_empty() {
                    ("email", Err(crate::notify::DeliveryError::Permanent("nobody to send a test to: no escalation level uses this channel and it has no `to`".into())))
                } else {
                    let email = crate::notify::OutgoingEmail {
                        to: recipients,
                        subject: format!(
                            "[TEST] {}: golive notification test via {}",
                            plan.launch.name, channel.id
                        ),
                        text: text.clone(),
                        html: None,
                        message_id: format!(
                            "test-{}-{}@golive.local",
                            channel.id,
                            now.as_millisecond()
                        ),
                        in_reply_to: None,
                        references: Vec::new(),
                        inline_images: Vec::new(),
                    };
                    (
                        "email",
                        senders
                            .email()
                            .send(&email, now)
                            .await
                            .map(|delivered| delivered.answer),
                    )
                }
            }
            ChannelKind::Webhook(_) => {
                let message = crate::notify::WebhookMessage {
                    text: text.clone(),
                    json: json!({"kind": "test", "launch": plan.launch.name, "channel": channel.id, "message": text}),
                };
                let result = match senders.webhook(&channel.id) {
                    Some(sender) => sender
                        .send(&message)
                        .await
                        .map(|delivered| delivered.answer),
                    None => Err(crate::notify::DeliveryError::Permanent("no sender".into())),
                };
                ("webhook", result)
            }
            ChannelKind::Alertmanager { .. } => {
                let mut labels = std::collections::BTreeMap::new();
                labels.insert(
                    "alertname".to_string(),
                    "GoliveNotificationTest".to_string(),
                );
                labels.insert("severity".to_string(), "info".to_string());
                labels.insert("launch".to_string(), plan.launch.name.clone());
                let mut annotations = std::collections::BTreeMap::new();
                annotations.insert("summary".to_string(), text.clone());
                let alert = crate::notify::ForwardedAlert {
                    labels,
                    annotations,
                    starts_at: now,
                    ends_at: now.checked_add(jiff::SignedDuration::from_mins(5)).ok(),
                    generator_url: None,
                };
                let result = match senders.alertmanager(&channel.id) {
                    Some(sender) => sender
                        .send(&[alert])
                        .await
                        .map(|delivered| delivered.answer),
                    None => Err(crate::notify::DeliveryError::Permanent("no sender".into())),
                };
                ("alertmanager", result)
            }
        };
        results.push(ChannelTest {
            channel: channel.id.clone(),
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
        });
    }
    results
}

/// Several emails of one group as one message listing them all (the first one's thread).
pub fn merge_emails(mut emails: Vec<OutgoingEmail>) -> Option<OutgoingEmail> {
    if emails.len() <= 1 {
        return emails.pop();
    }
    let count = emails.len();
    let mut merged = emails[0].clone();
    merged.subject = format!("{} (and {} more alerts)", emails[0].subject, count - 1);
    merged.text = format!(
        "{count} alerts opened together:\n{}\n\n{}",
        emails
            .iter()
            .map(|email| format!("- {}", email.subject))
            .collect::<Vec<_>>()
            .join("\n"),
        emails
            .iter()
            .map(|email| email.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n----------------------------------------\n\n")
    );
    merged.html = Some(
        emails
            .iter()
            .map(|email| {
                email.html.clone().unwrap_or_else(|| {
                    format!(
                        "<pre>{}</pre>",
                        crate::report::alert_message::escape(&email.text)
                    )
                })
            })
            .collect::<Vec<_>>()
            .join("<hr>"),
    );
    for email in &emails[1..] {
        for recipient in &email.to {
            if !merged.to.iter().any(|known| known.1 == recipient.1) {
                merged.to.push(recipient.clone());
            }
        }
    }
    Some(merged)
}

/// Several chat messages of one group as one post.
pub fn merge_webhooks(mut messages: Vec<WebhookMessage>) -> Option<WebhookMessage> {
    if messages.len() <= 1 {
        return messages.pop();
    }
    Some(WebhookMessage {
        text: format!(
            "{} alerts:\n{}",
            messages.len(),
            messages
                .iter()
                .map(|message| message.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        ),
        json: json!({ "kind": "group", "alerts": messages.iter().map(|message| message.json.clone()).collect::<Vec<_>>() }),
    })
}

/// Runs until `shutdown`; deliveries in flight then are reported if they finish within a moment,
/// otherwise they stay pending and are sent again after a restart.
pub async fn run(
    senders: Arc<Senders>,
    reader: Arc<Mutex<Reader>>,
    mut link: DispatchLink,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let mut in_flight: HashSet<i64> = HashSet::new();
    let mut deliveries: JoinSet<DeliveryReport> = JoinSet::new();
    // Which rows each delivery task carries, so a task that panicked frees its rows.
    let mut task_rows: HashMap<tokio::task::Id, Vec<i64>> = HashMap::new();
    // Rows whose outcome could not be recorded: not sent again before this time.
    let mut cooldown: HashMap<i64, jiff::Timestamp> = HashMap::new();
    loop {
        link.liveness.dispatcher_turned();
        // Start what is due and not already on its way.
        let now = clock.now();
        let rows = {
            let reader = reader.clone();
            tokio::task::spawn_blocking(move || {
                let reader = reader.lock().ok()?;
                let pending = reader.outbox_backlog(now).ok();
                let due = reader.due_outbox(now, BATCH).ok()?;
                Some((due, pending))
            })
            .await
            .ok()
            .flatten()
        };
        if let Some((due, pending)) = rows {
            if let Some(pending) = pending {
                metrics.set_outbox_backlog(&pending);
            }
            cooldown.retain(|_, until| *until > now);
            let ready: Vec<OutboxRow> = due
                .into_iter()
                .filter(|row| !in_flight.contains(&row.id) && !cooldown.contains_key(&row.id))
                .collect();
            for group in group_rows(ready) {
                if deliveries.len() >= PARALLEL {
                    break;
                }
                if group[0].channel == ROLLBACK_HOOK {
                    // Recorded as started before it runs, so it can never run twice.
                    let started = DeliveryReport {
                        rows: group.iter().map(|row| row.id).collect(),
                        channel: ROLLBACK_HOOK.to_string(),
                        attempts: 0,
                        queued_at: group[0].created_at,
                        kind: HOOK_STARTED.to_string(),
                        alert_id: None,
                        result: Err(DeliveryError::Permanent("started".into())),
                    };
                    if link.engine.report_delivery(started).await.is_err() {
                        continue;
                    }
                }
                let ids: Vec<i64> = group.iter().map(|row| row.id).collect();
                for id in &ids {
                    in_flight.insert(*id);
                }
                let senders = senders.clone();
                let clock = clock.clone();
                let handle = deliveries
                    .spawn(async move { deliver_group(&senders, group, clock.now()).await });
                task_rows.insert(handle.id(), ids);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = link.outbox_written.notified() => {}
            Some(trouble) = link.trouble.recv() => {
                senders.tell_ops_directly(&trouble, clock.now()).await;
            }
            () = tokio::time::sleep(IDLE) => {}
            Some(done) = deliveries.join_next_with_id(), if !deliveries.is_empty() => {
                match done {
                    Ok((task, report)) => {
                        task_rows.remove(&task);
                        for id in &report.rows {
                            in_flight.remove(id);
                        }
                        let rows = report.rows.clone();
                        if let Err(error) = link.engine.report_delivery(report).await {
                            // Not sent again at once (that would resend in a loop while the
                            // store is failing); after a pause, at least once.
                            tracing::warn!(%error, "could not record a delivery outcome; it will be sent again later");
                            let later = clock.now().checked_add(jiff::SignedDuration::from_secs(30)).unwrap_or(now);
                            for id in rows {
                                cooldown.insert(id, later);
                            }
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "a delivery task failed; its notification will be sent again later");
                        if let Some(rows) = task_rows.remove(&error.id()) {
                            let later = clock.now().checked_add(jiff::SignedDuration::from_secs(30)).unwrap_or(now);
                            for id in rows {
                                in_flight.remove(&id);
                                cooldown.insert(id, later);
                            }
                        }
                    }
                }
            }
        }
    }
    // Let deliveries in flight finish briefly so their outcome is recorded.
    // A rollback hook may take minutes: it is waited for as long as its own timeout allows.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(done) = deliveries.join_next().await {
            if let Ok(report) = done {
                let _ = link.engine.report_delivery(report).await;
            }
        }
    })
    .await;
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

async fn deliver_group(
    senders: &Senders,
    group: Vec<OutboxRow>,
    now: jiff::Timestamp,
) -> DeliveryReport {
    let first = &group[0];
    let payloads: Vec<Value> = group.iter().map(|row| row.payload.clone()).collect();
    let result = senders.deliver(&first.channel, &payloads, now).await;
    DeliveryReport {
        rows: group.iter().map(|row| row.id).collect(),
        channel: first.channel.clone(),
        attempts: group.iter().map(|row| row.attempts).max().unwrap_or(0),
        queued_at: group
            .iter()
            .map(|row| row.created_at)
            .min()
            .unwrap_or(first.created_at),
        kind: first.kind.clone(),
        alert_id: first.alert_id,
        result,
    }
}
