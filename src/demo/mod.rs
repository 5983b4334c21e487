//! `golive demo`: a whole launch in about three minutes, with no set-up and no network beyond
//! loopback.
//!
//! It starts a built-in demo service ([`service`]: health endpoint, `/metrics`, webhook receiver)
//! and golive itself in-process on the shipped demo plan (`config/demo.toml`, filled in by
//! [`setup`]) — the same [`Application`] as `golive run`, with the same engine, probes,
//! dispatcher and store; only the clock is a [`DemoClock`] that the [`scenario`] moves forward
//! between acts, and the target is built in. The scenario drives the launch through the HTTP API
//! with the demo's token and prints a [`narrative`]; at the end it exports the timeline and says
//! where everything is. The folder it leaves behind is an ordinary plan and data directory.

pub mod narrative;
pub mod scenario;
pub mod service;
pub mod setup;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::app::{Application, Options, shutdown_signal};
use crate::client::Client;
use crate::clock::{Clock, DemoClock, SystemClock};
use crate::error_chain::error_chain;
use narrative::{LeftBehind, Narrator};
use scenario::{Pace, Scenario, ScenarioError};
use service::{DemoService, ServiceError};
use setup::{PlanValues, SetupError};

pub use scenario::DEFAULT_DURATION;

/// The timeline export, in the demo's folder.
pub const TIMELINE_FILE: &str = "timeline.md";
/// What the demo service's webhook receiver got, one JSON line per message.
pub const WEBHOOK_LOG: &str = "webhooks.log";
/// golive's own log (the narrative has standard output to itself).
pub const DAEMON_LOG: &str = "golive.log";

/// The demo's launch day starts this long before the planned go-live (20:00).
const CALL_BEFORE_GO_LIVE: SignedDuration = SignedDuration::from_mins(15);
/// The shortest and longest `--duration`.
const MIN_DURATION: Duration = Duration::from_secs(10);
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Worker threads: the daemon, the demo service and the scenario share them.
const WORKERS: usize = 2;

/// `golive demo`'s options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// About how long the whole demo takes.
    pub duration: Duration,
    /// The folder for the plan, the store and the outbox (default: a fresh `./golive-demo`).
    pub dir: Option<PathBuf>,
    /// Keep golive and the demo service running after the launch closed, until Ctrl-C.
    pub keep_running: bool,
}

/// Why the demo stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the shipped demo plan is invalid (a bug in golive):\n{0}")]
    Plan(String),
    #[error("golive cannot start: {0}")]
    Start(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the demo stopped: {0}")]
    Scenario(#[from] ScenarioError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
}

impl DemoError {
    fn exit_code(&self) -> ExitCode {
        match self {
            DemoError::Setup(SetupError::NotEmpty(_) | SetupError::NoFreeName) => {
                ExitCode::from(64)
            }
            DemoError::Interrupted => ExitCode::from(130),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Runs the demo; the exit code is 0 when the launch was played to the end.
pub fn run(options: DemoOptions) -> ExitCode {
    let folder = match setup::create_folder(options.dir.as_deref()) {
        Ok(folder) => folder,
        Err(error) => {
            eprintln!("golive demo: {error}");
            return DemoError::Setup(error).exit_code();
        }
    };
    init_tracing(&folder.join(DAEMON_LOG));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("golive demo: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(play(&folder, &options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "the demo stopped");
            eprintln!("golive demo: {}", error_chain(&error));
            eprintln!(
                "golive demo: golive's log is in {}",
                folder.join(DAEMON_LOG).display()
            );
            error.exit_code()
        }
    }
}

/// golive's log goes to a file in the demo's folder, so the terminal shows only the narrative.
fn init_tracing(path: &Path) {
    let Ok(file) = std::fs::File::create(path) else {
        return;
    };
    let filter = EnvFilter::try_from_env("GOLIVE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
}

async fn play(folder: &Path, options: &DemoOptions) -> Result<(), DemoError> {
    // Installed first, so Ctrl-C during the demo stops it cleanly.
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let pace = Pace::for_duration(options.duration);
    let timezone = TimeZone::UTC;
    let go_live = launch_day_go_live(&timezone);
    let start = go_live.checked_sub(CALL_BEFORE_GO_LIVE).unwrap_or(go_live);
    let clock = Arc::new(DemoClock::starting_at(start));
    let narrator = Narrator::new(clock.clone(), timezone);

    let service_stop = CancellationToken::new();
    let (service, mut webhooks) = DemoService::start(
        folder.join(WEBHOOK_LOG),
        clock.clone(),
        service_stop.clone(),
    )
    .await?;
    let plan_text = setup::fill_plan(&PlanValues {
        service: service.address().to_string(),
        go_live,
        escalate_after: pace.escalate_after(),
    });
    let (plan_path, token) = setup::write_plan(folder, &plan_text)?;
    let loaded = crate::plan::parse(&plan_text, &plan_path).map_err(|diagnostics| {
        DemoError::Plan(
            diagnostics
                .iter()
                .map(|diagnostic| diagnostic.display(&plan_path).to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let plan = Arc::new(loaded.plan.clone());
    let application = Application::build_with_clock(loaded.plan, Options::default(), clock.clone())
        .await
        .map_err(|error| DemoError::Start(error_chain(&error)))?;
    let url = format!("http://{}", application.address());
    let engine = application.engine();
    let daemon_stop = CancellationToken::new();
    let daemon = tokio::spawn(application.run_until_stopped(daemon_stop.clone()));
    {
        let narrator = narrator.clone();
        tokio::spawn(async move {
            while let Some(message) = webhooks.recv().await {
                if message.pager {
                    narrator.pager(&message.text);
                } else {
                    narrator.chat(&message.text);
                }
            }
        });
    }

    narrator.line(format!(
        "golive demo: the launch of \"{}\", played in about {} (--duration to change it).",
        plan.launch.name,
        crate::human::std_duration(options.duration)
    ));
    narrator.line(format!(
        "  Status page: {url}/   (open it in a browser and watch it change)"
    ));
    narrator.line(format!(
        "  Folder:      {}   (the plan, golive's store, the outbox; kept afterwards)",
        folder.display()
    ));
    narrator.line(format!(
        "  The demo shop runs at http://{}/; the nights of hypercare pass in time-lapse.",
        service.address()
    ));
    narrator.line("");

    let scenario = Scenario {
        client: Client::with_token(&url, token)?,
        engine,
        clock,
        service: service.clone(),
        narrator: narrator.clone(),
        plan: plan.clone(),
        pace,
    };
    let played = tokio::select! {
        played = scenario.run() => played.map_err(DemoError::from),
        () = &mut signal => Err(DemoError::Interrupted),
    };
    let finished = match played {
        Ok(()) => wrap_up(folder, &plan, &scenario, &service, &narrator).await,
        Err(error) => Err(error),
    };
    if finished.is_ok() && options.keep_running {
        narrator.line("");
        narrator.line(format!(
            "golive keeps running at {url}/; press Ctrl-C to stop. Try the CLI on it:"
        ));
        narrator.line(format!(
            "  GOLIVE_API_TOKEN=$(cat {}) golive status --plan {}",
            folder.join(setup::TOKEN_FILE).display(),
            folder.join(setup::PLAN_FILE).display()
        ));
        signal.await;
    }
    daemon_stop.cancel();
    match daemon.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::error!(error = format!("{error:#}"), "golive stopped with an error")
        }
        Err(error) => tracing::error!(%error, "golive's task failed"),
    }
    service_stop.cancel();
    finished
}

/// Exports the timeline and prints where everything is.
async fn wrap_up(
    folder: &Path,
    plan: &crate::plan::Plan,
    scenario: &Scenario,
    service: &DemoService,
    narrator: &Narrator,
) -> Result<(), DemoError> {
    let timeline = scenario.timeline().await?;
    let timeline_path = folder.join(TIMELINE_FILE);
    std::fs::write(&timeline_path, timeline).map_err(|source| DemoError::Write {
        path: timeline_path.clone(),
        source,
    })?;
    let outbox = crate::notify::dispatcher::outbox_dir(plan);
    let emails = std::fs::read_dir(&outbox)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "eml"))
                .count()
        })
        .unwrap_or(0);
    narrative::summary(
        narrator,
        &LeftBehind {
            folder,
            plan: &folder.join(setup::PLAN_FILE),
            outbox: &outbox,
            emails,
            timeline: &timeline_path,
            webhook_log: &folder.join(WEBHOOK_LOG),
            webhooks: service.webhooks_received(),
            daemon_log: &folder.join(DAEMON_LOG),
        },
    );
    Ok(())
}

/// 20:00 today (in `timezone`): the demo's planned go-live.
fn launch_day_go_live(timezone: &TimeZone) -> Timestamp {
    let now = SystemClock.now();
    now.to_zoned_datetime(timezone.clone())
        .date()
        .to_datetime(jiff::civil::time(20, 0, 0, 0))
        .to_zoned_datetime(timezone.clone())
        .map_or(now, |zoned| zoned.timestamp())
}

/// Reads `--duration`: `3m`, `90s`, `1m30s`; from 10 s to an hour.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 3m, 90s or 20s"))?;
    let duration = Duration::try_from(parsed)
        .map_err(|_| format!("`{text}`: the duration must be positive"))?;
    if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err(format!(
            "`{text}`: the demo takes from 10 s to 1 h (with less than about 30 s the acts run at their own pace, and the demo takes longer than asked)"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_in_the_plan_s_friendly_form_and_bounded() {
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(
            parse_duration("2s")
                .unwrap_err()
                .contains("from 10 s to 1 h")
        );
        assert!(parse_duration("-20s").is_err());
    }

    #[test]
    fn the_launch_day_goes_live_at_eight_in_the_evening() {
        let go_live = launch_day_go_live(&TimeZone::UTC);
        assert_eq!(
            go_live.to_zoned_datetime(TimeZone::UTC).time(),
            jiff::civil::time(20, 0, 0, 0)
        );
    }
}
