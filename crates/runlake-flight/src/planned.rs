//! Plans kept from one call of a client's statement to the next.
//!
//! One ADBC `execute` is three calls: create a prepared statement, GetFlightInfo, DoGet.
//! Each planned the statement in a session of its own, so a dashboard's small query was
//! planned three times and opened three sessions (most of its server time). Now each call
//! leaves its session and plan here and the next call of the same statement takes them.
//!
//! What makes reuse safe:
//! - The key holds the user and role, so a plan never serves another principal.
//! - The key holds the table versions the plan reads (the ticket's pins), so DoGet runs
//!   the versions its ticket names, as when it planned anew.
//! - A plan is taken, not copied: two DoGets of one ticket never share a session.
//! - A plan without pins (a prepared statement's, taken by its GetFlightInfo) is used only
//!   while it is still current: every table it read at its latest version, and the
//!   lake's views as they were (the caller checks, see `RunlakeFlightSql::current`). A
//!   statement prepared, then a commit, then executed reads the commit.
//! - Entries are few and short-lived: at most [`MAX`], each for at most [`KEEP`].
//!   Without a matching entry a call plans as before, so a dropped entry costs only
//!   time.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use datafusion::logical_expr::LogicalPlan;
use runlake_engine::sql::Session;

use crate::auth::{Principal, Role};

/// How long a plan waits for the next call of its statement.
pub(crate) const KEEP: Duration = Duration::from_secs(10);
/// How many plans wait at most (the oldest goes first).
pub(crate) const MAX: usize = 64;

/// Identifies a statement's plan: who planned it, its text, the table versions it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    user: String,
    role: Role,
    sql: String,
    versions: Vec<(String, u64)>,
}

impl Key {
    pub(crate) fn new<'a>(
        principal: &Principal,
        sql: &str,
        versions: impl IntoIterator<Item = (&'a String, &'a u64)>,
    ) -> Self {
        let mut versions: Vec<(String, u64)> =
            versions.into_iter().map(|(t, v)| (t.clone(), *v)).collect();
        versions.sort();
        Key {
            user: principal.user.clone(),
            role: principal.role,
            sql: sql.to_string(),
            versions,
        }
    }
}

struct Entry {
    key: Key,
    session: Session,
    plan: LogicalPlan,
    /// The lake's views when the plan was made.
    views: Views,
    at: Instant,
}

/// The lake's live views (name, statement).
pub(crate) type Views = Vec<(String, String)>;

/// The plans waiting for their statement's next call.
#[derive(Default)]
pub(crate) struct Planned {
    entries: Mutex<VecDeque<Entry>>,
}

impl Planned {
    /// Keeps `session` and its `plan` of the statement `key` names, made with `views`.
    pub(crate) fn keep(&self, key: Key, session: Session, plan: LogicalPlan, views: Views) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|e| now.duration_since(e.at) < KEEP);
        while entries.len() >= MAX {
            entries.pop_front();
        }
        entries.push_back(Entry {
            key,
            session,
            plan,
            views,
            at: now,
        });
    }

    /// Takes the newest waiting plan of the statement `key` names, if any.
    pub(crate) fn take(&self, key: &Key) -> Option<(Session, LogicalPlan, Views)> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let index = entries
            .iter()
            .rposition(|e| &e.key == key && now.duration_since(e.at) < KEEP)?;
        let entry = entries.remove(index)?;
        Some((entry.session, entry.plan, entry.views))
    }
}
