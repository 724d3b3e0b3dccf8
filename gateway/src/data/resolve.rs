//! Resolution: the decision data of one request, from the local cache, then
//! Redis, then the control plane. Any gap that cannot be filled fails closed.

use crate::data::cache::LocalCache;
use crate::ops::metrics::Metrics;
use crate::upstream::trace_context::{self, Layer};
use prometheus::IntCounter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use wrnexus_backends::RedisConnection;
use wrnexus_policies::{
    Entry, EntryKeyRef, Role, SessionClaims, SignInMethods, VersionedEntry, WorkspaceStatus,
};

mod api_keys;
mod control_plane;
mod projects;
mod unavailable;

pub use projects::ProjectAsker;
pub use unavailable::{FailCause, Unavailable};

/// What the decision needs about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `None`: not a member (or the workspace is gone).
    pub role: Option<Role>,
    pub status: WorkspaceStatus,
    pub plan: String,
    /// The projects the membership is limited to; `None`: all of them.
    pub projects: Option<Vec<String>>,
    /// Whether the person proved they own their email (Cedar's
    /// `context.email_verified`); `true` for API keys.
    pub email_verified: bool,
    /// The workspace's sign-in policy: the methods it allows, and how old
    /// a session may be (`None`: any age). Keys are not held to it.
    pub sign_in_methods: SignInMethods,
    pub max_session_age_secs: Option<i64>,
}

impl Resolved {
    /// No membership: denied whatever the workspace's state.
    fn not_a_member() -> Self {
        Resolved {
            role: None,
            status: WorkspaceStatus::Active,
            plan: String::new(),
            projects: None,
            email_verified: false,
            sign_in_methods: SignInMethods::ALL,
            max_session_age_secs: None,
        }
    }
}

/// When a resolution was made from local entries alone: the cache's epoch
/// then, and when the oldest entry it read was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    oldest: Instant,
}

/// Why resolution stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The session was revoked, or the user disabled or deleted.
    #[error("the session has ended")]
    Revoked,
    /// Redis and the control plane could not supply the data.
    #[error("decision data unavailable: {0}")]
    Unavailable(Unavailable),
}

/// Shared Redis handle; `None` while disconnected.
#[derive(Default)]
pub struct RedisLink {
    conn: RwLock<Option<RedisConnection>>,
    /// Whether invalidations are being received right now.
    pub subscribed: AtomicBool,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("subscribed", &self.subscribed.load(Ordering::Relaxed))
            .finish()
    }
}

impl RedisLink {
    pub fn set(&self, conn: Option<RedisConnection>) {
        match self.conn.write() {
            Ok(mut c) => *c = conn,
            Err(p) => *p.into_inner() = conn,
        }
    }

    pub fn get(&self) -> Option<RedisConnection> {
        match self.conn.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Finds decision data.
#[derive(Debug)]
pub struct Resolver {
    pub cache: Arc<LocalCache>,
    /// `None`: no Redis configured (embedded mode, in-process bus).
    pub redis: Option<Arc<RedisLink>>,
    pub(crate) http: reqwest::Client,
    pub(crate) control_plane_url: String,
    cache_ttl: Duration,
    stale_bound: Duration,
    metrics: Metrics,
    /// `metrics.cache` for each result, resolved once.
    hits: IntCounter,
    misses: IntCounter,
    /// Fetches in progress, by missing keys and bearer.
    flights: Mutex<HashMap<String, Arc<OnceCell<Flight>>>>,
}

/// Entries as fetched on a miss, by cache key.
type Fetched = HashMap<String, Arc<VersionedEntry>>;
type Flight = Result<Arc<Fetched>, ResolveError>;
/// The entries of a lookup, in the order of its keys (`None`: not found).
type Found = Vec<Option<Arc<VersionedEntry>>>;

const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

impl Resolver {
    pub fn new(
        cache: Arc<LocalCache>,
        redis: Option<Arc<RedisLink>>,
        http: reqwest::Client,
        control_plane_url: &str,
        cache_ttl: Duration,
        stale_bound: Duration,
        metrics: Metrics,
    ) -> Self {
        Resolver {
            cache,
            redis,
            http,
            control_plane_url: control_plane_url.trim_end_matches('/').to_string(),
            cache_ttl,
            stale_bound,
            hits: metrics.cache.with_label_values(&["hit"]),
            misses: metrics.cache.with_label_values(&["miss"]),
            metrics,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// How long a local entry may be trusted now: when invalidations are not
    /// arriving (Redis down), no longer than the staleness bound.
    fn freshness(&self) -> Duration {
        match &self.redis {
            Some(link) if !link.subscribed.load(Ordering::Relaxed) => {
                self.cache_ttl.min(self.stale_bound)
            }
            _ => self.cache_ttl,
        }
    }

    /// Resolve the data for verified `claims` in `workspace_id` (the
    /// cookie's, or the one a path names); `token` is passed to the control
    /// plane on a miss so that it answers only about its bearer.
    pub async fn resolve(
        &self,
        claims: &SessionClaims,
        workspace_id: &str,
        token: &str,
    ) -> Result<Resolved, ResolveError> {
        self.resolve_at(claims, workspace_id, token, Instant::now())
            .await
            .map(|(resolved, _)| resolved)
    }

    /// [`Self::resolve`], judging the local entries' age at `now` (the
    /// request's start, read by the caller). When everything was local, a
    /// [`Stamp`] says until when the answer holds (see [`Self::holds`]).
    pub async fn resolve_at(
        &self,
        claims: &SessionClaims,
        workspace_id: &str,
        token: &str,
        now: Instant,
    ) -> Result<(Resolved, Option<Stamp>), ResolveError> {
        let ask = || Ask::Session {
            workspace_id,
            token,
            project_id: None,
        };
        // The four keys share one buffer: one allocation per request.
        let mut buf = String::new();
        let mut ends = [0; 4];
        let wanted = [
            EntryKeyRef::Session {
                user_id: &claims.sub,
                session_id: &claims.sid,
            },
            EntryKeyRef::User(&claims.sub),
            EntryKeyRef::Membership {
                workspace_id,
                user_id: &claims.sub,
            },
            EntryKeyRef::Workspace(workspace_id),
        ];
        for (end, key) in ends.iter_mut().zip(wanted) {
            key.push_to(&mut buf);
            *end = buf.len();
        }
        let piece = |i: usize| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            buf.get(start..ends[i]).unwrap_or_default()
        };
        let keys = [piece(0), piece(1), piece(2), piece(3)];
        // The workspace entry only for members: a non-member is never told
        // about it (the control plane leaves it out), so asking for it would
        // miss on every request. Steady state: all local and fresh, one look.
        let epoch = self.cache.epoch();
        let (local, oldest) = self.cache.get_fresh(&keys, self.freshness(), now);
        if local[..3].iter().all(Option::is_some)
            && (local[3].is_some() || !member(local[2].as_deref()))
        {
            self.hits.inc();
            let stamp = oldest.map(|oldest| Stamp { epoch, oldest });
            return evaluate(claims, &local).map(|resolved| (resolved, stamp));
        }
        let mut found = self.lookup(&keys[..3], ask()).await?;
        if member(found[2].as_deref()) {
            found.extend(self.lookup(&keys[3..], ask()).await?);
        }
        evaluate(claims, &found).map(|resolved| (resolved, None))
    }

    /// Whether an answer stamped `stamp` still holds at `now`: no local
    /// entry changed since (no invalidation, fetch or eviction), and the
    /// oldest it rests on is still fresh enough. Counted as a cache hit.
    pub fn holds(&self, stamp: &Stamp, now: Instant) -> bool {
        let holds = self.cache.epoch() == stamp.epoch
            && now.saturating_duration_since(stamp.oldest) <= self.freshness();
        if holds {
            self.hits.inc();
        }
        holds
    }

    /// The entries for `keys`: local ones still fresh, the rest fetched once
    /// however many requests wait for them (single flight).
    async fn lookup(&self, keys: &[&str], ask: Ask<'_>) -> Result<Found, ResolveError> {
        let (mut found, _) = self.cache.get_fresh(keys, self.freshness(), Instant::now());
        if found.iter().all(Option::is_some) {
            self.hits.inc();
            return Ok(found);
        }
        self.misses.inc();
        let missing: Vec<&str> = keys
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(k, _)| *k)
            .collect();
        let flight_key = format!("{}|{}", missing.join(","), ask.scope());
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights
                .entry(flight_key.clone())
                .or_insert_with(|| Arc::new(OnceCell::new()))
                .clone()
        };
        let fetched = cell
            .get_or_init(|| async { self.fetch(&missing, &ask).await.map(Arc::new) })
            .await
            .clone();
        {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            if flights
                .get(&flight_key)
                .is_some_and(|c| Arc::ptr_eq(c, &cell))
            {
                flights.remove(&flight_key);
            }
        }
        let fetched = fetched?;
        for (slot, key) in found.iter_mut().zip(keys) {
            if slot.is_none() {
                *slot = fetched.get(*key).cloned();
            }
        }
        Ok(found)
    }

    /// Fill `missing` from Redis, else the control plane. With Redis
    /// configured but unreachable, only local entries within the staleness
    /// bound serve; past it the request fails closed (503).
    async fn fetch(&self, missing: &[&str], ask: &Ask<'_>) -> Result<Fetched, ResolveError> {
        let mut found = Fetched::new();
        let mut missing: Vec<&str> = missing.to_vec();
        if let Some(link) = &self.redis {
            trace_context::asked(Layer::Redis);
            match self.read_redis(link, &missing).await {
                Ok(entries) => {
                    let now = Instant::now();
                    for (key, entry) in entries {
                        let entry = Arc::new(entry);
                        // Older than an invalidation seen here: ask the control plane.
                        if self.cache.insert(key, entry.clone(), now) {
                            found.insert(key.to_string(), entry);
                        }
                    }
                }
                Err(e) => {
                    self.metrics
                        .backend_errors
                        .with_label_values(&["redis"])
                        .inc();
                    tracing::debug!(error = %e, "redis lookup failed");
                    for key in &missing {
                        match self.cache.get(key) {
                            Some(c) if c.age <= self.stale_bound => {
                                self.metrics.cache.with_label_values(&["stale"]).inc();
                                found.insert(key.to_string(), c.entry);
                            }
                            held => {
                                let cause = match held {
                                    Some(_) => FailCause::StaleBound,
                                    None => FailCause::Redis,
                                };
                                return Err(ResolveError::Unavailable(Unavailable::new(
                                    cause,
                                    format!(
                                        "redis unreachable ({e}) and no local entry within the staleness bound"
                                    ),
                                )));
                            }
                        }
                    }
                    return Ok(found);
                }
            }
            missing.retain(|k| !found.contains_key(*k));
        }

        // Ask the control plane; a second time if a change raced the first answer.
        for _ in 0..2 {
            if missing.is_empty() {
                break;
            }
            let data = self.ask_control_plane(ask).await.inspect_err(|_| {
                self.metrics
                    .backend_errors
                    .with_label_values(&["control_plane"])
                    .inc();
            })?;
            let now = Instant::now();
            for (key, entry) in data.entries {
                let entry = Arc::new(entry);
                // Cache everything the answer carries (a key's workspace too).
                if self.cache.insert(&key, entry.clone(), now) && missing.contains(&key.as_str()) {
                    found.insert(key, entry);
                }
            }
            missing.retain(|k| !found.contains_key(*k));
        }
        Ok(found)
    }

    async fn read_redis<'k>(
        &self,
        link: &RedisLink,
        keys: &[&'k str],
    ) -> Result<Vec<(&'k str, VersionedEntry)>, String> {
        let mut conn = link.get().ok_or("not connected")?;
        let values: Vec<Option<String>> = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("MGET").arg(keys).query_async(&mut conn),
        )
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
        Ok(keys
            .iter()
            .zip(values)
            .filter_map(|(k, v)| Some((*k, serde_json::from_str(&v?).ok()?)))
            .collect())
    }
}

/// Whom the control plane is asked about on a miss.
enum Ask<'a> {
    Session {
        workspace_id: &'a str,
        token: &'a str,
        /// The project the request names, whose entry is wanted too.
        project_id: Option<&'a str>,
    },
    Key {
        token: &'a str,
        project_id: Option<&'a str>,
    },
}

impl Ask<'_> {
    /// Requests with the same missing keys share a fetch only when they
    /// present the same credential kind: the control plane answers about
    /// the bearer alone.
    fn scope(&self) -> &str {
        match self {
            Ask::Session { token, .. } | Ask::Key { token, .. } => token,
        }
    }
}

/// Whether a membership entry names a role.
fn member(entry: Option<&VersionedEntry>) -> bool {
    matches!(
        entry.map(|e| &e.entry),
        Some(Entry::Membership { role: Some(_), .. })
    )
}

/// Turn the session, user, membership and workspace entries (in that
/// order) into a [`Resolved`], or refuse.
fn evaluate(claims: &SessionClaims, found: &Found) -> Result<Resolved, ResolveError> {
    let get = |i: usize| {
        found
            .get(i)
            .and_then(Option::as_deref)
            .map(|e| &e.entry)
            .ok_or_else(|| {
                ResolveError::Unavailable(Unavailable::new(
                    FailCause::IncompleteData,
                    "incomplete decision data",
                ))
            })
    };
    match get(0)? {
        Entry::Session {
            user_id,
            revoked: false,
        } if *user_id == claims.sub => {}
        _ => return Err(ResolveError::Revoked),
    }
    let email_verified = match get(1)? {
        Entry::User {
            disabled: false,
            email_verified,
        } => *email_verified,
        _ => return Err(ResolveError::Revoked),
    };
    let (role, projects) = match get(2)? {
        Entry::Membership {
            role: Some(role),
            projects,
        } => (*role, projects.clone()),
        // Not a member: denied whatever the workspace's state, which a
        // non-member is not told.
        _ => return Ok(Resolved::not_a_member()),
    };
    match get(3)? {
        Entry::Workspace {
            status,
            plan,
            sign_in_methods,
            max_session_age_secs,
        } => Ok(Resolved {
            role: Some(role),
            status: *status,
            plan: plan.clone(),
            projects,
            email_verified,
            sign_in_methods: *sign_in_methods,
            max_session_age_secs: *max_session_age_secs,
        }),
        _ => Ok(Resolved::not_a_member()),
    }
}
