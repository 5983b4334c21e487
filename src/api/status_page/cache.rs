//! The status page rendered once and shared by every viewer. A rendering is keyed by what it was
//! made from: the engine's snapshot (a new one after every change of launch state or of a check's
//! health), the plan's generation, the count of successful writes through the HTTP API (notes,
//! acknowledgements, silences: changes the engine makes without a new snapshot) and a coarse
//! clock period of [`FRESH_FOR`]. The page's durations (`for 3 min`, `in 2 h`), probe latencies,
//! reasons and history strips change without a state change; they are at most one period old.
//!
//! A viewer whose key matches the latest rendering gets its bytes (an `Arc` clone): no rendering,
//! no compression, no call to the engine. When the key moved on, one request renders for all: the
//! others wait for it on a lock and take its result. The work itself (building the view, both
//! templates, gzip) runs on the blocking pool, never on the runtime threads that run the probes.
//! While someone watched within [`VIEWERS_LINGER`], a task renders ahead on every new snapshot and
//! at every period's start, so pollers rarely wait at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;

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

/// The latest rendering and what decides whether it is still current.
pub struct PageCache {
    latest: Mutex<Option<Arc<Rendered>>>,
    /// Held while rendering, so concurrent viewers of a changed state cause one rendering.
    rendering: tokio::sync::Mutex<()>,
    /// Renders started so far; taken before the key, so a rendering started after a viewer
    /// looked is at least as new as what the viewer asked for.
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
            rendering: tokio::sync::Mutex::new(()),
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

    async fn fresh(&self, state: &AppState) -> Result<Arc<Rendered>, ApiError> {
        let wanted = Key::now(state, self.writes.load(Ordering::SeqCst));
        let seen = self.starts.load(Ordering::SeqCst);
        if let Some(latest) = self.latest().filter(|latest| latest.key.same(&wanted)) {
            return Ok(latest);
        }
        let _rendering = self.rendering.lock().await;
        if let Some(latest) = self
            .latest()
            .filter(|latest| latest.started > seen || latest.key.same(&wanted))
        {
            return Ok(latest);
        }
        let started = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        let key = Key::now(state, self.writes.load(Ordering::SeqCst));
        let (page, live) = super::render_both(state).await?;
        state.metrics.status_page_renders.inc();
        let etag = HeaderValue::from_str(&format!("W/\"{}-{started}\"", self.instance))
            .map_err(|error| ApiError::internal(&error))?;
        let rendered = Arc::new(Rendered {
            key,
            started,
            etag,
            page,
            live,
        });
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(rendered.clone());
        }
        Ok(rendered)
    }

    fn latest(&self) -> Option<Arc<Rendered>> {
        self.latest.lock().ok().and_then(|latest| latest.clone())
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
