//! Test helpers: start the real `golive` binary on a free port with a temporary data directory,
//! and talk to it over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The write token every test daemon accepts through `GOLIVE_API_TOKEN`.
pub const TOKEN: &str = "test-token-0123456789";
/// A second token, named `release-manager` in the plan, read from an environment variable.
pub const RM_TOKEN: &str = "rm-token-abcdef";

/// A small valid plan: three people, a checklist with items gating go_no_go and verifying, a
/// risk, a rollback procedure, and a named token from the environment.
pub const BASE_PLAN: &str = r#"
[launch]
name = "Test shop"
timezone = "Europe/Berlin"
go_live = 2030-01-01T20:00:00
hypercare_days = 14
data_dir = "data"

[[people]]
id = "alice"
name = "Alice Adler"
role = "project_manager"
email = "alice@example.com"

[[people]]
id = "bob"
name = "Bob Berg"
role = "ops_lead"
email = "bob@example.com"

[[people]]
id = "carol"
name = "Carol Clausen"
role = "qa_lead"
email = "carol@example.com"

[[checklist]]
id = "backup"
title = "Database backup taken"
owner = "bob"

[[checklist]]
id = "signoff"
title = "Business sign-off"
owner = "alice"

[[checklist]]
id = "docs"
title = "Release notes published"
owner = "alice"
required = false

[[checklist]]
id = "smoke"
title = "Smoke test on production"
owner = "qa_lead"
gates = "verifying"

[[risks]]
id = "payments"
title = "Payment provider rejects live transactions"
likelihood = "medium"
impact = "high"
contingency = "Switch to the fallback provider"
owner = "bob"

[rollback]
procedure = "Redeploy release 1.9 and restore the database snapshot"

[server]
listen = "127.0.0.1:9898"

[[server.tokens]]
name = "release-manager"
env = "GOLIVE_TEST_RM_TOKEN"
"#;

/// A running daemon in a temporary folder (plan file + data directory).
pub struct Daemon {
    child: Option<Child>,
    pub url: String,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

impl Daemon {
    /// Writes `plan` into a new temporary folder and starts a daemon on it.
    pub async fn start(plan: &str) -> Daemon {
        Daemon::start_with_env(plan, &[]).await
    }

    /// As [`Daemon::start`], with extra environment variables for the daemon.
    pub async fn start_with_env(plan: &str, env: &[(&str, &str)]) -> Daemon {
        let temp = tempfile::tempdir().expect("temp dir");
        std::fs::write(temp.path().join("plan.toml"), plan).expect("write plan");
        let mut daemon = Daemon::start_in_with_env(temp.path(), env).await;
        daemon._temp = Some(temp);
        daemon
    }

    /// Starts a daemon on the plan already in `dir` (a restart keeps the same data directory).
    pub async fn start_in(dir: &Path) -> Daemon {
        Daemon::start_in_with_env(dir, &[]).await
    }

    /// As [`Daemon::start_in`], with extra environment variables for the daemon.
    pub async fn start_in_with_env(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        Daemon::start_in_with_client(dir, env, http).await
    }

    /// As [`Daemon::start_in_with_env`], talking to the daemon with `http` (a client that trusts
    /// the test CA of a daemon serving HTTPS).
    pub async fn start_in_with_client(
        dir: &Path,
        env: &[(&str, &str)],
        http: reqwest::Client,
    ) -> Daemon {
        Daemon::start_in_with_args_and_client(dir, &[], env, http).await
    }

    /// As [`Daemon::start_in_with_env`], with extra arguments for `golive run` (e.g.
    /// `--log-format json`).
    pub async fn start_in_with_args(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        Daemon::start_in_with_args_and_client(dir, args, env, http).await
    }

    async fn start_in_with_args_and_client(
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        http: reqwest::Client,
    ) -> Daemon {
        let daemon_file = dir.join("data").join("daemon.json");
        let _ = std::fs::remove_file(&daemon_file);
        let mut run = vec!["run", "plan.toml", "--listen", "127.0.0.1:0"];
        run.extend_from_slice(args);
        let child = spawn_with_env(dir, &run, env);
        let pid = child.id();
        let mut daemon = Daemon {
            child: Some(child),
            url: String::new(),
            dir: dir.to_path_buf(),
            _temp: None,
            http,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = daemon
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log = daemon.log();
                panic!("daemon exited during start with {status}: {log}");
            }
            if let Ok(text) = std::fs::read_to_string(&daemon_file)
                && let Ok(value) = serde_json::from_str::<Value>(&text)
                && value["pid"].as_u64() == Some(u64::from(pid))
            {
                daemon.url = value["url"].as_str().expect("url").to_string();
                if daemon
                    .http
                    .get(daemon.at("/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
                {
                    return daemon;
                }
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not become ready in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A client for a golive that is not a child process of the test (the in-process
    /// [`crate::harness`]): the HTTP helpers work, [`Daemon::terminate`] and [`Daemon::kill9`] do not.
    pub fn client_of(url: String, dir: &Path) -> Daemon {
        Daemon {
            child: None,
            url,
            dir: dir.to_path_buf(),
            _temp: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client"),
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.at(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self.http.get(self.at(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// POSTs JSON with the test token.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body, Some(TOKEN))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, body, Some(TOKEN))
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.at(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends SIGTERM and waits for the exit status.
    /// Sends the daemon SIGHUP (it reloads its plan).
    pub fn hangup(&self) {
        let child = self.child.as_ref().expect("running daemon");
        signal(child.id(), "HUP");
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running daemon");
        signal(child.id(), "TERM");
        wait_with_timeout(&mut child, Duration::from_secs(20))
    }

    /// Kills the daemon with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running daemon");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// What the daemon wrote to standard error (its log) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(DAEMON_LOG)).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where a test daemon's standard error goes: a file, never a pipe nobody reads (a full pipe
/// would block the daemon's logging, and with it the daemon).
pub const DAEMON_LOG: &str = "daemon.log";

/// Starts the golive binary in `dir` with the test tokens in its environment; its log is appended
/// to `dir/daemon.log`.
pub fn spawn(dir: &Path, args: &[&str]) -> Child {
    spawn_with_env(dir, args, &[])
}

/// As [`spawn`], with extra environment variables.
pub fn spawn_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(DAEMON_LOG))
        .expect("daemon log file");
    Command::new(env!("CARGO_BIN_EXE_golive"))
        .args(args)
        .current_dir(dir)
        .env("GOLIVE_API_TOKEN", TOKEN)
        .env("GOLIVE_TEST_RM_TOKEN", RM_TOKEN)
        .env("GOLIVE_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn golive")
}

/// Runs the golive CLI to completion in `dir` with the test token and returns (exit code, stdout,
/// stderr).
pub fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_cli(dir, args, Some(TOKEN))
}

/// As [`cli`], with no API token in the environment.
pub fn cli_without_token(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_cli(dir, args, None)
}

/// As [`cli`], with `token` as the API token.
pub fn cli_with_token(dir: &Path, token: &str, args: &[&str]) -> (i32, String, String) {
    run_cli(dir, args, Some(token))
}

fn run_cli(dir: &Path, args: &[&str], token: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_golive"));
    match token {
        Some(token) => command.env("GOLIVE_API_TOKEN", token),
        None => command.env_remove("GOLIVE_API_TOKEN"),
    };
    let output = command
        .args(args)
        .current_dir(dir)
        .env_remove("GOLIVE_TEST_RM_TOKEN")
        .env_remove("GOLIVE_SERVER")
        .env_remove("GOLIVE_PLAN")
        .stdin(Stdio::null())
        .output()
        .expect("run golive");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("daemon did not exit within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens a stopped daemon's database directly (for integrity checks after a crash).
pub fn open_database(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("data").join("golive.db")).expect("open database")
}

/// Polls `probe` until it returns `Some`, for at most `seconds`.
pub async fn eventually<T>(seconds: u64, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a Prometheus-style server (one that answers `GET /-/ready`) that listens on the port
/// it is given: `spawn(port)` starts it on a free loopback port, and this waits until it is
/// ready. A port free when chosen can be taken by a parallel test before the server binds it; the
/// server then exits, and another port is tried.
pub async fn start_ready_server(what: &str, mut spawn: impl FnMut(u16) -> Child) -> (u16, Child) {
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let port = crate::targets::refused_address().await.port();
        let mut child = spawn(port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{port}/-/ready"))
                .send()
                .await
                .is_ok_and(|response| response.status() == 200);
            if ready {
                return (port, child);
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} not ready in 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("{what} exited at start five times (ports taken?)");
}
