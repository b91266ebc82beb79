//! The `system` schema a Flight SQL session sees, looked up when a statement names one
//! of its tables, not for every request, each table's rows built when it is scanned
//! (InfluxDB 3's system tables pattern): `system.queries` from the server's query log (a
//! reader or writer sees their own queries, an admin everyone's, as they are when the
//! query runs), and `system.ingests`, `system.report_runs` and
//! `system.alerts` from the lake's own tables (empty ones before the lake has them).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::log::QueryLog;

/// The `system` tables and the lake table behind each one.
const LAKE_TABLES: [(&str, &str); 3] = [
    ("ingests", runlake_lake::INGESTS),
    ("report_runs", runlake_lake::REPORT_RUNS),
    ("alerts", runlake_lake::ALERTS),
];

#[derive(Debug)]
pub struct SystemSchema {
    queries: Arc<QueryLog>,
    /// Whose queries `system.queries` shows (`None`: everyone's).
    user: Option<String>,
    /// The session's lake schema, where the lake's own tables are looked up.
    lake: Arc<dyn SchemaProvider>,
    /// Tables built so far, so a statement that names one twice sees one table.
    built: MemorySchemaProvider,
}

impl SystemSchema {
    pub fn new(
        queries: Arc<QueryLog>,
        user: Option<String>,
        lake: Arc<dyn SchemaProvider>,
    ) -> Self {
        SystemSchema {
            queries,
            user,
            lake,
            built: MemorySchemaProvider::new(),
        }
    }

    async fn build(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name == "queries" {
            return Ok(Some(Arc::new(QueriesTable {
                log: Arc::clone(&self.queries),
                user: self.user.clone(),
                schema: QueryLog::schema(),
            })));
        }
        let Some((_, table)) = LAKE_TABLES.iter().find(|(shown, _)| *shown == name) else {
            return Ok(None);
        };
        if let Some(provider) = self.lake.table(table).await? {
            return Ok(Some(provider));
        }
        Ok(match runlake_lake::empty_system_table(table) {
            Some(empty) => Some(Arc::new(MemTable::try_new(
                empty.schema(),
                vec![vec![empty]],
            )?)),
            None => None,
        })
    }
}

#[tonic::async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = LAKE_TABLES
            .iter()
            .map(|(shown, _)| shown.to_string())
            .chain(["queries".to_string()])
            .collect();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.built.table(name).await? {
            return Ok(Some(table));
        }
        let Some(table) = self.build(name).await? else {
            return Ok(None);
        };
        // Built by a concurrent lookup meanwhile: keep the first.
        if self
            .built
            .register_table(name.to_string(), Arc::clone(&table))
            .is_err()
        {
            return self.built.table(name).await;
        }
        Ok(Some(table))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == "queries" || LAKE_TABLES.iter().any(|(shown, _)| *shown == name)
    }
}

/// `system.queries`: the query log's rows (the user's own, or everyone's for an admin)
/// read from the log when the scan is planned for execution, so they include the queries
/// running at that moment.
#[derive(Debug)]
struct QueriesTable {
    log: Arc<QueryLog>,
    user: Option<String>,
    schema: SchemaRef,
}

#[tonic::async_trait]
impl TableProvider for QueriesTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.log.batch(self.user.as_deref());
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}
