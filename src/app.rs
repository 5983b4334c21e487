//! Wires the parts together: resolves secrets, opens the store, starts the engine, binds the API,
//! and runs until shutdown, closing the store last. Beside the engine, the probes and the
//! dispatcher it runs the heartbeat (golive watched from outside), which shares the engine's and
//! the dispatcher's [`Liveness`](crate::liveness::Liveness).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::host_check::{self, AllowedHosts};
use crate::api::{self, AppState, Tokens, auth::TOKEN_ENV};
use crate::clock::{Clock, SystemClock};
use crate::domain::Secret;
use crate::engine::{DispatchLink, Engine, EngineHandle, ProbeLink, ReloadError, Reloaded};
use crate::error_chain::error_chain;
use crate::metrics::Metrics;
use crate::notify::dispatcher;
use crate::notify::live::LiveSenders;
use crate::plan::{Plan, SecretSource};
use crate::probe::{ProbeContext, scheduler};
use crate::sd_notify::Service;
use crate::secrets::{self, KeyFileError};
use crate::store::Reader;
use crate::store::{Backend, Store, StoreError, lock_data_dir};

pub mod standby;
mod standby_serve;
pub mod tls;

/// The file in the data directory that tells clients where the running daemon listens.
pub const DAEMON_FILE: &str = "daemon.json";

/// How long in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Set to `1` at start, this environment variable serves the test-only hooks under
/// `/api/v1/test/` (see `api::test_hooks`). Never set it in production.
pub const TEST_HOOKS_ENV: &str = "GOLIVE_TEST_HOOKS";

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "cannot listen on {address}: {source}; is another program using it? Pick another with --listen or [server] listen"
    )]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot build the HTTP client for notifications: {0}")]
    Http(String),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot choose the store: {0}")]
    Database(String),
    #[error("stopped while waiting as a standby")]
    StoppedAsStandby,
    #[error(
        "a store on PostgreSQL (active/standby) needs {missing} in the plan's [alerting]: every member must sign acknowledgement links with the same key and put the same address in them, or a link sent before a failover fails after it. Set `ack_link_secret = {{ env = \"GOLIVE_ACK_SECRET\" }}` (or `{{ file = ... }}`) and `public_url` to a load balancer in front of all members that routes by /readyz (only the active answers 200), and point PagerDuty/Alertmanager webhooks at that address too"
    )]
    SharedLinksMissing { missing: String },
}

/// On PostgreSQL the members take turns: the key that signs acknowledgement links and the address
/// they point at must be the plan's, the same on every member (each member's own random key and
/// listen address would break every link sent before a failover).
fn require_shared_links(plan: &Plan, backend: &Backend) -> Result<(), StartError> {
    if matches!(backend, Backend::Sqlite) {
        return Ok(());
    }
    // A secret that cannot be read would fall back to this member's own key: as bad as none.
    let secret = match plan
        .alerting
        .ack_link_secret
        .as_ref()
        .map(secrets::read_secret)
    {
        None => Some("`ack_link_secret`".to_string()),
        Some(Err(reason)) => Some(format!("a readable `ack_link_secret` ({reason})")),
        Some(Ok(_)) => None,
    };
    let url = plan
        .alerting
        .public_url
        .is_none()
        .then(|| "`public_url`".to_string());
    let missing: Vec<String> = secret.into_iter().chain(url).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StartError::SharedLinksMissing {
        missing: missing.join(" and "),
    })
}

/// Where the store lives: `--database-url` / `GOLIVE_DATABASE_URL` (`given`), else the URL
/// `[store] url` names, else SQLite in the data directory. The reasons never hold the URL.
pub fn store_backend(plan: &Plan, given: Option<&Secret>) -> Result<Backend, StartError> {
    let url = match (
        given,
        plan.store.as_ref().and_then(|store| store.url.as_ref()),
    ) {
        (Some(url), _) => url.clone(),
        (None, Some(source)) => secrets::read_secret(source)
            .map_err(|reason| StartError::Database(format!("[store] url: {reason}")))?,
        (None, None) => return Ok(Backend::Sqlite),
    };
    Backend::from_url(url.expose()).map_err(StartError::Database)
}

/// Options that override the plan at start.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--listen`: overrides `[server] listen`.
    pub listen: Option<SocketAddr>,
    /// `--database-url` / `GOLIVE_DATABASE_URL`: overrides `[store] url`.
    pub database_url: Option<Secret>,
    /// `--advertise-url` / `GOLIVE_ADVERTISE_URL`: where the other members (and the CLI through
    /// them) reach this daemon when it is active; by default the address it listens on.
    pub advertise_url: Option<String>,
    /// Cancelled to stop a daemon still waiting as a standby (on PostgreSQL).
    pub stop: CancellationToken,
}

/// A built daemon, bound and ready to run.
pub struct Application {
    address: SocketAddr,
    listener: TcpListener,
    engine: Engine,
    handle: EngineHandle,
    probe_link: ProbeLink,
    probe_context: Arc<ProbeContext>,
    dispatch_link: DispatchLink,
    dispatcher_reader: Arc<Mutex<Reader>>,
    state: AppState,
    daemon_file: PathBuf,
    /// The watchdog alert's link: the daemon's address as people reach it.
    public_url: String,
    /// `[server] tls`: the certificate served, reloaded on SIGHUP.
    tls: Option<Arc<tls::TlsCertificate>>,
    /// On PostgreSQL: the lease this daemon holds as the active member.
    membership: Option<standby::Membership>,
}

/// Reads every API token from its source; `GOLIVE_API_TOKEN`, when set, is always accepted.
///
/// A token whose source is missing (variable unset, file unreadable or empty) is left out and
/// reported, not fatal: refusing to start would leave the launch unmonitored at go-live over a
/// write token, and a request with the missing token is still refused (401).
pub fn resolve_tokens(plan: &Plan) -> (Tokens, Vec<TokenProblem>) {
    let mut tokens = Vec::new();
    let mut problems = Vec::new();
    for token in &plan.server.tokens {
        match secrets::read_secret(&token.source) {
            Ok(secret) => tokens.push((token.name.clone(), secret)),
            Err(reason) => problems.push(TokenProblem {
                name: token.name.clone(),
                reason,
            }),
        }
    }
    if let Ok(secret) = secrets::read_secret(&SecretSource::Env(TOKEN_ENV.to_string())) {
        tokens.push(("api".to_string(), secret));
    }
    (Tokens::new(tokens), problems)
}

/// The API tokens readable now, each unreadable one (and having none at all) warned about.
fn usable_tokens(plan: &Plan) -> Tokens {
    let (tokens, problems) = resolve_tokens(plan);
    for problem in &problems {
        tracing::warn!(error = %error_chain(problem), "API token unavailable");
    }
    if tokens.is_empty() {
        tracing::warn!(
            "no usable API token: every write will be refused; set {TOKEN_ENV} or add [[server.tokens]] to the plan"
        );
    }
    tokens
}

/// A configured API token that could not be read at start.
#[derive(Debug, thiserror::Error)]
#[error(
    "API token `{name}` is unavailable: {reason}; requests with it will be refused until it is available and golive restarted"
)]
pub struct TokenProblem {
    pub name: String,
    /// Where the token should have come from and why it did not (never any part of a value).
    pub reason: String,
}

/// The certificate (for `[server] tls`) and the bound listener with its real address (the real
/// port when 0 was asked for).
async fn bind(
    plan: &Plan,
    options: &Options,
) -> Result<(TcpListener, SocketAddr, Option<Arc<tls::TlsCertificate>>), StartError> {
    let tls = plan
        .server
        .tls
        .as_ref()
        .map(tls::TlsCertificate::load)
        .transpose()?;
    let address = options.listen.unwrap_or(plan.server.listen);
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })?;
    let address = listener
        .local_addr()
        .map_err(|source| StartError::Bind { address, source })?;
    Ok((listener, address, tls))
}

impl Application {
    /// Resolves secrets, opens the store, loads state and binds the listener.
    pub async fn build(plan: Plan, options: Options) -> Result<Application, StartError> {
        Application::build_with_clock(plan, options, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with an injected clock.
    pub async fn build_with_clock(
        plan: Plan,
        options: Options,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartError> {
        let tokens = usable_tokens(&plan);
        let mut plan = Arc::new(plan);
        let backend = store_backend(&plan, options.database_url.as_ref())?;
        require_shared_links(&plan, &backend)?;
        // SQLite is opened before the listener is bound, as always; PostgreSQL once this daemon
        // holds the lease (it waits as a standby on the bound listener until then).
        let (sqlite, data_dir_lock) = match backend {
            Backend::Sqlite => (
                Some(Store::open_with(&plan.launch.data_dir, &backend)?),
                None,
            ),
            Backend::Postgres(_) => (None, Some(lock_data_dir(&plan.launch.data_dir)?)),
        };
        let metrics = Arc::new(Metrics::new()?);
        metrics.start_at_zero(&plan);
        let ack_key = secrets::ack_link_key(
            plan.alerting.ack_link_secret.as_ref(),
            &plan.launch.data_dir,
        )?;
        let (listener, address, tls) = bind(&plan, &options).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (store, membership) = match (sqlite, &backend) {
            (Some(store), _) => (store, None),
            (None, Backend::Postgres(url)) if let Some(lock) = data_dir_lock => {
                announce(&plan, scheme, address); // the CLI finds a standby, which names the active
                let advertised = (options.advertise_url.clone())
                    .unwrap_or_else(|| format!("{scheme}://{address}"));
                // Installs the SIGHUP handler: a standby reads its plan again on one.
                let stored_view = standby_serve::StoredView::of(&plan, &clock);
                let opened = standby::Waiting {
                    data_dir: &plan.launch.data_dir,
                    url,
                    listener: &listener,
                    advertised_url: &advertised,
                    tls: tls.as_ref(),
                    metrics: metrics.clone(),
                    stored_view: stored_view.clone(),
                    timings: standby::LeaseTimings::of(&plan),
                }
                .open_store_when_active(lock, &options.stop)
                .await?
                .map(|(store, membership)| (store, Some(membership)))
                .ok_or(StartError::StoppedAsStandby)?;
                // The plan file as it is now, not as it was when this member started waiting.
                plan = stored_view.plan_at_takeover().await;
                metrics.start_at_zero(&plan);
                opened
            }
            (None, _) => {
                Store::open_with(&plan.launch.data_dir, &backend).map(|store| (store, None))?
            }
        };
        metrics.ha_role.set(1);
        tracing::info!(store = %backend.describe(), "store opened");
        let reader = store.reader()?;
        let dispatcher_reader = Arc::new(Mutex::new(store.reader()?));
        // Acknowledgement links point at the plan's public URL, else at where the API really
        // listens (with the real port when 0 was asked for).
        let public_url = plan
            .alerting
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{address}"));
        let (mut engine, handle, probe_link, dispatch_link) = Engine::start(
            plan.clone(),
            store,
            clock.clone(),
            metrics.clone(),
            ack_key,
            public_url.clone(),
        )?;
        let probe_context = Arc::new(ProbeContext::new(&plan, clock.clone()));
        if let Some(membership) = &membership {
            membership.start_acting(&mut engine, &dispatch_link.liveness);
        }
        let daemon_file = announce(&plan, scheme, address);
        let client = reqwest::Client::builder()
            .build()
            .map_err(|error| StartError::Http(error.to_string()))?;
        // The senders follow the plan the engine publishes: a reload's channels apply at once.
        let senders = Arc::new(LiveSenders::new(
            handle.plans(),
            client,
            dispatch_link.message_ids.clone(),
        ));
        let state = AppState {
            senders,
            engine: handle.clone(),
            reader: Arc::new(Mutex::new(reader)),
            metrics,
            tokens: Arc::new(tokens),
            clock,
            test_hooks: test_hooks_enabled(),
        };
        Ok(Application {
            address,
            listener,
            engine,
            handle,
            probe_link,
            probe_context,
            dispatch_link,
            dispatcher_reader,
            state,
            daemon_file,
            public_url,
            tls,
            membership,
        })
    }

    /// The address the API listens on (with the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The engine's handle (for in-process callers such as the demo).
    pub fn engine(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Serves until `shutdown` is cancelled: stops accepting, lets in-flight requests finish (up to
    /// a grace period), stops the engine, and closes the store last.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application {
            address,
            listener,
            engine,
            handle,
            probe_link,
            probe_context,
            dispatch_link,
            dispatcher_reader,
            state,
            daemon_file,
            public_url,
            tls,
            membership,
        } = self;

        // Installed before anything is served: an unhandled SIGHUP would end the process.
        let reloads = tokio::spawn(reload_on_hangup(
            hangup_signal(),
            handle.clone(),
            tls.clone(),
            shutdown.clone(),
        ));
        let plan = state.plan();
        tracing::info!(
            launch = %plan.launch.name,
            phase = %handle.snapshot().state.phase,
            address = %address,
            data_dir = %plan.launch.data_dir.display(),
            "golive is running"
        );
        let engine_stop = CancellationToken::new();
        let engine_task = tokio::spawn(engine.run(engine_stop.clone()));
        let probes_stop = CancellationToken::new();
        let probes = TaskTracker::new();
        scheduler::spawn(
            probe_link.plans,
            probe_context,
            probe_link.results,
            probe_link.phase,
            state.metrics.clone(),
            probes_stop.clone(),
            &probes,
        );
        probes.close();
        tracing::info!(checks = plan.checks.len(), "probes started");
        if state.test_hooks {
            tracing::warn!(
                "{TEST_HOOKS_ENV}=1: the test-only hooks under /api/v1/test/ are served; never set it in production"
            );
        }
        let liveness = dispatch_link.liveness.clone();
        let heartbeat_stop = CancellationToken::new();
        let heartbeat = tokio::spawn(crate::heartbeat::run(
            plan.clone(),
            liveness.clone(),
            state.metrics.clone(),
            state.clock.clone(),
            state.senders.http_client(),
            public_url,
            heartbeat_stop.clone(),
        ));
        let dispatcher_stop = CancellationToken::new();
        let dispatcher = start_dispatcher(
            &state,
            &plan,
            dispatcher_reader,
            dispatch_link,
            dispatcher_stop.clone(),
        );
        let allowed_hosts = AllowedHosts::new(
            &plan.server.allowed_hosts,
            plan.alerting.public_url.as_deref(),
        );
        let router = host_check::guard(api::router(state), allowed_hosts);
        let served = tls::serve(listener, tls.as_ref(), router, shutdown.clone())?;
        // The store is open and the listener bound: systemd may count golive as started.
        let service = Service::ready(
            &format!("running \"{}\" on {address}", plan.launch.name),
            liveness,
        );
        shutdown.cancelled().await;
        service.stopping().await;
        tracing::info!("shutting down: finishing in-flight requests");
        match tokio::time::timeout(SHUTDOWN_GRACE, served).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::error!(%error, "server error during shutdown"),
            Ok(Err(error)) => tracing::error!(%error, "server task failed"),
            Err(_) => tracing::warn!("in-flight requests did not finish in time"),
        }
        // The heartbeat stops first: a golive shutting down no longer vouches for itself.
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
        let _ = reloads.await;
        // Then the probes stop, then the engine (after the server, so every request that reached it
        // is answered); it writes the minute history last.
        probes_stop.cancel();
        if tokio::time::timeout(SHUTDOWN_GRACE, probes.wait())
            .await
            .is_err()
        {
            tracing::warn!("probes did not stop in time");
        }
        // The dispatcher stops before the engine, so the outcomes it reports are recorded.
        dispatcher_stop.cancel();
        let _ = dispatcher.await;
        engine_stop.cancel();
        drop(handle);
        let store = engine_task.await?;
        drop(store);
        if let Some(membership) = membership {
            membership.release().await;
        }
        let _ = std::fs::remove_file(&daemon_file);
        tracing::info!("stopped; store closed");
        Ok(())
    }
}

/// Writes `daemon.json` (where clients find this daemon) and returns its path; a failure is a
/// warning (clients must then be given `--server`).
fn announce(plan: &Plan, scheme: &str, address: SocketAddr) -> PathBuf {
    let daemon_file = plan.launch.data_dir.join(DAEMON_FILE);
    let announcement = serde_json::json!({
        "pid": std::process::id(),
        "listen": address.to_string(),
        "url": format!("{scheme}://{address}"),
    });
    if let Err(error) = std::fs::write(&daemon_file, announcement.to_string()) {
        tracing::warn!(file = %daemon_file.display(), %error, "cannot write the daemon file; clients must be given --server");
    }
    daemon_file
}

/// Logs what each notification channel will do (and which cannot deliver), then starts the
/// dispatcher that drains the outbox through them.
fn start_dispatcher(
    state: &AppState,
    plan: &Plan,
    dispatcher_reader: Arc<Mutex<Reader>>,
    dispatch_link: DispatchLink,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let senders = state.senders.current();
    for line in senders.describe() {
        tracing::info!(channel = %line, "notifications");
    }
    if senders.email().writes_eml_files() {
        tracing::warn!(
            folder = %dispatcher::outbox_dir(plan).display(),
            "no [smtp] configured: emails are written as .eml files to the outbox folder"
        );
    }
    for problem in senders.problems() {
        tracing::error!(problem = %problem, "a notification channel cannot deliver; fix its secret and reload");
    }
    let live = state.senders.clone();
    tokio::spawn(dispatcher::run(
        move || live.current(),
        dispatcher_reader,
        dispatch_link,
        state.metrics.clone(),
        state.clock.clone(),
        stop,
    ))
}

/// The reload path of a running daemon (`SIGHUP`): reads the plan file again and applies it
/// (see `engine::reload`), logging the outcome as `golive check` would print it. This is the
/// seam for systemd's notify protocol: send `RELOADING=1` (with `MONOTONIC_USEC`) before calling
/// it and `READY=1` when it returns, whatever the outcome (a refused reload leaves the daemon
/// running the plan it had, so it is ready again either way).
pub async fn reload_plan(engine: &EngineHandle, author: &str) -> Result<Reloaded, ReloadError> {
    let result = engine.reload_from_file(author.to_string()).await;
    match &result {
        Ok(reloaded) => {
            for warning in &reloaded.warnings {
                tracing::warn!(diagnostic = %warning.display(&reloaded.path), "plan warning");
            }
            tracing::info!(changes = %reloaded.summary, by = author, "plan reloaded");
        }
        Err(ReloadError::Invalid { path, diagnostics }) => {
            for diagnostic in diagnostics {
                tracing::error!(diagnostic = %diagnostic.display(path), "plan not reloaded");
            }
            tracing::error!(error = %result.as_ref().err().map(ToString::to_string).unwrap_or_default(), "plan not reloaded");
        }
        Err(error) => tracing::error!(error = %error_chain(error), "plan not reloaded"),
    }
    result
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

/// The `SIGHUP` handler, installed now (an unhandled SIGHUP would end the process).
fn hangup_signal() -> Hangups {
    #[cfg(unix)]
    {
        let hangup = tokio::signal::unix::SignalKind::hangup();
        tokio::signal::unix::signal(hangup).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Reloads the plan (and the TLS certificate, when golive serves HTTPS) on every `SIGHUP` until
/// `shutdown`, telling systemd it is reloading and then ready again, whatever the outcome: a
/// refused plan or a broken certificate leaves golive running on what it had.
async fn reload_on_hangup(
    hangups: Hangups,
    engine: EngineHandle,
    tls: Option<Arc<tls::TlsCertificate>>,
    shutdown: CancellationToken,
) {
    #[cfg(unix)]
    {
        let Some(mut hangups) = hangups else {
            tracing::warn!("cannot listen for SIGHUP; reload with `golive reload` instead");
            return;
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = hangups.recv() => {
                    if received.is_none() {
                        return;
                    }
                    tracing::info!("SIGHUP: reloading the plan");
                    crate::sd_notify::notify_reloading();
                    let _ = reload_plan(&engine, "signal").await;
                    if let Some(certificate) = &tls
                        && let Err(error) = certificate.reload_tls()
                    {
                        tracing::error!(error = %error_chain(&error), "TLS certificate not reloaded; the old one is still served");
                    }
                    crate::sd_notify::notify_ready("running; plan reloaded");
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (hangups, engine, tls);
        shutdown.cancelled().await;
    }
}

/// Whether `GOLIVE_TEST_HOOKS=1` was set at start.
fn test_hooks_enabled() -> bool {
    std::env::var(TEST_HOOKS_ENV).is_ok_and(|value| value.trim() == "1")
}

/// A future that completes on SIGINT or SIGTERM; the handlers are installed when this is called.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    // The handlers are registered now, before the caller starts serving: a SIGTERM that arrives
    // while the first tasks are still being scheduled must not kill the process unclean.
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
