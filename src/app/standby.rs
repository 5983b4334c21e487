//! Active/standby on PostgreSQL: every daemon on the same plan and database is a member; the one
//! holding the lease (`store::lease`) is active. Until it holds it, a daemon is a standby: it
//! serves `/healthz`, `/metrics` (`golive_ha_role` 0), the stored reads and the status page from
//! the database, and answers writes 503 with the active's URL (header `X-Golive-Active`, field
//! `active_url`), so the CLI retries there (`standby_serve.rs`); each second it tries to take the
//! lease. Once active, a thread of its own renews the lease every
//! second and moves the [`LeaseDeadline`] the dispatcher checks before each send; when a renewal
//! finds the lease taken, or the deadline passes without one, the daemon steps down by exiting
//! ([`EXIT_STEPPED_DOWN`]), so systemd starts it again, as a standby.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{StartError, tls};
use crate::domain::Secret;
use crate::liveness::LeaseDeadline;
use crate::metrics::Metrics;
use crate::store::lease::{LeaseConnection, LeaseHolder, Renewal, Standing, member_id};
use crate::store::{DataDirLock, Store, StoreError};

/// The lease's timings, all from its length (`[store] lease`, default 5 s).
#[derive(Debug, Clone, Copy)]
pub struct LeaseTimings {
    /// How long a lease lasts without renewal.
    pub lease: Duration,
}

impl LeaseTimings {
    /// The plan's `[store] lease`, else the default.
    pub fn of(plan: &crate::plan::Plan) -> LeaseTimings {
        LeaseTimings {
            lease: (plan.store.as_ref())
                .map_or(crate::plan::store::DEFAULT_LEASE, |store| store.lease),
        }
    }

    /// How often the active renews it, and a standby tries to take it: a fifth of the lease (1 s).
    fn renew_every(self) -> Duration {
        self.lease / 5
    }

    /// Sending stops this long before the lease would run out by the local boot clock: room for
    /// a clock running a little fast and for the time a message takes to leave (1.5 s of 5 s).
    fn safety_margin(self) -> Duration {
        self.lease * 3 / 10
    }

    /// How long after a renewal's start acting is safe.
    fn safe_for(self) -> Duration {
        self.lease.saturating_sub(self.safety_margin())
    }
}
/// The longest a clean stop waits for the database to take the lease back: within the time the
/// stop asks of systemd after its drain (`notify::dispatcher`'s `AFTER_DRAIN`, 15 s).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// The exit code of a daemon that stepped down (EX_TEMPFAIL): restart it, it comes back a standby.
pub const EXIT_STEPPED_DOWN: i32 = 75;

/// The lease held: what the active member keeps for as long as it runs.
pub struct Membership {
    pub member: String,
    pub epoch: i64,
    /// This member's advertised URL.
    pub url: String,
    /// The member that held the lease before, when another one.
    pub previous: Option<String>,
    pub deadline: Arc<LeaseDeadline>,
    lease: Arc<LeaseConnection>,
    /// What ends the renewal and the watcher at a clean stop.
    renewing: Renewing,
    /// How long the lease lasts: a clean stop waits no longer to give it up (at most
    /// [`RELEASE_WAIT`]).
    lease_length: Duration,
}

/// What stops the lease's two threads: the renewal, and the watcher that steps down when the
/// deadline passes (both stopped before a clean stop gives the lease up; that release is bounded
/// by [`RELEASE_WAIT`], so a stop stuck on a silent database still ends).
#[derive(Clone)]
struct Renewing {
    renewal: CancellationToken,
    watcher: CancellationToken,
}

impl Membership {
    /// Before the engine runs: it records the takeover, and the dispatcher sends only while the
    /// lease surely holds.
    pub fn start_acting(
        &self,
        engine: &mut crate::engine::Engine,
        liveness: &crate::liveness::Liveness,
    ) {
        engine.record_takeover(&self.takeover());
        liveness.act_under_lease(self.deadline.clone());
    }

    /// The takeover, as the engine records it.
    fn takeover(&self) -> crate::engine::Takeover {
        crate::engine::Takeover {
            member: self.member.clone(),
            epoch: self.epoch,
            url: self.url.clone(),
            previous: self.previous.clone(),
        }
    }

    /// A clean stop: renewal ends and the lease is given up, so a standby takes over at once.
    /// Giving it up waits at most a lease, and 5 s (a renewal stuck on a silent database holds the lease's
    /// connection; the lease then runs out by itself), on a thread of its own that is left
    /// behind if it hangs. Called once the dispatcher, the engine and the store have stopped, so
    /// nothing is left to send or fence: the step-down watcher ends first, else a release slower
    /// than the deadline's slack would turn a clean stop into a step-down (exit 75).
    pub async fn release(self) {
        self.renewing.renewal.cancel();
        self.renewing.watcher.cancel();
        let (lease, epoch) = (self.lease, self.epoch);
        let (given_up, released) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("golive-lease-release".into())
            .spawn(move || {
                let _ = given_up.send(lease.release(epoch));
            });
        let outcome = match spawned {
            Ok(_) => tokio::time::timeout(self.lease_length.min(RELEASE_WAIT), released).await,
            Err(error) => Ok(Ok(Err(StoreError::ConnectionLost(error.to_string())))),
        };
        match outcome {
            Ok(Ok(Ok(()))) => tracing::info!(epoch, "gave the lease up"),
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, epoch, "could not give the lease up; it runs out by itself")
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    epoch,
                    "the database did not answer in time to give the lease up; it runs out by itself"
                )
            }
        }
    }
}

/// What a member waits with.
pub struct Waiting<'a> {
    pub data_dir: &'a std::path::Path,
    pub url: &'a Secret,
    /// The daemon's bound listener: the standby answers on it while it waits.
    pub listener: &'a TcpListener,
    pub advertised_url: &'a str,
    pub tls: Option<&'a Arc<tls::TlsCertificate>>,
    pub metrics: Arc<Metrics>,
    /// What the standby serves the stored launch from.
    pub stored_view: super::standby_serve::StoredView,
    pub timings: LeaseTimings,
}

impl Waiting<'_> {
    /// Waits as a standby until this daemon holds the lease (serving the standby's answers on
    /// the listener meanwhile), then starts renewing it. `None` when `stop` came first. The data
    /// directory's lock (taken at start, before anything is written there) is handed back, for
    /// the store.
    pub async fn become_active(
        &self,
        lock: DataDirLock,
        stop: &CancellationToken,
    ) -> Result<Option<(Membership, DataDirLock)>, StartError> {
        let Waiting {
            data_dir,
            url,
            listener,
            advertised_url,
            tls: tls_certificate,
            metrics,
            stored_view,
            timings,
        } = self;
        let timings = *timings;
        let metrics = metrics.clone();
        let member = member_id(data_dir).map_err(|error| {
            StartError::Database(format!(
                "cannot read or create this member's id in {}: {error}",
                data_dir.join(crate::store::lease::MEMBER_ID_FILE).display()
            ))
        })?;
        let lease = {
            let (url, member, advertised) =
                ((*url).clone(), member.clone(), advertised_url.to_string());
            blocking(move || LeaseConnection::connect(&url, &member, &advertised, timings.lease))
                .await?
        };
        let lease = Arc::new(lease);
        let holder = Arc::new(Mutex::new(None::<LeaseHolder>));
        let serving = CancellationToken::new();
        let mut server = None;
        let path = data_dir.join(crate::store::DATABASE_FILE);
        let mut kept_out = false;
        let (epoch, previous, acquire_sent) = loop {
            let started = Instant::now();
            let attempt = {
                let (lease, path) = (lease.clone(), path.clone());
                blocking(move || attempt_to_take(&lease, &path)).await
            };
            match attempt {
                Ok(Attempt::Took {
                    epoch,
                    before,
                    sent,
                }) => break (epoch, before.member, sent),
                Ok(Attempt::Held {
                    current,
                    writer_locked,
                }) => {
                    note_writer_lock(&mut kept_out, writer_locked);
                    if server.is_none() {
                        tracing::info!(active = %current.member, epoch = current.epoch, url = %current.url, "standby: another golive holds the lease; waiting for it");
                        metrics.ha_role.set(0);
                        // Started, as systemd's Type=notify asks, though it waits for the lease.
                        crate::sd_notify::notify_ready(&format!(
                            "standby: waiting for the lease held by {} ({})",
                            current.member, current.url
                        ));
                        server = Some(super::standby_serve::serve_standby(
                            listener,
                            *tls_certificate,
                            holder.clone(),
                            metrics.clone(),
                            (stored_view, url),
                            serving.clone(),
                        )?);
                    }
                    *holder.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
                }
                // An older golive than the database's schema never competes: restarting it
                // does not help, upgrading it does.
                Err(error @ StoreError::TooNew { .. }) => {
                    serving.cancel();
                    return Err(error.into());
                }
                Err(error) => {
                    tracing::warn!(%error, "standby: cannot reach the lease; trying again")
                }
            }
            crate::sd_notify::notify_watchdog();
            tokio::select! {
                () = stop.cancelled() => {
                    serving.cancel();
                    return Ok(None);
                }
                () = tokio::time::sleep(timings.renew_every().saturating_sub(started.elapsed())) => {}
            }
        };
        let (deadline, renewing) = start_renewal(lease.clone(), epoch, acquire_sent, timings);
        serving.cancel();
        if let Some(server) = server
            && tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
        {
            tracing::warn!("standby: open connections did not close in time");
        }
        metrics.ha_role.set(1);
        crate::sd_notify::notify_status(&format!(
            "active: took the lease (epoch {epoch}); opening the store"
        ));
        tracing::info!(member = %member, epoch, "took the lease: this golive is now the active one");
        Ok(Some((
            Membership {
                previous: Some(previous)
                    .filter(|previous| !previous.is_empty() && *previous != member),
                member,
                epoch,
                url: advertised_url.to_string(),
                deadline,
                lease,
                renewing,
                lease_length: timings.lease,
            },
            lock,
        )))
    }
}

impl Waiting<'_> {
    /// [`Waiting::become_active`], then the store opened under the lease (the engine records the
    /// takeover: [`Membership::takeover`]).
    pub async fn open_store_when_active(
        &self,
        lock: DataDirLock,
        stop: &CancellationToken,
    ) -> Result<Option<(Store, Membership)>, StartError> {
        let Some((membership, lock)) = self.become_active(lock, stop).await? else {
            return Ok(None);
        };
        match Store::open_leased(self.data_dir, lock, self.url, membership.epoch) {
            Ok(store) => Ok(Some((store, membership))),
            // Not kept while this member exits (or restarts into the same failure): another
            // member may be able to open the store.
            Err(error) => {
                tracing::error!(error = %crate::error_chain::error_chain(&error), "cannot open the store after taking the lease; giving the lease up");
                membership.release().await;
                Err(error.into())
            }
        }
    }
}

/// Says, once each time it changes, whether another program's writer lock keeps this member
/// from competing for the lease (`None`: not looked at this time).
fn note_writer_lock(kept_out: &mut bool, writer_locked: Option<bool>) {
    let Some(writer_locked) = writer_locked else {
        return;
    };
    if writer_locked != *kept_out {
        if writer_locked {
            tracing::error!(
                "another program holds golive's writer lock on the database (a golive from before high availability, or golive's tools): this member does not take the lease while it runs; stop it"
            );
        } else {
            tracing::info!("golive's writer lock is free again");
        }
        *kept_out = writer_locked;
    }
}

/// One try at the lease.
enum Attempt {
    /// Taken at `epoch`; `before` held it until then; `sent` is when the statement left (by
    /// the boot clock).
    Took {
        epoch: i64,
        before: LeaseHolder,
        sent: Duration,
    },
    /// Another member holds it, or this one may not take it while another program holds the
    /// writer lock (`writer_locked`; `None` when it was not probed: another member's lease runs).
    Held {
        current: LeaseHolder,
        writer_locked: Option<bool>,
    },
}

/// Reads who holds the lease and where this member stands ([`LeaseConnection::standing`]: not
/// with a newer schema, not while another member's lease runs, not beside a writer without the
/// lease), then tries to take it.
fn attempt_to_take(lease: &LeaseConnection, path: &std::path::Path) -> Result<Attempt, StoreError> {
    // Who held it before, read first: the row changes only when a member takes it.
    let before = lease.holder()?;
    let writer_locked = match lease.standing(path, &before)? {
        Standing::HeldByAnother => None,
        Standing::WriterLocked => Some(true),
        Standing::MayTake => Some(false),
    };
    if writer_locked != Some(false) {
        return Ok(Attempt::Held {
            current: before,
            writer_locked,
        });
    }
    // The lease runs from when the database ran the statement, which is after this instant:
    // the deadline counts from here, never later.
    let sent = crate::liveness::boot_clock();
    Ok(match lease.try_acquire()? {
        Some(epoch) => Attempt::Took {
            epoch,
            before,
            sent,
        },
        None => Attempt::Held {
            current: before,
            writer_locked: Some(false),
        },
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::ConnectionLost(error.to_string()))?
}

/// The deadline of a lease just taken (its statement sent at `acquire_sent` by the boot clock),
/// kept moving by [`spawn_renewal`]; cancelling the token ends the renewal.
fn start_renewal(
    lease: Arc<LeaseConnection>,
    epoch: i64,
    acquire_sent: Duration,
    timings: LeaseTimings,
) -> (Arc<LeaseDeadline>, Renewing) {
    let deadline = LeaseDeadline::new();
    deadline.renewed(acquire_sent, timings.safe_for());
    let renewing = Renewing {
        renewal: CancellationToken::new(),
        watcher: CancellationToken::new(),
    };
    spawn_renewal(lease, epoch, deadline.clone(), renewing.clone(), timings);
    (deadline, renewing)
}

/// Renews the lease every second on a thread of its own (a busy runtime cannot delay it); steps
/// down (exits) when the lease is taken or its deadline passes unrenewed. A second thread watches
/// the deadline by itself: a database that stops answering (a network that drops packets
/// silently) leaves the renewal waiting, and the member must still step down once its lease has
/// surely run out.
fn spawn_renewal(
    lease: Arc<LeaseConnection>,
    epoch: i64,
    deadline: Arc<LeaseDeadline>,
    stop: Renewing,
    timings: LeaseTimings,
) {
    // With the test hooks on, a member that finds its lease taken stays a few seconds before it
    // exits, so a test sees the fences hold by themselves (its writes refused, nothing sent).
    let linger = if super::test_hooks_enabled() {
        Duration::from_secs(3)
    } else {
        Duration::ZERO
    };
    let watched = (deadline.clone(), stop.watcher);
    let stop = stop.renewal;
    let spawned = std::thread::Builder::new()
        .name("golive-lease".into())
        .spawn(move || {
            while !stop.is_cancelled() {
                let started = Instant::now();
                let started_on_deadline_clock = deadline.now();
                // A clean stop cancels the token, then releases. A renewal that passed the
                // token's check just before finds the release under the connection's lock
                // instead (`GivenUp`, nothing sent), so none runs after it.
                match lease.renew(epoch) {
                    Ok(Renewal::Renewed) => {
                        deadline.renewed(started_on_deadline_clock, timings.safe_for())
                    }
                    Ok(Renewal::GivenUp) => break,
                    Ok(Renewal::Taken) => {
                        std::thread::sleep(linger);
                        step_down(epoch, "another golive has taken the lease")
                    }
                    Err(error) if !deadline.holds() => step_down(
                        epoch,
                        &format!("the lease could not be renewed in time ({error})"),
                    ),
                    Err(error) => tracing::warn!(%error, "cannot renew the lease; trying again"),
                }
                std::thread::sleep(timings.renew_every().saturating_sub(started.elapsed()));
            }
        })
        .and_then(|_| {
            let (deadline, stop) = watched;
            std::thread::Builder::new()
                .name("golive-lease-watch".into())
                .spawn(move || {
                    // Past the deadline by the margin, the lease has run out by this host's
                    // clock too: another member may hold it. (So renewals that succeed but each
                    // take over half the lease step down too: a database that slow cannot hold a
                    // lease that short, and sends would stop before each renewal returned.)
                    while !stop.is_cancelled() {
                        if deadline.overdue() > timings.safety_margin() {
                            std::thread::sleep(linger);
                            step_down(
                                epoch,
                                "the database did not answer the lease's renewal in time",
                            );
                        }
                        std::thread::sleep(Duration::from_millis(250));
                    }
                })
        });
    if let Err(error) = spawned {
        step_down(epoch, &format!("cannot start the lease's thread: {error}"));
    }
}

/// Ends the process: this daemon is no longer (surely) the active one. The engine's writes are
/// already fenced and the dispatcher sends nothing; restarted, it comes back a standby.
fn step_down(epoch: i64, why: &str) -> ! {
    tracing::error!(
        epoch,
        reason = why,
        "stepping down: this golive is no longer the active one; it exits so its service manager restarts it as a standby"
    );
    eprintln!("golive: stepping down (epoch {epoch}): {why}; restart it to serve as a standby");
    std::process::exit(EXIT_STEPPED_DOWN)
}
