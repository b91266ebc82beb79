//! What the lake holds (`tables`, `schema`) and how it is kept: `forget`, `compact`.

use std::time::Duration;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{SessionContext, col, lit};

use crate::ingest::{INGESTS, ingests_rows};
use crate::{CommitKey, Error, Lake, Result};

/// A table's size and shape.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub version: u64,
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
    pub schema: SchemaRef,
}

/// What `compact` did to one table.
#[derive(Debug, Clone)]
pub struct CompactReport {
    pub table: String,
    pub files_before: usize,
    pub files_after: usize,
    pub files_removed: usize,
}

impl Lake {
    /// Whether a commit after `version` of table `name` deleted rows (`forget` is the
    /// lake's one delete): a reader pinned to `version` would see rows the lake no longer
    /// holds.
    pub async fn deleted_since(&self, name: &str, version: u64) -> Result<bool> {
        use futures::TryStreamExt;
        // Asked before every ticket a server streams: from the snapshot cache (one HEAD
        // when nothing was committed since), not a fresh load of the table's log.
        if !self.has_log(name).await? {
            return Ok(false);
        }
        let table = match self.snapshot(name, None).await {
            Ok(table) => table,
            Err(Error::TableNotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let current = table.version().unwrap_or_default();
        if version >= current {
            return Ok(false);
        }
        let newer = usize::try_from(current - version).unwrap_or(usize::MAX);
        let commits: Vec<_> = table.history(Some(newer)).try_collect().await?;
        // The operation name is the Delta protocol's commitInfo field.
        Ok(commits
            .iter()
            .any(|c| c.operation.as_deref() == Some("DELETE")))
    }

    /// Row count, size, file count and schema of table `name`.
    pub async fn info(&self, name: &str) -> Result<TableInfo> {
        let table = self
            .table(name)
            .await?
            .ok_or_else(|| Error::TableNotFound(name.to_string()))?;
        let state = table.snapshot()?;
        let (mut rows, mut bytes, mut files) = (0u64, 0u64, 0usize);
        for file in state.log_data().iter() {
            rows += file.num_records().unwrap_or(0) as u64;
            bytes += file.size().max(0) as u64;
            files += 1;
        }
        Ok(TableInfo {
            name: name.to_string(),
            version: table.version().unwrap_or_default() as u64,
            rows,
            bytes,
            files,
            schema: state.snapshot().arrow_schema(),
        })
    }

    /// Deletes every row that came from `source` (its `_source`), in every table, and
    /// records the forget in `_ingests` so the same content can be ingested again.
    /// Returns the rows deleted per table.
    pub async fn forget(&self, source: &str) -> Result<Vec<(String, usize)>> {
        let mut deleted = Vec::new();
        for name in self.table_names().await? {
            if name == INGESTS {
                continue;
            }
            let Some(table) = self.table(&name).await? else {
                continue;
            };
            let has_source = table
                .snapshot()?
                .snapshot()
                .arrow_schema()
                .field_with_name("_source")
                .is_ok();
            if !has_source {
                continue;
            }
            let (_, metrics) = table
                .delete()
                .with_predicate(col("_source").eq(lit(source)))
                .await
                .map_err(|e| Error::from_write(&name, e))?;
            let n = metrics.num_deleted_rows.unwrap_or(0);
            if n > 0 {
                deleted.push((name, n));
            }
        }
        // Which contents came from this source: each gets a new ingest generation.
        if self.table(INGESTS).await?.is_some() {
            let ctx = SessionContext::new();
            ctx.register_table("i", self.provider(INGESTS).await?)?;
            let shas = ctx
                .sql(&format!(
                    "SELECT DISTINCT sha256 FROM i WHERE action = 'ingest' AND source = '{}'",
                    source.replace('\'', "''")
                ))
                .await?
                .collect()
                .await?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            for batch in shas {
                // Scans may return strings as Utf8View: read them as plain Utf8.
                let column = cast(batch.column(0), &DataType::Utf8)?;
                let column = column.as_any().downcast_ref::<StringArray>().cloned();
                for sha in column
                    .iter()
                    .flat_map(|c| c.iter().flatten().map(str::to_string).collect::<Vec<_>>())
                {
                    let rows = ingests_rows(
                        &sha,
                        source,
                        "",
                        &[("*".to_string(), None)],
                        0,
                        "forget",
                        now,
                    );
                    let key = CommitKey::new(format!("forget:{sha}:{now}"));
                    self.append(INGESTS, vec![rows], &key, &[], false).await?;
                }
            }
        }
        Ok(deleted)
    }

    /// Merges the small files of table `name` into large ones (one commit that adds the
    /// merged files and removes the small ones, so readers see every row exactly once
    /// before and after), then deletes files no longer referenced and older than
    /// `retention`.
    pub async fn compact(&self, name: &str, retention: Duration) -> Result<CompactReport> {
        let table = self
            .table(name)
            .await?
            .ok_or_else(|| Error::TableNotFound(name.to_string()))?;
        let files_before = table.snapshot()?.log_data().num_files();
        let schema = table.snapshot()?.snapshot().arrow_schema();
        let (table, _metrics) = table
            .optimize()
            .with_writer_properties(crate::writer_properties(&schema))
            .await
            .map_err(|e| Error::from_write(name, e))?;
        let files_after = table.snapshot()?.log_data().num_files();
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        let (_table, vacuum) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| Error::from_write(name, e))?;
        Ok(CompactReport {
            table: name.to_string(),
            files_before,
            files_after,
            files_removed: vacuum.files_deleted.len(),
        })
    }
}
