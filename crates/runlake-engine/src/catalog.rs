//! The lake's schema (`runlake.public`), loaded lazily: a session lists the lake's table
//! names when it opens (one listing), and loads a table's snapshot only when a statement
//! names it, from the lake's snapshot cache. The version each table was read at is
//! recorded, so a ticket pins exactly the tables its query reads. Views, temporary views
//! and tables a statement creates are registered beside the lake's tables.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Result, exec_err};
use datafusion::execution::runtime_env::RuntimeEnv;
use runlake_lake::Lake;

use crate::sql::lake_error;

/// `runlake.public`: the lake's tables, loaded when first named.
#[derive(Debug)]
pub struct LakeSchema {
    lake: Lake,
    /// Tables read at these versions; the rest at their latest.
    pins: HashMap<String, u64>,
    /// Tables go to a cluster: a `memory://` lake's cannot.
    cluster: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Lake tables not loaded yet.
    unloaded: BTreeSet<String>,
    /// Loaded lake tables and registered ones (views, temporary views, new tables).
    tables: HashMap<String, Arc<dyn TableProvider>>,
    /// The version of every lake table handed out.
    versions: HashMap<String, u64>,
}

impl LakeSchema {
    /// The schema of `lake`'s tables as they are now (pinned ones at their pins), read
    /// through `runtime` (the lake's object store is registered in it). A pin on a table
    /// the lake no longer has is an error.
    pub async fn open(
        lake: Lake,
        runtime: Arc<RuntimeEnv>,
        pins: &HashMap<String, u64>,
        cluster: bool,
    ) -> runlake_lake::Result<LakeSchema> {
        lake.register_store(&runtime)?;
        let unloaded: BTreeSet<String> = lake.table_names().await?.into_iter().collect();
        if let Some(missing) = pins.keys().find(|name| !unloaded.contains(*name)) {
            return Err(runlake_lake::Error::TableNotFound(missing.clone()));
        }
        Ok(LakeSchema {
            lake,
            pins: pins.clone(),
            cluster,
            state: Mutex::new(State {
                unloaded,
                ..State::default()
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether tables are handed out for a cluster to read.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The version of each lake table this schema has handed out so far.
    pub fn versions(&self) -> HashMap<String, u64> {
        self.state().versions.clone()
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let state = self.state();
        let mut names: Vec<String> = state
            .unloaded
            .iter()
            .chain(state.tables.keys())
            .cloned()
            .collect();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        {
            let state = self.state();
            if let Some(table) = state.tables.get(name) {
                return Ok(Some(Arc::clone(table)));
            }
            if !state.unloaded.contains(name) {
                return Ok(None);
            }
        }
        let pin = self.pins.get(name).copied();
        if self.cluster && self.lake.location().url().scheme() == "memory" {
            return Err(lake_error(runlake_lake::Error::InvalidLocation {
                location: self.lake.location().to_string(),
                reason: "a memory:// lake lives in one process; a cluster cannot read its files"
                    .into(),
            }));
        }
        // A fixed list of the version's Parquet files, read by DataFusion's own Parquet
        // scan: no Delta log replay per query (a dashboard's small queries spent most of
        // their time there), footers cached by the runtime across queries.
        let loaded = self.lake.files_at(name, pin).await.map(|files| {
            let version = files.version;
            let table = crate::snapshot::SnapshotTable::new(name, files);
            (Arc::new(table) as Arc<dyn TableProvider>, version)
        });
        let (provider, version) = match loaded {
            Ok(loaded) => loaded,
            // Dropped since the session opened: as if it were never listed.
            Err(runlake_lake::Error::TableNotFound(_)) if pin.is_none() => {
                self.state().unloaded.remove(name);
                return Ok(None);
            }
            Err(e) => return Err(lake_error(e)),
        };
        let mut state = self.state();
        if !state.unloaded.remove(name) {
            // Loaded by a concurrent lookup (or deregistered meanwhile): keep one answer.
            return Ok(state.tables.get(name).cloned());
        }
        state.versions.insert(name.to_string(), version);
        state.tables.insert(name.to_string(), Arc::clone(&provider));
        Ok(Some(provider))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut state = self.state();
        if state.tables.contains_key(&name) || state.unloaded.contains(&name) {
            return exec_err!("The table {name} already exists");
        }
        state.tables.insert(name, table);
        Ok(None)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut state = self.state();
        state.unloaded.remove(name);
        state.versions.remove(name);
        Ok(state.tables.remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        let state = self.state();
        state.tables.contains_key(name) || state.unloaded.contains(name)
    }
}

/// Creates `lake`'s live views in `ctx` (after the lake's schema and the functions they
/// use). A view that no longer plans (a table it reads was dropped) is left out; the
/// returned warnings say which and why.
pub async fn register_views(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
) -> runlake_lake::Result<Vec<String>> {
    // A view may read views defined after it (when those were replaced): create what
    // plans, then retry the rest while that makes progress.
    let mut pending = lake.views().await?;
    let mut errors = Vec::new();
    while !pending.is_empty() {
        errors.clear();
        let before = pending.len();
        let mut rest = Vec::new();
        for (name, statement) in pending {
            if let Err(e) = ctx.sql(&statement).await {
                errors.push(format!("view {name} is not available: {e}"));
                rest.push((name, statement));
            }
        }
        pending = rest;
        if pending.len() == before {
            break;
        }
    }
    Ok(errors)
}
