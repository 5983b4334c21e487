//! golive watched from outside: the heartbeat task. Every `[heartbeat] interval` it asks the
//! shared [`Liveness`] whether the engine's and the dispatcher's loops turned recently and the
//! store's writes work; only then does it call the plan's dead-man's-switch URL and post the
//! always-firing `GoliveWatchdog` alert to the Alertmanager channels `[heartbeat] alertmanager`
//! names, its `endsAt` three intervals ahead. When golive dies or wedges, the calls stop and the
//! watchdog alert expires, which is what the switch (healthchecks.io, Cronitor, Dead Man's Snitch,
//! an Alertmanager Watchdog route) turns into a page.
//!
//! The watchdog alert is a liveness signal, not a notification: it goes straight to Alertmanager
//! through [`AlertmanagerForwarder`], never through the outbox (whose rows are only written and
//! delivered while the very parts it vouches for work). Without `[heartbeat]` the task still runs,
//! keeping `golive_component_stuck` current for Prometheus and logging when a component gets stuck
//! or recovers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::Secret;
use crate::liveness::{Liveness, Status};
use crate::metrics::{HeartbeatResult, Metrics};
use crate::notify::{AlertmanagerForwarder, ForwardedAlert};
use crate::plan::Plan;
use crate::plan::alerting::{ChannelKind, MaybeSecret};
use crate::plan::heartbeat::{Heartbeat, HeartbeatMethod};
use crate::secrets::read_secret;

/// How often the components' state is looked at (for `golive_component_stuck` and the log),
/// between heartbeats too.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The watchdog alert's `endsAt` is this many intervals ahead: one or two lost posts do not let it
/// expire, a golive gone for three intervals does.
const WATCHDOG_LIFETIME_INTERVALS: u32 = 3;

/// The watchdog alert's name.
pub const WATCHDOG_ALERTNAME: &str = "GoliveWatchdog";

/// Runs until `shutdown`: see the module documentation. `public_url` is the daemon's address as
/// people reach it (the watchdog alert's link).
pub async fn run(
    plan: Arc<Plan>,
    liveness: Arc<Liveness>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    public_url: String,
    shutdown: CancellationToken,
) {
    let beats = plan.heartbeat.as_ref().map(|config| {
        let destinations = Destinations::new(&plan, config, client, clock.now(), &public_url);
        for problem in destinations.problems() {
            tracing::error!(%problem, "the heartbeat cannot reach a destination; fix its secret and restart");
        }
        tracing::info!(
            interval_seconds = config.interval.as_secs_f64(),
            destinations = %destinations.describe(),
            "heartbeat on: golive calls out while its engine, dispatcher and store work"
        );
        (config.interval, destinations)
    });
    let mut look = tokio::time::interval(LOOK_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beat = tokio::time::interval(beats.as_ref().map_or(LOOK_EVERY, |(every, _)| *every));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was = liveness.status();
    let mut failing = false;
    loop {
        let beat_now = tokio::select! {
            () = shutdown.cancelled() => break,
            _ = look.tick() => false,
            _ = beat.tick(), if beats.is_some() => true,
        };
        let now = clock.now();
        let status = liveness.status();
        metrics.set_components(status);
        log_change(was, status, beats.is_some());
        was = status;
        let Some((_, destinations)) = beats.as_ref().filter(|_| beat_now) else {
            continue;
        };
        // An active that may have lost its PostgreSQL lease vouches for nothing.
        if !status.healthy() || !liveness.may_send() {
            metrics.count_heartbeat(HeartbeatResult::Skipped, now);
            continue;
        }
        // A call may take up to its timeout (as long as the interval): shutdown does not wait.
        let result = tokio::select! {
            () = shutdown.cancelled() => break,
            result = destinations.beat(now) => result,
        };
        match result {
            HeartbeatResult::Ok if failing => {
                tracing::info!("heartbeat delivered again");
                failing = false;
            }
            HeartbeatResult::Failed => failing = true,
            _ => {}
        }
        metrics.count_heartbeat(result, clock.now());
    }
}

/// Logs a component getting stuck or recovering, once per change.
fn log_change(was: Status, now: Status, beating: bool) {
    if was == now {
        return;
    }
    if now.healthy() {
        tracing::info!("golive's engine, dispatcher and store work again");
    } else if beating {
        tracing::error!(stuck = %now.describe(), "golive is stuck: heartbeats stop until it recovers");
    } else {
        tracing::error!(stuck = %now.describe(), "golive is stuck");
    }
}

/// Where heartbeats go, resolved once at start.
struct Destinations {
    /// The dead-man's-switch URL, or why it is unavailable (a missing secret).
    url: Option<Result<Secret, String>>,
    /// The URL's host, for the log (never the path or query, which carry the token).
    url_host: Option<String>,
    method: HeartbeatMethod,
    timeout: Duration,
    client: reqwest::Client,
    /// The launch's name, in a POST body.
    launch: String,
    /// The watchdog alert's Alertmanagers, by channel id.
    watchdogs: Vec<(String, AlertmanagerForwarder)>,
    /// The watchdog alert, without its `endsAt`.
    watchdog: ForwardedAlert,
    lifetime: SignedDuration,
}

/// One destination's failure, for the log.
struct Failure {
    destination: String,
    reason: String,
}

impl Destinations {
    fn new(
        plan: &Plan,
        config: &Heartbeat,
        client: reqwest::Client,
        started_at: Timestamp,
        public_url: &str,
    ) -> Destinations {
        let url = config.url.as_ref().map(|url| match url {
            MaybeSecret::Plain(url) => Ok(Secret::new(url.clone())),
            MaybeSecret::Secret(source) => {
                read_secret(source).map_err(|reason| format!("heartbeat url unavailable: {reason}"))
            }
        });
        let url_host = url
            .as_ref()
            .and_then(|url| url.as_ref().ok())
            .and_then(|url| reqwest::Url::parse(url.expose()).ok())
            .and_then(|url| url.host_str().map(str::to_string));
        let watchdogs = config
            .alertmanager
            .iter()
            .filter_map(|id| {
                plan.alerting
                    .channels
                    .iter()
                    .find(|channel| channel.id == *id)
                    .and_then(|channel| match &channel.kind {
                        ChannelKind::Alertmanager { url, timeout } => Some((
                            id.clone(),
                            AlertmanagerForwarder::new(
                                url,
                                (*timeout).min(config.timeout),
                                client.clone(),
                            ),
                        )),
                        _ => None,
                    })
            })
            .collect();
        let lifetime = SignedDuration::try_from(config.interval * WATCHDOG_LIFETIME_INTERVALS)
            .unwrap_or(SignedDuration::from_mins(1));
        Destinations {
            url,
            url_host,
            method: config.method,
            timeout: config.timeout,
            client,
            launch: plan.launch.name.clone(),
            watchdogs,
            watchdog: watchdog_alert(plan, config, started_at, public_url),
            lifetime,
        }
    }

    fn problems(&self) -> Vec<String> {
        match &self.url {
            Some(Err(problem)) => vec![problem.clone()],
            _ => Vec::new(),
        }
    }

    /// E.g. `url at hc-ping.example, alertmanager channel am` (hosts only).
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.url.is_some() {
            parts.push(match &self.url_host {
                Some(host) => format!("{} url at {host}", self.method.as_str()),
                None => "url".to_string(),
            });
        }
        for (id, _) in &self.watchdogs {
            parts.push(format!("alertmanager channel {id}"));
        }
        parts.join(", ")
    }

    /// Calls every destination at once; ok only when each accepted.
    async fn beat(&self, now: Timestamp) -> HeartbeatResult {
        let mut calls: JoinSet<Result<(), Failure>> = JoinSet::new();
        match &self.url {
            Some(Ok(url)) => {
                let request = self.request(url);
                let timeout = self.timeout;
                calls.spawn(async move { call_url(request, timeout).await });
            }
            Some(Err(problem)) => {
                let problem = problem.clone();
                calls.spawn(async move {
                    Err(Failure {
                        destination: "url".to_string(),
                        reason: problem,
                    })
                });
            }
            None => {}
        }
        let mut alert = self.watchdog.clone();
        alert.ends_at = now.checked_add(self.lifetime).ok();
        for (id, forwarder) in &self.watchdogs {
            let forwarder = forwarder.clone();
            let alert = alert.clone();
            let destination = format!("alertmanager channel {id}");
            calls.spawn(async move {
                forwarder
                    .send(&[alert], now)
                    .await
                    .map(|_| ())
                    .map_err(|error| Failure {
                        destination,
                        reason: error.to_string(),
                    })
            });
        }
        let mut result = HeartbeatResult::Ok;
        while let Some(done) = calls.join_next().await {
            let failure = match done {
                Ok(Ok(())) => continue,
                Ok(Err(failure)) => failure,
                Err(error) => Failure {
                    destination: "heartbeat".to_string(),
                    reason: error.to_string(),
                },
            };
            tracing::warn!(destination = %failure.destination, reason = %failure.reason, "heartbeat not delivered");
            result = HeartbeatResult::Failed;
        }
        result
    }

    fn request(&self, url: &Secret) -> reqwest::RequestBuilder {
        let method = match self.method {
            HeartbeatMethod::Get => reqwest::Method::GET,
            HeartbeatMethod::Post => reqwest::Method::POST,
            HeartbeatMethod::Head => reqwest::Method::HEAD,
        };
        let request = self
            .client
            .request(method, url.expose())
            .timeout(self.timeout);
        if self.method == HeartbeatMethod::Post {
            request
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(format!(
                    "golive for {}: engine, dispatcher and store work\n",
                    self.launch
                ))
        } else {
            request
        }
    }
}

/// Calls the URL; a 2xx answer is a success. No text made here contains the URL.
async fn call_url(request: reqwest::RequestBuilder, timeout: Duration) -> Result<(), Failure> {
    let failure = |reason: String| Failure {
        destination: "url".to_string(),
        reason,
    };
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(failure(format!("HTTP {}", response.status().as_u16()))),
        Err(error) if error.is_timeout() => Err(failure(format!(
            "no answer within {}",
            crate::human::std_duration(timeout)
        ))),
        Err(error) => Err(failure(crate::error_chain::error_chain(
            &error.without_url(),
        ))),
    }
}

/// The always-firing alert: `alertname="GoliveWatchdog"`, `severity="none"`, `launch`.
fn watchdog_alert(
    plan: &Plan,
    config: &Heartbeat,
    started_at: Timestamp,
    public_url: &str,
) -> ForwardedAlert {
    let every = crate::human::std_duration(config.interval);
    let lifetime = crate::human::std_duration(config.interval * WATCHDOG_LIFETIME_INTERVALS);
    let labels = BTreeMap::from([
        ("alertname".to_string(), WATCHDOG_ALERTNAME.to_string()),
        ("severity".to_string(), "none".to_string()),
        ("launch".to_string(), plan.launch.name.clone()),
    ]);
    let annotations = BTreeMap::from([
        (
            "summary".to_string(),
            format!(
                "golive's dead-man's switch for {}: it always fires while golive works; its absence means golive is down or stuck",
                plan.launch.name
            ),
        ),
        (
            "description".to_string(),
            format!(
                "golive posts this alert every {every} while its engine, dispatcher and store work, each time ending {lifetime} later. When it stops firing, golive is down, stuck or cut off from Alertmanager, and no page about the launch can go out: look at the golive host, its log and golive_component_stuck."
            ),
        ),
    ]);
    ForwardedAlert {
        labels,
        annotations,
        starts_at: started_at,
        ends_at: None,
        generator_url: Some(format!("{}/", public_url.trim_end_matches('/'))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let mut plan = crate::core::test_support::plan_with_checklist(Vec::new());
        plan.heartbeat = Some(Heartbeat {
            url: Some(MaybeSecret::Plain("http://127.0.0.1:1/ping".to_string())),
            method: HeartbeatMethod::Post,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            alertmanager: Vec::new(),
        });
        plan
    }

    #[test]
    fn the_watchdog_alert_is_named_labelled_and_says_what_its_absence_means() {
        let plan = plan();
        let config = plan.heartbeat.clone().expect("heartbeat");
        let started = Timestamp::from_second(1_900_000_000).expect("time");
        let alert = watchdog_alert(&plan, &config, started, "http://golive.example:9898/");
        assert_eq!(alert.labels["alertname"], "GoliveWatchdog");
        assert_eq!(alert.labels["severity"], "none");
        assert_eq!(alert.labels["launch"], plan.launch.name);
        assert!(alert.annotations["summary"].contains("dead-man's switch"));
        assert!(alert.annotations["summary"].contains("absence means golive is down"));
        assert!(alert.annotations["description"].contains("every 30 s"));
        assert!(alert.annotations["description"].contains("ending 1 min 30 s later"));
        assert_eq!(alert.starts_at, started);
        assert_eq!(
            alert.generator_url.as_deref(),
            Some("http://golive.example:9898/")
        );
    }

    #[test]
    fn destinations_are_described_by_host_only() {
        let plan = plan();
        let config = plan.heartbeat.clone().expect("heartbeat");
        let destinations = Destinations::new(
            &plan,
            &config,
            reqwest::Client::new(),
            Timestamp::UNIX_EPOCH,
            "http://golive",
        );
        assert_eq!(destinations.describe(), "POST url at 127.0.0.1");
        assert!(destinations.problems().is_empty());
    }
}
