//! The status page rendered once and shared by every viewer. A rendering is keyed by what it was
//! made from: the engine's snapshot (a new one after every change of launch state or of a check's
//! health), the plan's generation, the count of successful writes through the HTTP API (notes,
//! acknowledgements, silences: changes the engine makes without a new snapshot) and a coarse
//! clock period of [`FRESH_FOR`]. The page's durations (`for 3 min`, `in 2 h`), probe latencies,
//! reasons and history strips change without a state change; they are at most one period old.
//!
//! A viewer whose key matches the latest rendering gets its bytes (an `Arc` clone): no rendering,
//! no compression, no call to the engine. When the key moved on, one rendering is started in its
//! own task and every viewer who needs it waits for its outcome (no lock is held while waiting). The work itself (building the view, both
//! templates, gzip) runs on the blocking pool, never on the runtime threads that run the probes.
//! While someone watched within [`VIEWERS_LINGER`], a task renders ahead on every new snapshot and
//! at every period's start, so pollers rarely wait at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use tokio::sync::watch;

use super::super::AppState;
use super::super::error::ApiError;
use crate::core::snapshot::Snapshot;

/// How long a rendering serves while the state stays the same: the staleness of the parts that
/// change with time alone.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// How long after the last view the page keeps being rendered ahead (the no-script page reloads
/// every 30 s).
const VIEWERS_LINGER: Duration = Duration::from_secs(35);

/// One rendering of the page and of its live part, plain and gzip-compressed.
pub struct Rendered {
    key: Key,
    /// Which render started it (see [`PageCache::current`]).
    started: u64,
    /// `W/"<instance>-<render>"`: new with every rendering, never reused by another process.
    pub etag: HeaderValue,
    pub page: Encoded,
    pub live: Encoded,
}

/// The same HTML, plain and gzip-compressed.
pub struct Encoded {
    pub identity: Bytes,
    pub gzip: Bytes,
}

impl Encoded {
    /// Compresses `html` once, for every viewer that takes gzip.
    pub fn new(html: String) -> std::io::Result<Encoded> {
        use std::io::Write as _;
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(html.len() / 8), Default::default());
        encoder.write_all(html.as_bytes())?;
        Ok(Encoded {
            gzip: Bytes::from(encoder.finish()?),
            identity: Bytes::from(html),
        })
    }
}

/// What a rendering was made from.
#[derive(Clone)]
struct Key {
    snapshot: Arc<Snapshot>,
    generation: u64,
    writes: u64,
    period: i64,
}

impl Key {
    fn now(state: &AppState, writes: u64) -> Key {
        let period_ms = i64::try_from(FRESH_FOR.as_millis()).unwrap_or(i64::MAX);
        Key {
            snapshot: state.engine.snapshot(),
            generation: state.engine.plans().borrow().generation,
            writes,
            period: state.clock.now().as_millisecond().div_euclid(period_ms),
        }
    }

    /// The rendering kept holds its snapshot, so the pointer cannot be reused by a newer one.
    fn same(&self, other: &Key) -> bool {
        Arc::ptr_eq(&self.snapshot, &other.snapshot)
            && self.generation == other.generation
            && self.writes == other.writes
            && self.period == other.period
    }
}

/// A rendering's outcome, as every viewer waiting for it gets it (an error is answered the same
/// way to each of them).
type Outcome = Result<Arc<Rendered>, (StatusCode, String)>;

/// A rendering under way: whoever needs it waits on `outcome` instead of starting another.
struct Flight {
    started: u64,
    outcome: watch::Receiver<Option<Outcome>>,
}

/// The latest rendering and what decides whether it is still current.
pub struct PageCache {
    latest: Mutex<Option<Arc<Rendered>>>,
    /// The rendering under way, if any (the lock is only held to look and to start one).
    flight: Mutex<Option<Flight>>,
    /// Renders started so far; counted before the key is taken, so a rendering started after a
    /// viewer looked is at least as new as what the viewer asked for.
    starts: AtomicU64,
    /// Successful writes through the API (see [`PageCache::written`]).
    writes: AtomicU64,
    /// When someone last viewed, in milliseconds after `created`.
    last_viewed: AtomicU64,
    created: Instant,
    /// Names this process in ETags, so a restarted daemon's renders never match an old tag.
    instance: String,
    ahead: Once,
}

impl PageCache {
    pub fn new() -> Arc<PageCache> {
        Arc::new(PageCache {
            latest: Mutex::new(None),
            flight: Mutex::new(None),
            starts: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            last_viewed: AtomicU64::new(0),
            created: Instant::now(),
            instance: crate::random::hex::<4>(),
            ahead: Once::new(),
        })
    }

    /// Called after every successful write through the API: the next view renders again.
    pub fn written(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// The rendering for a viewer now: the latest one if nothing changed since, else a new one
    /// (made once for every viewer waiting).
    pub async fn current(self: &Arc<Self>, state: &AppState) -> Result<Arc<Rendered>, ApiError> {
        self.viewed(state);
        self.fresh(state).await
    }

    async fn fresh(self: &Arc<Self>, state: &AppState) -> Result<Arc<Rendered>, ApiError> {
        let wanted = Key::now(state, self.writes.load(Ordering::SeqCst));
        let seen = self.starts.load(Ordering::SeqCst);
        loop {
            if let Some(latest) = self
                .latest()
                .filter(|latest| latest.started > seen || latest.key.same(&wanted))
            {
                return Ok(latest);
            }
            // A rendering that started before this viewer looked may miss what it asks for (a
            // write just answered): then it waits for it to finish and asks again.
            let (started, mut outcome) = self.join_or_start(state);
            let finished = outcome
                .wait_for(Option::is_some)
                .await
                .map(|outcome| (*outcome).clone())
                .map_err(|_| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed")
                })?;
            match finished {
                Some(Ok(rendered)) if started > seen => return Ok(rendered),
                Some(Err((status, message))) if started > seen => {
                    return Err(ApiError::new(status, message));
                }
                _ => {}
            }
        }
    }

    /// The rendering under way, or a new one started in its own task (so a viewer going away
    /// does not cancel what the others wait for).
    fn join_or_start(
        self: &Arc<Self>,
        state: &AppState,
    ) -> (u64, watch::Receiver<Option<Outcome>>) {
        let mut flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = flight.as_ref().filter(|running| {
            running.outcome.borrow().is_none() && running.outcome.has_changed().is_ok()
        }) {
            return (running.started, running.outcome.clone());
        }
        let started = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        let (sender, outcome) = watch::channel(None);
        *flight = Some(Flight {
            started,
            outcome: outcome.clone(),
        });
        let (cache, state) = (self.clone(), state.clone());
        tokio::spawn(async move {
            let rendered = cache.render(&state, started).await;
            if let Ok(rendered) = &rendered {
                *cache.latest.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(rendered.clone());
            }
            sender.send_replace(Some(
                rendered.map_err(|error| (error.status, error.message)),
            ));
        });
        (started, outcome)
    }

    async fn render(&self, state: &AppState, started: u64) -> Result<Arc<Rendered>, ApiError> {
        let key = Key::now(state, self.writes.load(Ordering::SeqCst));
        let (page, live) = super::render_both(state).await?;
        state.metrics.status_page_renders.inc();
        let etag = HeaderValue::from_str(&format!("W/\"{}-{started}\"", self.instance))
            .map_err(|error| ApiError::internal(&error))?;
        Ok(Arc::new(Rendered {
            key,
            started,
            etag,
            page,
            live,
        }))
    }

    fn latest(&self) -> Option<Arc<Rendered>> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Notes the view and, on the first one, starts rendering ahead.
    fn viewed(self: &Arc<Self>, state: &AppState) {
        let since_created = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_viewed.store(since_created, Ordering::Relaxed);
        self.ahead.call_once(|| {
            tokio::spawn(render_ahead(self.clone(), state.clone()));
        });
    }

    fn watched_lately(&self) -> bool {
        let last = Duration::from_millis(self.last_viewed.load(Ordering::Relaxed));
        self.created.elapsed().saturating_sub(last) < VIEWERS_LINGER
    }
}

/// Renders on every new snapshot and at the start of every period while someone watches, so a
/// viewer finds the page ready. Ends with the engine (its snapshot channel closes).
async fn render_ahead(cache: Arc<PageCache>, state: AppState) {
    let mut snapshots = state.engine.subscribe();
    let period_ms = i64::try_from(FRESH_FOR.as_millis()).unwrap_or(i64::MAX);
    loop {
        let into_period = state.clock.now().as_millisecond().rem_euclid(period_ms);
        // Just after the period turns, so the key has moved on when the rendering starts.
        let until_next = u64::try_from(period_ms - into_period + 10).unwrap_or(0);
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(Duration::from_millis(until_next)) => {}
        }
        if cache.watched_lately()
            && let Err(error) = cache.fresh(&state).await
        {
            tracing::debug!(status = %error.status, "status page not rendered ahead");
        }
    }
}
