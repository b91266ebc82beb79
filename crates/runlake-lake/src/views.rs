//! Views that persist: each `CREATE VIEW` is recorded in the `_views` table with the
//! statement that made it, each `DROP VIEW` as a row without one. The newest row per
//! name wins; sessions re-create the live views when they open the lake.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use runlake_ingest::table::timestamp_type;

use crate::{CommitKey, Lake, Result};

/// The table that records view definitions.
pub const VIEWS: &str = "_views";

impl Lake {
    /// Records view `name` as defined by `statement` (a `CREATE [OR REPLACE] VIEW`
    /// statement), or as dropped when `statement` is `None`.
    pub async fn save_view(&self, name: &str, statement: Option<&str>) -> Result<()> {
        crate::validate_table_name(name)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let schema = Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("definition", DataType::Utf8, true),
            Field::new("created_at", timestamp_type(), false),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![name])),
                Arc::new(StringArray::from(vec![statement])),
                Arc::new(TimestampMicrosecondArray::from(vec![now]).with_timezone("UTC")),
            ],
        )?;
        let key = CommitKey::new(format!("view:{name}:{now}"));
        self.append(VIEWS, vec![batch], &key, &[], false).await?;
        Ok(())
    }

    /// The live views as (name, statement), oldest definition first.
    ///
    /// Every session asks, so the answer is kept per version of `_views` (shared by the
    /// lake's clones): a session then costs one listing when the lake has no views, and
    /// one HEAD of the next commit file when it has.
    pub async fn views(&self) -> Result<Vec<(String, String)>> {
        if !self.has_log(VIEWS).await? {
            return Ok(Vec::new());
        }
        let table = self.snapshot(VIEWS, None).await?;
        let version = table.version().unwrap_or_default();
        if let Some((v, views)) = self.views_cache.lock().ok().and_then(|c| c.clone())
            && v == version
        {
            return Ok(views);
        }
        let views = self.read_views(table).await?;
        if let Ok(mut cache) = self.views_cache.lock() {
            *cache = Some((version, views.clone()));
        }
        Ok(views)
    }

    async fn read_views(&self, table: deltalake::DeltaTable) -> Result<Vec<(String, String)>> {
        let ctx = SessionContext::new();
        ctx.register_table("v", table.table_provider().await?)?;
        let batches = ctx
            .sql(
                "SELECT name, definition FROM ( \
                   SELECT name, definition, created_at, \
                          row_number() OVER (PARTITION BY name ORDER BY created_at DESC) AS newest \
                   FROM v) \
                 WHERE newest = 1 AND definition IS NOT NULL ORDER BY created_at, name",
            )
            .await?
            .collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            // Parquet text may come back as Utf8View: read both columns as plain Utf8.
            let names = cast(b.column(0), &DataType::Utf8)?;
            let defs = cast(b.column(1), &DataType::Utf8)?;
            let names = names.as_any().downcast_ref::<StringArray>();
            let defs = defs.as_any().downcast_ref::<StringArray>();
            if let (Some(names), Some(defs)) = (names, defs) {
                for i in 0..b.num_rows() {
                    if !defs.is_null(i) {
                        out.push((names.value(i).to_string(), defs.value(i).to_string()));
                    }
                }
            }
        }
        Ok(out)
    }
}
