//! The launch the demo plays, act by act, through golive's real HTTP API with the demo's token
//! (as the CLI does): go/no-go with the checklist, deployment, an incident (errors above the
//! threshold, a flapping health endpoint, escalation to level 2, acknowledgement, recovery),
//! hypercare with two daily reports, and the close with the final report.
//!
//! Real-time acts take seconds (1 s probes, level 2 after a few seconds); the nights of hypercare
//! pass in time-lapse jumps of the [`DemoClock`], each followed by [`EngineHandle::tick`] so the
//! engine does at once what became due (reminders, reports, the end of hypercare). The clock only
//! jumps while no alert is open and the outbox is empty, so no escalation or retry is skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::civil::Time;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::narrative::Narrator;

mod feedback;
mod steps;
use super::service::{Behaviour, DemoService};
use crate::client::{Client, ClientError};
use crate::clock::{Clock, DemoClock};
use crate::engine::EngineHandle;
use crate::plan::Plan;
use crate::wire;

/// The demo's length when `--duration` is not given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(180);
/// The longest the demo waits for something golive should do by itself (generous: a loaded
/// machine is slow, not broken).
const WAIT_LIMIT: Duration = Duration::from_secs(90);
/// How often the demo looks again while waiting.
const POLL: Duration = Duration::from_millis(200);
/// When the daily reports go out (and action-item reminders), in the launch's time zone; the
/// time-lapse jumps to just after it.
const MORNING: Time = jiff::civil::time(9, 0, 1, 0);
/// The dispatcher looks at the outbox at least this often (its idle wake-up, plus a margin).
const OUTBOX_SETTLE: Duration = Duration::from_millis(1200);

/// How the acts are paced: pauses scale with `--duration`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    scale: f64,
}

impl Pace {
    pub fn for_duration(total: Duration) -> Pace {
        Pace {
            scale: total.as_secs_f64() / DEFAULT_DURATION.as_secs_f64(),
        }
    }

    /// A pause of `nominal` seconds at the default length, scaled.
    async fn beat(&self, nominal: f64) {
        let seconds = (nominal * self.scale).max(0.05);
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    }

    /// How long an unacknowledged alert waits before level 2: 25 s at the default length, at
    /// least 3 s (whole seconds, as the plan writes it).
    pub fn escalate_after(&self) -> Duration {
        Duration::from_secs((25.0 * self.scale).round().max(3.0) as u64)
    }
}

/// Why the scenario stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{step}: {source}")]
    Api {
        step: String,
        #[source]
        source: ClientError,
    },
    #[error("{what} did not happen within {} s", WAIT_LIMIT.as_secs())]
    Timeout { what: String },
    #[error("{0}")]
    Unexpected(String),
    #[error("golive's engine has stopped")]
    Stopped,
}

/// Everything the acts use.
pub struct Scenario {
    pub client: Client,
    pub engine: EngineHandle,
    pub clock: Arc<DemoClock>,
    pub service: DemoService,
    pub narrator: Narrator,
    pub plan: Arc<Plan>,
    pub pace: Pace,
}

/// The go/no-go checklist as the demo confirms it: item, who confirms, their note.
const GO_NO_GO: &[(&str, &str, &str)] = &[
    ("release-tagged", "jonas", "v2.0.0 tagged, artifacts signed"),
    ("db-backup", "aylin", "restore tested on staging in 14 min"),
    (
        "regression-passed",
        "tom",
        "412 tests green, payment end-to-end included",
    ),
    ("support-briefed", "sofia", "FAQ published, team briefed"),
    ("go-decision", "henrik", "sign-off for the 20:00 window"),
];

impl Scenario {
    /// Plays the whole launch.
    pub async fn run(&self) -> Result<(), ScenarioError> {
        self.go_no_go().await?;
        self.deploy().await?;
        self.incident().await?;
        self.hypercare().await?;
        self.close().await
    }

    async fn go_no_go(&self) -> Result<(), ScenarioError> {
        self.advance("maria").await?;
        self.narrator.event(
            "Planned → go/no-go: Maria (project manager) opens the go-live call; golive starts probing the shop every second.",
        );
        self.pace.beat(6.5).await;
        let last = GO_NO_GO.len() - 1;
        for (index, (item, by, note)) in GO_NO_GO.iter().enumerate() {
            if index == last {
                self.refused_advance().await?;
                self.pace.beat(5.0).await;
            }
            self.confirm(item, by, note).await?;
            self.narrator.event(format!(
                "✓ `{item}` confirmed by {} — {note}",
                self.person(by)
            ));
            self.pace.beat(5.0).await;
        }
        self.wait_for(
            "the go/no-go gate to open (the shop's health check healthy)",
            async || {
                let status: wire::Status = self.get("read the status", "/api/v1/status").await?;
                Ok(status.blockers.is_empty().then_some(()))
            },
        )
        .await?;
        self.narrator.event(
            "Gate open: every required item is confirmed and the gate check `shop-health` is healthy.",
        );
        self.log("decision", "henrik", "Go for the launch at 20:00")
            .await?;
        self.narrator.event(
            "Henrik (business) records the decision \"go for the launch at 20:00\": decisions go to the log and the final report.",
        );
        self.pace.beat(3.0).await;
        self.start_step("maintenance-on", "aylin").await?;
        self.pace.beat(2.0).await;
        self.finish_step("maintenance-on", "aylin").await?;
        self.pace.beat(1.5).await;
        self.time_lapse(self.plan.launch.go_live, "the planned go-live")
            .await
    }

    /// Tries to leave go/no-go with one item unconfirmed, to show the gate refusing.
    async fn refused_advance(&self) -> Result<(), ScenarioError> {
        let body = wire::PhaseChange {
            author: Some("maria".to_string()),
            ..wire::PhaseChange::default()
        };
        match self
            .client
            .post::<wire::PhaseChanged>("/api/v1/phase", &body)
            .await
        {
            Err(ClientError::Refused {
                status, blockers, ..
            }) => {
                let first = blockers
                    .first()
                    .map_or("an item is unconfirmed", |blocker| &blocker.message);
                self.narrator.event(format!(
                    "Maria tries to start the deployment: refused ({}) — {first}. The gate holds until every required item is confirmed.",
                    status.as_u16()
                ));
                Ok(())
            }
            Err(source) => Err(ScenarioError::Api {
                step: "leave go/no-go early".to_string(),
                source,
            }),
            Ok(_) => Err(ScenarioError::Unexpected(
                "golive let the launch leave go/no-go with a required item unconfirmed".to_string(),
            )),
        }
    }

    async fn deploy(&self) -> Result<(), ScenarioError> {
        self.advance("jonas").await?;
        self.narrator.event(
            "Go/no-go → deploying: Jonas (dev lead) walks the runbook while golive watches health and error rate.",
        );
        self.start_step("db-migration", "jonas").await?;
        self.pace.beat(3.0).await;
        self.finish_step("db-migration", "jonas").await?;
        self.narrator.detail(
            "`db-migration` is a rollback point: from now on a rollback recommendation quotes its own procedure (restore the database first).",
        );
        self.start_step("deploy-app", "jonas").await?;
        self.service.set_version("2.0.0");
        self.pace.beat(5.0).await;
        self.finish_step("deploy-app", "jonas").await?;
        self.pace.beat(5.0).await;
        self.advance("jonas").await?;
        self.narrator.event(
            "Deploying → verifying: 2.0.0 is live; the smoke test must pass before hypercare may start.",
        );
        self.narrator.detail(
            "Stakeholder update \"live — the new version is being checked\" sent to Henrik (business) and Sofia (support) by email and to the team chat: what changed, what it means for them, what happens next, whom to ask.",
        );
        self.start_step("smoke-test", "tom").await?;
        self.pace.beat(10.0).await;
        Ok(())
    }

    async fn incident(&self) -> Result<(), ScenarioError> {
        let trouble_began = self.clock.now();
        self.service.set_behaviour(Behaviour::Degraded);
        self.narrator.event(
            "Trouble: the new checkout fails a quarter of the requests (HTTP 500), and the health endpoint starts flapping.",
        );
        let alert = self
            .wait_for("an alert on the error rate", async || {
                let answer: wire::Alerts = self.get("list alerts", "/api/v1/alerts").await?;
                Ok(answer
                    .alerts
                    .into_iter()
                    .find(|alert| alert.key == "check:checkout-errors" && alert.level >= 1))
            })
            .await?;
        let id = alert.id;
        self.narrator.event(format!(
            "ALERT #{id}: {} — {}. Level 1 pages Aylin (ops lead) and Jonas (dev lead) by email and team chat.",
            alert.title, alert.reason,
        ));
        self.narrator.detail(
            "Rollback recommended: the plan's rollback criteria hold while verifying, so Maria and Jonas also get the procedure.",
        );
        self.wait_for("escalation to level 2", async || {
            let answer: wire::OneAlert = self
                .get("read the alert", &format!("/api/v1/alerts/{id}"))
                .await?;
            Ok((answer.alert.level >= 2).then_some(()))
        })
        .await?;
        self.narrator.event(format!(
            "Nobody acknowledged within {} s: escalated to level 2, Maria (project manager) is paged as well.",
            self.pace.escalate_after().as_secs()
        ));
        self.flapping_note(trouble_began).await?;
        self.pace.beat(6.5).await;
        self.post::<wire::AlertAcknowledged>(
            "acknowledge the alert",
            &format!("/api/v1/alerts/{id}/ack"),
            &wire::Acknowledge {
                author: Some("jonas".to_string()),
                note: Some(
                    "Looking at it: the new checkout code path fails on some carts".to_string(),
                ),
            },
        )
        .await?;
        self.narrator.event(format!(
            "Jonas acknowledges alert #{id} (API): escalation stops, and everyone paged so far is told who took it."
        ));
        self.pace.beat(8.0).await;
        self.log(
            "decision",
            "maria",
            "No rollback: turn the feature flag checkout.v2 off (the contingency of risk checkout-errors)",
        )
        .await?;
        self.service.set_behaviour(Behaviour::Healthy);
        self.narrator.event(
            "Decision: no rollback. Jonas turns the feature flag `checkout.v2` off, the contingency the plan names for this risk.",
        );
        let resolved = self
            .wait_for("the alert to resolve", async || {
                let answer: wire::OneAlert = self
                    .get("read the alert", &format!("/api/v1/alerts/{id}"))
                    .await?;
                Ok(answer
                    .alert
                    .resolved_at
                    .map(|resolved_at| (answer.alert.opened_at, resolved_at)))
            })
            .await?;
        let (opened, closed) = resolved;
        let lasted = format!(" after {} s", closed.duration_since(opened).as_secs());
        self.narrator.event(format!(
            "RESOLVED: errors are back under 5 % for two probes in a row; alert #{id} closed{lasted}. Everyone told gets the resolution."
        ));
        self.pace.beat(6.5).await;
        Ok(())
    }

    /// Says what golive made of the health endpoint flapping since `since`.
    async fn flapping_note(&self, since: Timestamp) -> Result<(), ScenarioError> {
        let answer: wire::OneCheck = self
            .get("read the health check", "/api/v1/checks/shop-health")
            .await?;
        let recent: Vec<&wire::ProbeResult> = answer
            .check
            .recent
            .iter()
            .filter(|result| result.at >= since)
            .collect();
        let failed = recent
            .iter()
            .filter(|result| result.outcome == "failing")
            .count();
        if failed > 0 {
            self.narrator.detail(format!(
                "Meanwhile `shop-health` failed {failed} of its {} probes since the trouble began, never 3 in a row: a flap, so it stays healthy and pages nobody.",
                recent.len()
            ));
        }
        Ok(())
    }

    async fn hypercare(&self) -> Result<(), ScenarioError> {
        self.finish_step("smoke-test", "tom").await?;
        self.confirm(
            "smoke-test-live",
            "tom",
            "test order went through with checkout.v2 off",
        )
        .await?;
        self.narrator.event(format!(
            "✓ `smoke-test-live` confirmed by {} — test order went through.",
            self.person("tom")
        ));
        self.pace.beat(5.0).await;
        self.advance("maria").await?;
        self.narrator.event(
            "Verifying → hypercare: two days of close monitoring; golive closes the launch by itself when they are over.",
        );
        let tomorrow =
            self.local_now().date().tomorrow().map_err(|error| {
                ScenarioError::Unexpected(format!("no date after today: {error}"))
            })?;
        let opened: wire::OneAction = self
            .post(
                "open an action item",
                "/api/v1/actions",
                &wire::NewAction {
                    title: "Find why checkout.v2 failed and turn it back on".to_string(),
                    owner: "jonas".to_string(),
                    due: Some(tomorrow.to_string()),
                    author: Some("maria".to_string()),
                },
            )
            .await?;
        let action_id = opened.action.id;
        self.narrator.event(format!(
            "Action item #{action_id} for Jonas, due tomorrow: find the cause, turn checkout.v2 back on. golive follows it up."
        ));
        self.log(
            "lesson",
            "jonas",
            "A feature flag turned a rollback into a one-minute fix",
        )
        .await?;
        self.narrator
            .event("Lesson recorded: a feature flag turned a rollback into a one-minute fix.");
        self.pace.beat(10.0).await;

        self.settle_outbox().await?;
        self.time_lapse(self.next_morning(), "the first night of hypercare passes")
            .await?;
        self.narrator.event(
            "09:00: daily report #1 goes to the stakeholders (health, incidents, action items), and Jonas is reminded of his item due today.",
        );
        self.pace.beat(13.0).await;
        self.send_feedback_by_link(
            &self.person_email("sofia"),
            "Support: 3 tickets about failed checkouts last night, all answered",
        )
        .await?;
        self.narrator.event(
            "Sofia (support lead) answers through the feedback link in her copy of the report, no token needed: 3 tickets about failed checkouts, all answered.",
        );
        self.pace.beat(5.0).await;
        self.patch::<wire::OneAction>(
            "close the action item",
            &format!("/api/v1/actions/{action_id}"),
            &wire::ActionUpdate {
                status: Some("done".to_string()),
                note: Some("null cart total fixed; checkout.v2 back on".to_string()),
                author: Some("jonas".to_string()),
                ..wire::ActionUpdate::default()
            },
        )
        .await?;
        self.narrator.event(format!(
            "Jonas marks action item #{action_id} done: the cause is fixed and checkout.v2 is back on."
        ));
        self.pace.beat(8.0).await;

        self.settle_outbox().await?;
        self.time_lapse(self.next_morning(), "the second night passes")
            .await?;
        self.narrator
            .event("09:00: daily report #2: a quiet day; the last of hypercare.");
        self.pace.beat(10.0).await;
        Ok(())
    }

    async fn close(&self) -> Result<(), ScenarioError> {
        let status: wire::Status = self.get("read the status", "/api/v1/status").await?;
        let end = status.hypercare_ends_at.ok_or_else(|| {
            ScenarioError::Unexpected(format!(
                "the launch is in {} instead of hypercare",
                status.phase
            ))
        })?;
        self.settle_outbox().await?;
        let just_after = end
            .checked_add(jiff::SignedDuration::from_secs(1))
            .unwrap_or(end);
        self.time_lapse(just_after, "the end of hypercare").await?;
        let status: wire::Status = self.get("read the status", "/api/v1/status").await?;
        if status.phase != "closed" {
            return Err(ScenarioError::Unexpected(format!(
                "the launch should have closed at the end of hypercare but is in {}",
                status.phase
            )));
        }
        self.narrator.event(
            "Hypercare → closed, by itself: golive sends the final report, the document for the post-mortem, and invites to the review meeting (a calendar invitation; a reminder follows the day before).",
        );
        self.settle_outbox().await
    }

    /// Exports the timeline (the Markdown minutes of the launch).
    pub async fn timeline(&self) -> Result<String, ScenarioError> {
        self.client
            .get_text("/api/v1/timeline")
            .await
            .map_err(Self::failed("export the timeline"))
    }

    /// Waits until every notification queued so far has been delivered: the outbox backlog on
    /// `/metrics` reads zero twice, a dispatcher round apart.
    pub async fn settle_outbox(&self) -> Result<(), ScenarioError> {
        let mut zero_since: Option<Instant> = None;
        self.wait_for("the outbox to empty", async || {
            let metrics = self
                .client
                .get_text("/metrics")
                .await
                .map_err(Self::failed("read /metrics"))?;
            let pending = metrics
                .lines()
                .find_map(|line| line.strip_prefix("golive_outbox_pending "))
                .and_then(|value| value.trim().parse::<f64>().ok());
            if pending != Some(0.0) {
                zero_since = None;
                return Ok(None);
            }
            let since = *zero_since.get_or_insert_with(Instant::now);
            Ok((since.elapsed() >= OUTBOX_SETTLE).then_some(()))
        })
        .await
    }

    /// Moves the demo's clock to `to` and has the engine do at once what became due. Waits
    /// first until no alert is open, so the jump skips no escalation step.
    async fn time_lapse(&self, to: Timestamp, why: &str) -> Result<(), ScenarioError> {
        self.wait_for("every alert to resolve before the time-lapse", async || {
            let answer: wire::Alerts = self.get("list alerts", "/api/v1/alerts").await?;
            Ok(answer.alerts.is_empty().then_some(()))
        })
        .await?;
        self.clock.jump_to(to);
        self.narrator.time_lapse(to, why);
        self.engine.tick().await.map_err(|_| ScenarioError::Stopped)
    }

    /// The next 09:00:01 in the launch's time zone.
    fn next_morning(&self) -> Timestamp {
        let local = self.local_now();
        let day = if local.time() < MORNING {
            local.date()
        } else {
            local.date().tomorrow().unwrap_or(local.date())
        };
        day.to_datetime(MORNING)
            .to_zoned_datetime(self.plan.launch.timezone.clone())
            .map_or_else(|_| self.clock.now(), |zoned| zoned.timestamp())
    }

    fn local_now(&self) -> jiff::ZonedDateTime {
        self.clock
            .now()
            .to_zoned_datetime(self.plan.launch.timezone.clone())
    }

    /// `Jonas Weber`, for a person id of the plan.
    fn person_email(&self, id: &str) -> String {
        self.plan
            .people
            .iter()
            .find(|person| person.id == id)
            .map_or_else(String::new, |person| person.email.clone())
    }

    fn person(&self, id: &str) -> String {
        self.plan
            .people
            .iter()
            .find(|person| person.id == id)
            .map_or_else(|| id.to_string(), |person| person.name.clone())
    }

    async fn advance(&self, by: &str) -> Result<wire::PhaseChanged, ScenarioError> {
        let body = wire::PhaseChange {
            author: Some(by.to_string()),
            ..wire::PhaseChange::default()
        };
        self.post("change the phase", "/api/v1/phase", &body).await
    }

    async fn confirm(&self, item: &str, by: &str, note: &str) -> Result<(), ScenarioError> {
        let body = wire::Confirm {
            note: Some(note.to_string()),
            author: Some(by.to_string()),
        };
        let path = format!("/api/v1/checklist/{item}/confirm");
        self.post::<wire::Confirmed>(&format!("confirm {item}"), &path, &body)
            .await
            .map(drop)
    }

    async fn log(&self, kind: &str, by: &str, text: &str) -> Result<wire::LogEntry, ScenarioError> {
        let body = wire::NewLogEntry {
            kind: kind.to_string(),
            text: text.to_string(),
            author: Some(by.to_string()),
        };
        let written: wire::LogWritten = self
            .post(&format!("write a {kind}"), "/api/v1/log", &body)
            .await?;
        Ok(written.entry)
    }

    /// What one step of the scenario asked failed: the step says which in the error.
    fn failed(step: &str) -> impl FnOnce(ClientError) -> ScenarioError {
        let step = step.to_string();
        move |source| ScenarioError::Api { step, source }
    }

    async fn get<T: DeserializeOwned>(&self, step: &str, path: &str) -> Result<T, ScenarioError> {
        let answer = self.client.get(path).await.map_err(Self::failed(step))?;
        Ok(answer.value)
    }

    async fn post<T: DeserializeOwned>(
        &self,
        step: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ScenarioError> {
        let answer = self.client.post(path, body).await;
        Ok(answer.map_err(Self::failed(step))?.value)
    }

    async fn patch<T: DeserializeOwned>(
        &self,
        step: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ScenarioError> {
        let answer = self.client.patch(path, body).await;
        Ok(answer.map_err(Self::failed(step))?.value)
    }

    /// Polls `probe` until it yields a value, for at most [`WAIT_LIMIT`].
    async fn wait_for<T>(
        &self,
        what: &str,
        mut probe: impl AsyncFnMut() -> Result<Option<T>, ScenarioError>,
    ) -> Result<T, ScenarioError> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            if let Some(value) = probe().await? {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(ScenarioError::Timeout {
                    what: what.to_string(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_scales_with_the_duration_and_keeps_escalation_visible() {
        assert_eq!(
            Pace::for_duration(DEFAULT_DURATION).escalate_after(),
            Duration::from_secs(25)
        );
        assert_eq!(
            Pace::for_duration(Duration::from_secs(20)).escalate_after(),
            Duration::from_secs(3)
        );
        assert_eq!(
            Pace::for_duration(Duration::from_secs(360)).escalate_after(),
            Duration::from_secs(50)
        );
    }
}
