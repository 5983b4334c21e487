//! golive in the test's own process with a clock the test moves: the real `Application` (store,
//! engine, dispatcher, probes, HTTP API on a free loopback port) built with a [`ManualClock`].
//! Time stands still until the test calls [`Harness::advance`], which moves the clock and makes
//! the engine do at once what became due, so "not before the delay", "nothing within the hour"
//! and "once a day" are checked at exact instants instead of by sleeping.
//!
//! ```ignore
//! let golive = spawn_with_clock(&plan).await;
//! golive.advance(SignedDuration::from_secs(61)).await; // the engine has done what is due
//! let (_, alert) = golive.api.get("/api/v1/alerts/1").await;
//! golive.stop().await;
//! ```

use std::path::Path;
use std::sync::Arc;

use golive::app::{Application, Options};
use golive::clock::{Clock, ManualClock};
use golive::engine::{EngineHandle, ReloadError, Reloaded};
use jiff::{SignedDuration, Timestamp};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::{Daemon, TOKEN};

/// Where a harness's clock starts: 19:00 in Berlin, an hour before the test plans' go-live.
pub const START: &str = "2030-01-01T18:00:00Z";

/// A running in-process golive, stopped when dropped (or cleanly with [`Harness::stop`]).
pub struct Harness {
    /// An HTTP client for its API (with the test token, as for the real binary).
    pub api: Daemon,
    pub engine: EngineHandle,
    pub clock: Arc<ManualClock>,
    stop: CancellationToken,
    running: Option<JoinHandle<anyhow::Result<()>>>,
    /// The plan and the data directory; removed last.
    folder: Option<TempDir>,
}

/// Starts golive on `plan` in a new temporary folder, its clock at [`START`].
pub async fn spawn_with_clock(plan: &str) -> Harness {
    spawn_with_clock_at(plan, START.parse().expect("start time")).await
}

/// As [`spawn_with_clock`], the clock at `start`.
pub async fn spawn_with_clock_at(plan: &str, start: Timestamp) -> Harness {
    let folder = tempfile::tempdir().expect("temp dir");
    // The test token from a file: the process environment is shared by every test in it.
    std::fs::write(folder.path().join("api-token"), TOKEN).expect("write token");
    write_plan(folder.path(), plan);
    start_in(folder, Arc::new(ManualClock::starting_at(start))).await
}

/// Writes `plan` as the plan file in `folder`, with the test token read from a file there.
fn write_plan(folder: &Path, plan: &str) {
    let token_file = folder.join("api-token");
    let plan = format!(
        "{plan}\n[[server.tokens]]\nname = \"harness\"\nfile = \"{}\"\n",
        token_file.display()
    );
    std::fs::write(folder.join("plan.toml"), plan).expect("write plan");
}

/// Builds and runs golive on the plan in `folder` with `clock`.
async fn start_in(folder: TempDir, clock: Arc<ManualClock>) -> Harness {
    let path = folder.path().join("plan.toml");
    let text = std::fs::read_to_string(&path).expect("read plan");
    let loaded = golive::plan::parse(&text, &path)
        .unwrap_or_else(|diagnostics| panic!("invalid plan: {diagnostics:#?}"));
    let options = Options {
        listen: Some("127.0.0.1:0".parse().expect("address")),
        ..Options::default()
    };
    let application = Application::build_with_clock(loaded.plan, options, clock.clone())
        .await
        .expect("golive starts");
    let url = format!("http://{}", application.address());
    let engine = application.engine();
    let stop = CancellationToken::new();
    let running = tokio::spawn(application.run_until_stopped(stop.clone()));
    Harness {
        api: Daemon::client_of(url, folder.path()),
        engine,
        clock,
        stop,
        running: Some(running),
        folder: Some(folder),
    }
}

impl Harness {
    /// The time on its clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock forward by `by` and returns once the engine has done everything that
    /// became due (escalation steps, reminders, reports, the end of hypercare), committed.
    pub async fn advance(&self, by: SignedDuration) -> Timestamp {
        let now = self.clock.advance(by);
        self.engine.tick().await.expect("the engine ticks");
        now
    }

    /// Writes `plan` as its plan file and reloads it, as `SIGHUP` or `golive reload` would
    /// (`EngineHandle::reload_from_file`); the engine has applied it when this returns.
    pub async fn reload(&self, plan: &str) -> Result<Reloaded, ReloadError> {
        let folder = self.folder.as_ref().expect("the folder");
        write_plan(folder.path(), plan);
        self.engine.reload_from_file("harness".to_string()).await
    }

    /// Stops golive cleanly and starts it again on the same folder, the clock where it was.
    pub async fn restart(mut self) -> Harness {
        self.shut_down().await;
        let folder = self.folder.take().expect("the folder");
        start_in(folder, self.clock.clone()).await
    }

    /// Stops golive and checks that it stopped cleanly.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        self.stop.cancel();
        if let Some(running) = self.running.take() {
            running
                .await
                .expect("golive's task")
                .expect("golive stops cleanly");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
