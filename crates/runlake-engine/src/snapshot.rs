//! [`SnapshotTable`]: how every session reads a lake table. One version of the table is a
//! fixed list of Parquet files, scanned by DataFusion's own Parquet scan; no Delta log is
//! replayed per query.
//!
//! A query's filters prune at three levels, all DataFusion's own: whole files by the
//! statistics the table's Delta log records for each file (a `PruningPredicate` over
//! [`runlake_lake::FileStatistics`], before any file is opened), then row groups by their
//! footer statistics and pages by the page index (in the Parquet scan). The footers come
//! from the runtime's metadata cache, which a server's query runtimes share.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::common::{DFSchema, Result};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use runlake_lake::TableFiles;
use runlake_proto::v1::{DataFile, SnapshotScan};

/// One version of a lake table as a plain Parquet scan of its files.
#[derive(Debug, Clone)]
pub struct SnapshotTable {
    table: String,
    files: TableFiles,
}

impl SnapshotTable {
    /// A scan of `files`. Text and binary columns are read as view types (as DataFusion
    /// reads Parquet, and as Delta's provider showed them): no copy of each string.
    pub fn new(table: &str, mut files: TableFiles) -> Self {
        let fields: Vec<FieldRef> = files.schema.fields().iter().map(view_types).collect();
        files.schema = Arc::new(Schema::new_with_metadata(
            fields,
            files.schema.metadata().clone(),
        ));
        SnapshotTable {
            table: table.to_string(),
            files,
        }
    }

    /// The table version this scan reads.
    pub fn version(&self) -> u64 {
        self.files.version
    }

    pub(crate) fn to_proto(&self) -> SnapshotScan {
        SnapshotScan {
            table: self.table.clone(),
            version: self.files.version,
            store_url: self.files.store_url.clone(),
            files: self
                .files
                .files
                .iter()
                .map(|(path, size)| DataFile {
                    path: path.clone(),
                    size: *size,
                })
                .collect(),
        }
    }

    /// The scan a cluster's scheduler received: the files without their statistics (the
    /// client pruned none, and the Parquet scan still prunes row groups and pages).
    pub(crate) fn from_proto(scan: SnapshotScan, schema: SchemaRef) -> Self {
        SnapshotTable {
            table: scan.table,
            files: TableFiles {
                schema,
                store_url: scan.store_url,
                files: scan.files.into_iter().map(|f| (f.path, f.size)).collect(),
                version: scan.version,
                stats: None,
            },
        }
    }

    /// Which files `predicate` may match, by the statistics the log records for each;
    /// every file when there are none or they cannot be evaluated (pruning only ever
    /// leaves out files that cannot match).
    fn files_to_read(&self, predicate: Option<&Arc<dyn PhysicalExpr>>) -> Vec<bool> {
        let all = vec![true; self.files.files.len()];
        let (Some(predicate), Some(stats)) = (predicate, &self.files.stats) else {
            return all;
        };
        if stats.files() != all.len() {
            return all;
        }
        let Some(pruning) = PruningPredicateBuilder::new()
            .with_file_schema(self.schema())
            .build(Arc::clone(predicate))
        else {
            return all;
        };
        match pruning.prune(stats.as_ref()) {
            Ok(keep) if keep.len() == all.len() => keep,
            _ => all,
        }
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.files.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Used to prune files, row groups and pages; the filter itself stays in the plan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let predicate = match conjunction(filters.iter().cloned()) {
            Some(predicate) => {
                let df_schema = DFSchema::try_from(Arc::clone(&schema))?;
                Some(state.create_physical_expr(predicate, &df_schema)?)
            }
            None => None,
        };
        let keep = self.files_to_read(predicate.as_ref());
        let files: Vec<PartitionedFile> = self
            .files
            .files
            .iter()
            .zip(keep)
            .filter(|(_, keep)| *keep)
            .map(|((path, size), _)| PartitionedFile::new(path.clone(), *size))
            .collect();
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(schema.project(p)?),
                None => schema,
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let url = ObjectStoreUrl::parse(&self.files.store_url)?;
        // Footers and page indexes come from the runtime's metadata cache (as for
        // DataFusion's own listing tables): a server's runtimes share one, so a file's
        // metadata is read once, not once per query.
        // A cluster's scheduler plans without the store (executors run the plan, each
        // with its own runtime): there the scan keeps DataFusion's default reader.
        let runtime = state.runtime_env();
        let mut source = ParquetSource::new(Arc::clone(&schema))
            .with_table_parquet_options(state.table_options().parquet.clone());
        if let Ok(store) = runtime.object_store(&url) {
            let metadata = runtime.cache_manager.get_file_metadata_cache();
            let reader = CachedParquetFileReaderFactory::new(store, metadata);
            source = source.with_parquet_file_reader_factory(Arc::new(reader));
        }
        if let Some(predicate) = predicate {
            source = source.with_predicate(predicate);
        }
        let groups = FileGroup::new(files).split_files(state.config().target_partitions());
        let config = FileScanConfigBuilder::new(url, Arc::new(source))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// `field` with its text and binary types, nested ones included, as view types.
fn view_types(field: &FieldRef) -> FieldRef {
    let data_type = match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
        DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(view_types).collect()),
        DataType::List(inner) => DataType::List(view_types(inner)),
        DataType::LargeList(inner) => DataType::LargeList(view_types(inner)),
        _ => return Arc::clone(field),
    };
    Arc::new(field.as_ref().clone().with_data_type(data_type))
}
