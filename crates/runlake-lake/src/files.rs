//! A table version as a plain list of Parquet files, with the per-file statistics its
//! Delta log records: what a scan reads, and what it prunes whole files by before it opens
//! any of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, PrimitiveArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampNanosecondType,
};
use datafusion::common::Column;
use datafusion::physical_optimizer::pruning::PruningStatistics;
use deltalake::table::state::DeltaTableState;

use crate::{Error, Lake, Result};

/// The data files of one version of a table: what a plain Parquet scan of that version
/// reads (see [`Lake::files_at`]).
#[derive(Debug, Clone)]
pub struct TableFiles {
    /// The table's columns, as its Delta provider shows them.
    pub schema: SchemaRef,
    /// The object store the files are in, as DataFusion names it (`file:///`,
    /// `s3://bucket`): every process that reads them registers the lake's store there
    /// ([`Lake::register_store`]). Never holds a credential.
    pub store_url: String,
    /// Each file's path within that store and its size in bytes.
    pub files: Vec<(String, u64)>,
    /// The table version these files make up.
    pub version: u64,
    /// Each file's statistics, in the order of `files`, as the Delta log records them;
    /// `None` where they are not known (a plan a cluster's scheduler received).
    pub stats: Option<Arc<FileStatistics>>,
}

/// Per-file statistics from a table's Delta log, one entry per file in file order, read
/// from the log for a column the first time a filter asks for it.
///
/// Only bounds that hold are given: a file's recorded minimum is at most, and its
/// recorded maximum at least, every value in the file. Delta records timestamps to the
/// millisecond (the writer cuts the rest off), so a timestamp's maximum is widened to the
/// end of its millisecond; decimals are recorded as floating point and are left out, as
/// are nested columns and binary ones. A file that recorded nothing for a column has NULL
/// there, which prunes nothing.
pub struct FileStatistics {
    files: usize,
    schema: SchemaRef,
    /// The snapshot the files are of, whose log holds the statistics.
    state: DeltaTableState,
    columns: Mutex<HashMap<String, Option<Arc<ColumnBounds>>>>,
    row_counts: OnceLock<Option<ArrayRef>>,
}

/// One column's bounds and null counts over the files.
#[derive(Debug)]
pub struct ColumnBounds {
    pub min: ArrayRef,
    pub max: ArrayRef,
    /// NULL values per file (UInt64).
    pub null_count: Option<ArrayRef>,
}

impl std::fmt::Debug for FileStatistics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStatistics")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl FileStatistics {
    /// The statistics of the files of `state` (in the order its log lists them) for the
    /// columns of `schema`.
    fn new(state: DeltaTableState, schema: SchemaRef) -> Self {
        FileStatistics {
            files: state.log_data().num_files(),
            schema,
            state,
            columns: Mutex::default(),
            row_counts: OnceLock::new(),
        }
    }

    /// How many files these are.
    pub fn files(&self) -> usize {
        self.files
    }

    /// The bounds of `column` over the files, if they hold (see [`FileStatistics`]).
    pub fn column(&self, column: &str) -> Option<Arc<ColumnBounds>> {
        if let Some(known) = self.columns.lock().ok()?.get(column) {
            return known.clone();
        }
        let bounds = self.read(column).map(Arc::new);
        if let Ok(mut columns) = self.columns.lock() {
            columns.insert(column.to_string(), bounds.clone());
        }
        bounds
    }

    fn read(&self, name: &str) -> Option<ColumnBounds> {
        let field = self.schema.field_with_name(name).ok()?;
        if !prunable(field.data_type()) {
            return None;
        }
        let log = self.state.log_data();
        let column = Column::new_unqualified(name);
        let sized = |a: Option<ArrayRef>| a.filter(|a| a.len() == self.files);
        let min = cast(&sized(log.min_values(&column))?, field.data_type()).ok()?;
        let max = cast(&sized(log.max_values(&column))?, field.data_type()).ok()?;
        let max = match field.data_type() {
            DataType::Timestamp(unit, _) => end_of_millisecond(&max, unit),
            _ => max,
        };
        Some(ColumnBounds {
            min,
            max,
            null_count: self.null_counts(name),
        })
    }

    /// Each file's count of NULLs in column `name`, from the log's statistics (NULL for a
    /// file that recorded none). delta-rs's own `null_counts` reads them as the column's
    /// type, which fails for every column but integer ones.
    fn null_counts(&self, name: &str) -> Option<ArrayRef> {
        let counts: UInt64Array = self
            .state
            .log_data()
            .iter()
            .map(|file| {
                let stats: serde_json::Value = serde_json::from_str(&file.stats()?).ok()?;
                stats.get("nullCount")?.get(name)?.as_u64()
            })
            .collect();
        (counts.len() == self.files && counts.null_count() < counts.len())
            .then(|| Arc::new(counts) as ArrayRef)
    }
}

impl PruningStatistics for FileStatistics {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.column(&column.name).map(|c| Arc::clone(&c.min))
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.column(&column.name).map(|c| Arc::clone(&c.max))
    }

    fn num_containers(&self) -> usize {
        self.files
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.column(&column.name)?.null_count.clone()
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        self.row_counts
            .get_or_init(|| {
                self.state
                    .log_data()
                    .row_counts()
                    .filter(|a| a.len() == self.files)
            })
            .clone()
    }

    fn contained(
        &self,
        _column: &Column,
        _values: &std::collections::HashSet<datafusion::common::ScalarValue>,
    ) -> Option<datafusion::arrow::array::BooleanArray> {
        None
    }
}

/// Whether a column's recorded bounds are exact enough to prune by.
fn prunable(data_type: &DataType) -> bool {
    data_type.is_integer()
        || data_type.is_floating()
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Date32
                | DataType::Timestamp(_, _)
                | DataType::Utf8
                | DataType::LargeUtf8
        )
}

/// `max` (timestamps Delta recorded to the millisecond) moved to the last instant of its
/// millisecond, so it bounds the values the file holds below the millisecond.
fn end_of_millisecond(max: &ArrayRef, unit: &TimeUnit) -> ArrayRef {
    fn widen<T>(max: &ArrayRef, by: i64) -> ArrayRef
    where
        T: datafusion::arrow::datatypes::ArrowPrimitiveType<Native = i64>,
    {
        let values = max
            .as_any()
            .downcast_ref::<PrimitiveArray<T>>()
            .expect("cast to the column's type");
        let widened: PrimitiveArray<T> = values.unary(|v| v.saturating_add(by));
        Arc::new(widened.with_data_type(max.data_type().clone()))
    }
    match unit {
        TimeUnit::Microsecond => widen::<TimestampMicrosecondType>(max, 999),
        TimeUnit::Nanosecond => widen::<TimestampNanosecondType>(max, 999_999),
        TimeUnit::Second | TimeUnit::Millisecond => Arc::clone(max),
    }
}

impl Lake {
    /// The data files of table `name` at `version` (its latest when `None`), from the
    /// snapshot cache: a fixed list, so a scan of it reads that version whatever is
    /// committed meanwhile. Every query reads a lake table through such a list (see
    /// `runlake_engine::SnapshotTable`); other processes can read it too, except for a
    /// `memory://` lake's, which live in this process only.
    pub async fn files_at(&self, name: &str, version: Option<u64>) -> Result<TableFiles> {
        let table = self.snapshot(name, version).await?;
        let state = table.snapshot()?;
        let schema = state.snapshot().arrow_schema();
        let partitions = state.snapshot().metadata().partition_columns();
        if !partitions.is_empty() {
            return Err(Error::NotPlainParquet {
                table: name.to_string(),
                message: format!(
                    "partitioned by {} (runlake writes unpartitioned tables)",
                    partitions.join(", ")
                ),
            });
        }
        let root = self.location.prefix().join(name);
        let log = state.log_data();
        let mut files = Vec::new();
        for file in log.iter() {
            if file.deletion_vector_descriptor().is_some() {
                return Err(Error::NotPlainParquet {
                    table: name.to_string(),
                    message: format!("{} has a deletion vector", file.path()),
                });
            }
            let relative = file.path();
            let path = if relative.contains("://") {
                return Err(Error::NotPlainParquet {
                    table: name.to_string(),
                    message: format!("data file outside the table's folder: {relative}"),
                });
            } else {
                let mut path = root.clone();
                for part in relative.split('/').filter(|p| !p.is_empty()) {
                    path = path.join(part);
                }
                path
            };
            files.push((path.to_string(), file.size().max(0) as u64));
        }
        // Data files never change, so the statistics of the same list of files are the
        // same: each column's are read from the log once per list a process sees.
        let cached = self
            .file_stats
            .lock()
            .ok()
            .and_then(|c| c.get(name).cloned())
            .filter(|(paths, _)| paths.len() == files.len() && paths.iter().eq(&files));
        let stats = match cached {
            Some((_, stats)) => stats,
            None => {
                let stats = Arc::new(FileStatistics::new(state.clone(), Arc::clone(&schema)));
                if let Ok(mut cache) = self.file_stats.lock() {
                    cache.insert(
                        name.to_string(),
                        (Arc::new(files.clone()), Arc::clone(&stats)),
                    );
                }
                stats
            }
        };
        Ok(TableFiles {
            schema,
            store_url: self.store_url(),
            files,
            version: table.version().unwrap_or_default(),
            stats: Some(stats),
        })
    }
}
