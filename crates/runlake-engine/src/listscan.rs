//! A faster Parquet scan for flat lists of numbers (`chunk_sizes`, `num_tokens` and the
//! other per-request lists of scheduler steps).
//!
//! arrow-rs decodes a list column level by level, builds a validity bitmap for the
//! elements and one for the lists, then turns the levels into offsets in a second pass:
//! about half of the time a step report spends. For a top-level `LIST` of `INT32`,
//! `INT64`, `FLOAT` or `DOUBLE` (3-level, one repetition level) this scan decodes the
//! column chunk's pages itself ([`crate::levels`]: levels in the RLE / bit-packed hybrid,
//! values plain or dictionary-encoded; a chunk in any other encoding goes to parquet's
//! column reader) and builds the offsets straight from the repetition levels; when every
//! level holds a value (no NULL or empty list, no NULL element) there is no bitmap at all
//! and the values buffer becomes the child array as it is. The other columns of the scan
//! are read by arrow-rs as usual, batch for batch.
//!
//! [`ListScan`] is a physical optimizer rule: it wraps the `ParquetSource` of a scan that
//! reads such a column and has no pushed-down predicate, no virtual columns and plain
//! column projections (partition columns, such as the file id of a Delta scan, are the
//! file's values repeated). Per file, when the file's layout is not one this scan reads (a
//! 2-level list, a type the table casts, an access plan), the file goes to DataFusion's
//! own Parquet reader instead.

use std::collections::HashMap;
use std::fmt::{self, Debug, Formatter};
use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use datafusion::arrow::array::{
    ArrayRef, ArrowPrimitiveType, BooleanBufferBuilder, GenericListArray, OffsetSizeTrait,
    PrimitiveArray, RecordBatch, RecordBatchOptions,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::ArrowNativeType;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Float32Type, Float64Type, Int32Type, Int64Type, Schema, SchemaRef,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::basic::{Repetition, Type as PhysicalType};
use datafusion::parquet::column::reader::ColumnReaderImpl;
use datafusion::parquet::data_type::{
    DataType as ParquetDataType, DoubleType, FloatType, Int32Type as PInt32, Int64Type as PInt64,
};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::reader::{ChunkReader, Length};
use datafusion::parquet::file::serialized_reader::SerializedPageReader;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::DisplayFormatType;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter_pushdown::FilterPushdownPropagation;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion_datasource::PartitionedFile;
use datafusion_datasource::morsel::{Morsel, MorselPlan, MorselPlanner, Morselizer};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::ObjectStore;

use crate::levels::{self, LevelStream, Plain};

/// The physical optimizer rule that puts the level-based list reading on Parquet scans
/// that read a flat list of numbers (see the module documentation).
#[derive(Debug, Default)]
pub struct ListScan;

impl PhysicalOptimizerRule for ListScan {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !crate::RunlakeOptions::of(config).list_scan {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some((config, parquet)) = exec.downcast_to_file_source::<ParquetSource>() else {
                return Ok(Transformed::no(node));
            };
            if !scan_qualifies(config, parquet)? {
                return Ok(Transformed::no(node));
            }
            let mut config = config.clone();
            config.file_source = Arc::new(ListParquetSource {
                inner: Arc::new(parquet.clone()),
                factory: parquet.parquet_file_reader_factory().cloned(),
                batch_size: None,
            });
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
            ))
        })
        .data()
    }

    fn name(&self) -> &str {
        "runlake_list_scan"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether a Parquet scan reads at least one flat list of numbers and nothing this scan
/// cannot do: no predicate, no virtual columns, plain column projections.
fn scan_qualifies(config: &FileScanConfig, parquet: &ParquetSource) -> Result<bool> {
    let table = parquet.table_schema();
    if FileSource::filter(parquet).is_some() || !table.virtual_columns().is_empty() {
        return Ok(false);
    }
    if let Some(projection) = parquet.projection()
        && !projection
            .iter()
            .all(|p| p.expr.downcast_ref::<Column>().is_some())
    {
        return Ok(false);
    }
    let schema = config.projected_schema()?;
    Ok(schema.fields().iter().any(|f| list_element(f).is_some()))
}

/// The element type of a list this scan decodes itself, if `field` is one.
fn list_element(field: &Field) -> Option<&FieldRef> {
    match field.data_type() {
        DataType::List(element) | DataType::LargeList(element)
            if matches!(
                element.data_type(),
                DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64
            ) =>
        {
            Some(element)
        }
        _ => None,
    }
}

/// `ParquetSource` with the list columns read by [`ListMorselizer`]: everything else is
/// the inner source's.
struct ListParquetSource {
    inner: Arc<dyn FileSource>,
    factory: Option<Arc<dyn ParquetFileReaderFactory>>,
    batch_size: Option<usize>,
}

impl FileSource for ListParquetSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn datafusion::datasource::physical_plan::FileOpener>> {
        self.inner
            .create_file_opener(object_store, base_config, partition)
    }

    fn create_morselizer(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Box<dyn Morselizer>> {
        let inner =
            self.inner
                .create_morselizer(Arc::clone(&object_store), base_config, partition)?;
        let output = base_config.projected_schema()?;
        let table = self.inner.table_schema().table_schema();
        let columns = match self.inner.projection() {
            Some(projection) => projection
                .iter()
                .map(|p| {
                    let column = p.expr.downcast_ref::<Column>().ok_or_else(|| {
                        DataFusionError::Internal("list scan over a computed projection".into())
                    })?;
                    Ok(table.field(column.index()).name().clone())
                })
                .collect::<Result<Vec<_>>>()?,
            None => table.fields().iter().map(|f| f.name().clone()).collect(),
        };
        let partitions = self
            .inner
            .table_schema()
            .table_partition_cols()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().clone(), i))
            .collect();
        let factory = self
            .factory
            .clone()
            .unwrap_or_else(|| Arc::new(DefaultParquetFileReaderFactory::new(object_store)) as _);
        Ok(Box::new(ListMorselizer {
            inner,
            scan: Arc::new(ScanSpec {
                output,
                columns,
                partitions,
                batch_size: self.batch_size.unwrap_or(8192),
                partition,
                factory,
                metrics: self.inner.metrics().clone(),
            }),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.inner.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(Self {
            inner: self.inner.with_batch_size(batch_size),
            factory: self.factory.clone(),
            batch_size: Some(batch_size),
        })
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.inner.filter()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        self.inner.projection()
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        self.inner.metrics()
    }

    fn file_type(&self) -> &str {
        self.inner.file_type()
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut Formatter) -> fmt::Result {
        self.inner.fmt_extra(t, f)?;
        write!(f, ", lists=levels")
    }

    fn supports_repartitioning(&self) -> bool {
        self.inner.supports_repartitioning()
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<LexOrdering>,
        config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        self.inner.repartitioned(
            target_partitions,
            repartition_file_min_size,
            output_ordering,
            config,
        )
    }

    // Pushing anything further down gives the plain Parquet source back: the rule runs
    // last, and a later change of the scan is one this scan does not claim to read.
    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn FileSource>>> {
        self.inner.try_pushdown_filters(filters, config)
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
        eq_properties: &datafusion::physical_expr::EquivalenceProperties,
    ) -> Result<SortOrderPushdownResult<Arc<dyn FileSource>>> {
        self.inner.try_pushdown_sort(order, eq_properties)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        self.inner.try_pushdown_projection(projection)
    }

    fn reorder_files(&self, files: Vec<PartitionedFile>) -> Vec<PartitionedFile> {
        self.inner.reorder_files(files)
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.inner.apply_expressions(f)
    }
}

/// What one scan partition reads: the output schema and, per output column, the file
/// column it comes from.
#[derive(Debug)]
struct ScanSpec {
    output: SchemaRef,
    columns: Vec<String>,
    /// The partition columns by name, with their index in a file's partition values.
    partitions: HashMap<String, usize>,
    batch_size: usize,
    partition: usize,
    factory: Arc<dyn ParquetFileReaderFactory>,
    metrics: ExecutionPlanMetricsSet,
}

#[derive(Debug)]
struct ListMorselizer {
    inner: Box<dyn Morselizer>,
    scan: Arc<ScanSpec>,
}

impl Morselizer for ListMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        let fallback = self.inner.plan_file(file.clone())?;
        Ok(Box::new(ListPlanner::Unopened {
            scan: Arc::clone(&self.scan),
            file: Box::new(file),
            fallback,
        }))
    }
}

enum ListPlanner {
    Unopened {
        scan: Arc<ScanSpec>,
        file: Box<PartitionedFile>,
        fallback: Box<dyn MorselPlanner>,
    },
    Ready(BoxStream<'static, Result<RecordBatch>>),
}

impl Debug for ListPlanner {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unopened { file, .. } => f
                .debug_struct("ListPlanner::Unopened")
                .field("file", &file.object_meta.location)
                .finish(),
            Self::Ready(_) => f.debug_tuple("ListPlanner::Ready").finish(),
        }
    }
}

impl MorselPlanner for ListPlanner {
    fn plan(self: Box<Self>) -> Result<Option<MorselPlan>> {
        match *self {
            Self::Unopened {
                scan,
                file,
                fallback,
            } => {
                // Every error of this file (a truncated footer, a corrupt page) names it.
                let location = file.object_meta.location.to_string();
                let io = async move {
                    let name = move |e: DataFusionError| e.context(format!("reading {location}"));
                    Ok(match open(scan, *file).await.map_err(name.clone())? {
                        Some(stream) => {
                            let stream = stream.map_err(name).boxed();
                            Box::new(Self::Ready(stream)) as Box<dyn MorselPlanner>
                        }
                        None => fallback,
                    })
                };
                Ok(Some(MorselPlan::new().with_pending_planner(io)))
            }
            Self::Ready(stream) => Ok(Some(
                MorselPlan::new().with_morsels(vec![Box::new(StreamMorsel(stream))]),
            )),
        }
    }
}

struct StreamMorsel(BoxStream<'static, Result<RecordBatch>>);

impl Debug for StreamMorsel {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StreamMorsel").finish()
    }
}

impl Morsel for StreamMorsel {
    fn into_stream(self: Box<Self>) -> BoxStream<'static, Result<RecordBatch>> {
        self.0
    }
}

/// How one output column is read from the file.
#[derive(Debug, Clone)]
enum Source {
    /// By arrow-rs, the column of this name in its batches.
    Arrow(String),
    /// By [`LevelList`], the list reader of this index.
    List(usize),
    /// The file's value of the partition column of this index (Delta's file id, a
    /// listing table's `key=value` directories), repeated.
    Partition(usize),
}

/// A flat list column of the file: its leaf, the levels of its shape and the list field
/// to build.
#[derive(Debug, Clone)]
struct ListLeaf {
    leaf: usize,
    field: FieldRef,
    /// Definition level from which the list is not NULL.
    list_def: i16,
    /// Definition level from which a level holds an element (NULL or not).
    slot_def: i16,
    /// Definition level of a present value.
    max_def: i16,
}

/// The plan of one file: which columns arrow-rs reads (with the schema it reads them
/// as) and which lists the level reader reads.
struct FilePlan {
    sources: Vec<Source>,
    lists: Vec<ListLeaf>,
    arrow: Option<(ArrowReaderMetadata, ProjectionMask)>,
    leaves: Vec<usize>,
    /// The file's partition values.
    partition_values: Vec<ScalarValue>,
}

/// Opens `file`: `None` when its layout is not one this scan reads (the caller falls
/// back to DataFusion's reader).
async fn open(
    scan: Arc<ScanSpec>,
    file: PartitionedFile,
) -> Result<Option<BoxStream<'static, Result<RecordBatch>>>> {
    if !file.extensions.is_empty() {
        return Ok(None);
    }
    let mut reader = scan.factory.create_reader(
        scan.partition,
        file.clone(),
        file.metadata_size_hint,
        &scan.metrics,
    )?;
    let metadata = reader.get_metadata(None).await?;
    let Some(mut plan) = plan_file(&scan, &metadata)? else {
        return Ok(None);
    };
    if plan
        .sources
        .iter()
        .any(|source| matches!(source, Source::Partition(p) if *p >= file.partition_values.len()))
    {
        return Ok(None);
    }
    plan.partition_values = file.partition_values.clone();
    let row_groups: Vec<usize> = (0..metadata.num_row_groups())
        .filter(|&rg| {
            let col = metadata.row_group(rg).column(0);
            let start = col
                .dictionary_page_offset()
                .unwrap_or_else(|| col.data_page_offset());
            file.range.as_ref().is_none_or(|r| r.contains(start))
        })
        .collect();
    let state = FileState {
        scan,
        reader: Some(reader),
        metadata,
        plan: Arc::new(plan),
        row_groups: row_groups.into_iter(),
        current: None,
        prefetch: None,
    };
    Ok(Some(
        stream::try_unfold(state, |mut state| async move {
            loop {
                if let Some(group) = state.current.as_mut() {
                    if let Some(batch) = group.next_batch()? {
                        return Ok(Some((batch, state)));
                    }
                    state.current = None;
                }
                let Some(rg) = state.row_groups.next() else {
                    return Ok(None);
                };
                state.current = Some(state.open_row_group(rg).await?);
            }
        })
        .boxed(),
    ))
}

/// Decides how each output column of `scan` is read from a file with `metadata`.
fn plan_file(scan: &ScanSpec, metadata: &Arc<ParquetMetaData>) -> Result<Option<FilePlan>> {
    let file_meta = ArrowReaderMetadata::try_new(Arc::clone(metadata), Default::default())?;
    let file_schema = file_meta.schema();
    let descr = metadata.file_metadata().schema_descr();
    let mut sources = Vec::with_capacity(scan.columns.len());
    let mut lists: Vec<ListLeaf> = Vec::new();
    let mut list_index: HashMap<usize, usize> = HashMap::new();
    let mut arrow_roots: HashMap<usize, DataType> = HashMap::new();
    for (name, out) in scan.columns.iter().zip(scan.output.fields()) {
        if let Some(&partition) = scan.partitions.get(name) {
            sources.push(Source::Partition(partition));
            continue;
        }
        let Ok(root) = file_schema.index_of(name) else {
            return Ok(None);
        };
        let leaves: Vec<usize> = (0..descr.num_columns())
            .filter(|&leaf| descr.get_column_root_idx(leaf) == root)
            .collect();
        let list = match (list_element(out), leaves.as_slice()) {
            (Some(element), [leaf]) => list_leaf(metadata, *leaf, root, element, out)?,
            _ => None,
        };
        match list {
            Some(list) => {
                let next = lists.len();
                let index = *list_index.entry(root).or_insert(next);
                if index == next {
                    lists.push(list);
                }
                sources.push(Source::List(index));
            }
            None => {
                if let Some(seen) = arrow_roots.insert(root, out.data_type().clone())
                    && &seen != out.data_type()
                {
                    return Ok(None);
                }
                sources.push(Source::Arrow(name.clone()));
            }
        }
    }
    if lists.is_empty() {
        return Ok(None);
    }
    let arrow = if arrow_roots.is_empty() {
        None
    } else {
        // arrow-rs reads the other columns as the table's types (Utf8View and the like).
        let fields: Vec<FieldRef> = file_schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match arrow_roots.get(&i) {
                Some(t) if t != f.data_type() => {
                    Arc::new(f.as_ref().clone().with_data_type(t.clone()))
                }
                _ => Arc::clone(f),
            })
            .collect();
        // Only the reading hints DataFusion itself gives arrow-rs (strings and binaries as
        // views or as text); a table type that casts the file's goes to DataFusion.
        if !arrow_roots
            .iter()
            .all(|(i, t)| same_but_views(file_schema.field(*i).data_type(), t))
        {
            return Ok(None);
        }
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            file_schema.metadata().clone(),
        ));
        let options = ArrowReaderOptions::new().with_schema(schema);
        let Ok(meta) = ArrowReaderMetadata::try_new(Arc::clone(metadata), options) else {
            return Ok(None);
        };
        let mask = ProjectionMask::roots(descr, arrow_roots.keys().copied());
        Some((meta, mask))
    };
    let leaves = (0..descr.num_columns())
        .filter(|&leaf| {
            let root = descr.get_column_root_idx(leaf);
            arrow_roots.contains_key(&root) || list_index.contains_key(&root)
        })
        .collect();
    Ok(Some(FilePlan {
        sources,
        lists,
        arrow,
        leaves,
        partition_values: Vec::new(),
    }))
}

/// Whether `table` is `file` with strings and binaries possibly read as views or as text.
fn same_but_views(file: &DataType, table: &DataType) -> bool {
    use DataType::*;
    let same_field = |a: &FieldRef, b: &FieldRef| {
        a.name() == b.name()
            && a.is_nullable() == b.is_nullable()
            && same_but_views(a.data_type(), b.data_type())
    };
    match (file, table) {
        (a, b) if a == b => true,
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        (Binary | LargeBinary | BinaryView, _) => matches!(
            table,
            Binary | LargeBinary | BinaryView | Utf8 | LargeUtf8 | Utf8View
        ),
        (List(a), List(b)) | (LargeList(a), LargeList(b)) => same_field(a, b),
        (Struct(a), Struct(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same_field(a, b))
        }
        _ => false,
    }
}

/// The shape of `leaf` when it is a 3-level list of the physical type `element` is read
/// from, as a top-level column (`root`); `None` for any other layout.
fn list_leaf(
    metadata: &ParquetMetaData,
    leaf: usize,
    root: usize,
    element: &FieldRef,
    out: &Field,
) -> Result<Option<ListLeaf>> {
    let descr = metadata.file_metadata().schema_descr();
    let column = descr.column(leaf);
    let physical = match element.data_type() {
        DataType::Int32 => PhysicalType::INT32,
        DataType::Int64 => PhysicalType::INT64,
        DataType::Float32 => PhysicalType::FLOAT,
        _ => PhysicalType::DOUBLE,
    };
    let plain_integer = match column.logical_type_ref() {
        None => true,
        Some(datafusion::parquet::basic::LogicalType::Integer(int)) => {
            let bits = if physical == PhysicalType::INT32 {
                32
            } else {
                64
            };
            int.is_signed && i32::from(int.bit_width) == bits
        }
        Some(_) => false,
    };
    let root_type = &descr.root_schema().get_fields()[root];
    if column.physical_type() != physical
        || !plain_integer
        || column.max_rep_level() != 1
        || column.path().parts().len() != 3
        || !root_type.is_group()
    {
        return Ok(None);
    }
    let optional = |r: Repetition| i16::from(r == Repetition::OPTIONAL);
    let list_def = optional(root_type.get_basic_info().repetition());
    let slot_def = list_def + 1;
    let max_def = slot_def + optional(column.self_type().get_basic_info().repetition());
    if column.max_def_level() != max_def {
        return Ok(None);
    }
    Ok(Some(ListLeaf {
        leaf,
        field: Arc::new(out.clone()),
        list_def,
        slot_def,
        max_def,
    }))
}

type Reader = Box<dyn AsyncFileReader + Send>;

/// The fetch of a row group's column chunks, running while the one before is decoded;
/// aborted when the stream is dropped. It hands the reader back with the bytes.
type Fetch = SpawnedTask<(Reader, Result<Vec<Bytes>, ParquetError>)>;

/// The state of one file's stream: the row groups left and the one being read.
struct FileState {
    scan: Arc<ScanSpec>,
    /// `None` while a fetch has it.
    reader: Option<Reader>,
    metadata: Arc<ParquetMetaData>,
    plan: Arc<FilePlan>,
    row_groups: std::vec::IntoIter<usize>,
    current: Option<RowGroupReader>,
    prefetch: Option<(usize, Fetch)>,
}

impl FileState {
    /// The byte ranges of row group `rg`'s column chunks that the plan reads.
    fn ranges(&self, rg: usize) -> Vec<Range<u64>> {
        let group = self.metadata.row_group(rg);
        self.plan
            .leaves
            .iter()
            .map(|&leaf| {
                let (start, len) = group.column(leaf).byte_range();
                start..start + len
            })
            .collect()
    }

    /// Fetches the row group's column chunks of the plan's columns (one request for all,
    /// usually already under way), starts the fetch of the next row group and sets up
    /// this one's readers.
    async fn open_row_group(&mut self, rg: usize) -> Result<RowGroupReader> {
        let group = self.metadata.row_group(rg);
        let ranges = self.ranges(rg);
        let parts = match self.prefetch.take() {
            Some((fetched, task)) if fetched == rg => {
                let (reader, parts) = task
                    .join()
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                self.reader = Some(reader);
                parts?
            }
            _ => {
                let reader = self.reader.as_mut().ok_or_else(|| {
                    DataFusionError::Internal("list scan: the file reader is gone".into())
                })?;
                reader.get_byte_ranges(ranges.clone()).await?
            }
        };
        if let (Some(&next), Some(mut reader)) =
            (self.row_groups.as_slice().first(), self.reader.take())
        {
            let next_ranges = self.ranges(next);
            let task = SpawnedTask::spawn(async move {
                let parts = reader.get_byte_ranges(next_ranges).await;
                (reader, parts)
            });
            self.prefetch = Some((next, task));
        }
        let chunks = Chunks(Arc::new(
            ranges.iter().map(|r| r.start).zip(parts).collect(),
        ));
        let rows = usize::try_from(group.num_rows()).unwrap_or(0);
        let arrow = match &self.plan.arrow {
            Some((meta, mask)) => Some(
                ParquetRecordBatchReaderBuilder::new_with_metadata(chunks.clone(), meta.clone())
                    .with_projection(mask.clone())
                    .with_row_groups(vec![rg])
                    .with_batch_size(self.scan.batch_size)
                    .build()?,
            ),
            None => None,
        };
        let lists = self
            .plan
            .lists
            .iter()
            .map(|list| {
                let meta = group.column(list.leaf);
                let pages = SerializedPageReader::new(Arc::new(chunks.clone()), meta, rows, None)?;
                let own_pages = levels::readable(meta.encodings());
                list_decoder(list, meta.column_descr_ptr(), Box::new(pages), own_pages)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RowGroupReader {
            scan: Arc::clone(&self.scan),
            plan: Arc::clone(&self.plan),
            arrow,
            lists,
            remaining: rows,
        })
    }
}

/// One row group being read: arrow-rs's reader for the plain columns and a level reader
/// per list, advanced batch by batch in step.
struct RowGroupReader {
    scan: Arc<ScanSpec>,
    plan: Arc<FilePlan>,
    arrow: Option<ParquetRecordBatchReader>,
    lists: Vec<Box<dyn ListDecoder>>,
    remaining: usize,
}

impl RowGroupReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let plain = match self.arrow.as_mut() {
            Some(reader) => match reader.next() {
                Some(batch) => Some(batch?),
                None => None,
            },
            None => None,
        };
        let rows = match &plain {
            Some(batch) => batch.num_rows(),
            None if self.arrow.is_some() => 0,
            None => self.remaining.min(self.scan.batch_size),
        };
        if rows == 0 {
            return Ok(None);
        }
        self.remaining = self.remaining.saturating_sub(rows);
        let lists = self
            .lists
            .iter_mut()
            .map(|list| list.read(rows))
            .collect::<Result<Vec<_>>>()?;
        let columns = self
            .plan
            .sources
            .iter()
            .zip(self.scan.output.fields())
            .map(|(source, field)| match source {
                Source::List(i) => Ok(Arc::clone(&lists[*i])),
                Source::Partition(p) => {
                    let column = self.plan.partition_values[*p].to_array_of_size(rows)?;
                    if column.data_type() == field.data_type() {
                        Ok(column)
                    } else {
                        Ok(cast(&column, field.data_type())?)
                    }
                }
                Source::Arrow(name) => plain
                    .as_ref()
                    .and_then(|b| b.column_by_name(name))
                    .cloned()
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!("list scan: no column {name} read"))
                    }),
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(Some(RecordBatch::try_new_with_options(
            Arc::clone(&self.scan.output),
            columns,
            &options,
        )?))
    }
}

/// Reads the next `rows` lists of one column.
trait ListDecoder: Send {
    fn read(&mut self, rows: usize) -> Result<ArrayRef>;
}

/// The level reader of one list column with Parquet type `P` (parquet's column reader, for
/// chunks in encodings [`LevelStream`] does not read), built as Arrow lists of
/// `A` with offsets `O`.
struct LevelList<P: ParquetDataType, A, O> {
    shape: ListLeaf,
    reader: ColumnReaderImpl<P>,
    def: Vec<i16>,
    rep: Vec<i16>,
    _types: std::marker::PhantomData<fn() -> (A, O)>,
}

type ColumnDescr = datafusion::parquet::schema::types::ColumnDescPtr;

/// The level reader of `shape`'s column chunk for its element and offset types: our own
/// page decoding when the chunk's encodings are all ones it reads (`own_pages`), else
/// parquet's column reader.
fn list_decoder(
    shape: &ListLeaf,
    descr: ColumnDescr,
    pages: Box<SerializedPageReader<Chunks>>,
    own_pages: bool,
) -> Result<Box<dyn ListDecoder>> {
    fn boxed<P, A, O>(
        shape: &ListLeaf,
        descr: ColumnDescr,
        pages: Box<SerializedPageReader<Chunks>>,
        own_pages: bool,
    ) -> Result<Box<dyn ListDecoder>>
    where
        P: ParquetDataType,
        P::T: ArrowNativeType + Plain,
        A: ArrowPrimitiveType<Native = P::T>,
        O: OffsetSizeTrait,
    {
        if own_pages {
            return Ok(Box::new(PageList::<A, O> {
                shape: shape.clone(),
                stream: LevelStream::new(pages, shape.max_def)?,
                _offsets: std::marker::PhantomData,
            }));
        }
        Ok(Box::new(LevelList::<P, A, O> {
            shape: shape.clone(),
            reader: ColumnReaderImpl::<P>::new(descr, pages),
            def: Vec::new(),
            rep: Vec::new(),
            _types: std::marker::PhantomData,
        }))
    }
    let large = matches!(shape.field.data_type(), DataType::LargeList(_));
    let element = list_element(&shape.field).map(|e| e.data_type());
    Ok(match (element, large) {
        (Some(DataType::Int32), false) => {
            boxed::<PInt32, Int32Type, i32>(shape, descr, pages, own_pages)?
        }
        (Some(DataType::Int32), true) => {
            boxed::<PInt32, Int32Type, i64>(shape, descr, pages, own_pages)?
        }
        (Some(DataType::Int64), false) => {
            boxed::<PInt64, Int64Type, i32>(shape, descr, pages, own_pages)?
        }
        (Some(DataType::Int64), true) => {
            boxed::<PInt64, Int64Type, i64>(shape, descr, pages, own_pages)?
        }
        (Some(DataType::Float32), false) => {
            boxed::<FloatType, Float32Type, i32>(shape, descr, pages, own_pages)?
        }
        (Some(DataType::Float32), true) => {
            boxed::<FloatType, Float32Type, i64>(shape, descr, pages, own_pages)?
        }
        (Some(DataType::Float64), false) => {
            boxed::<DoubleType, Float64Type, i32>(shape, descr, pages, own_pages)?
        }
        (Some(DataType::Float64), true) => {
            boxed::<DoubleType, Float64Type, i64>(shape, descr, pages, own_pages)?
        }
        (other, _) => {
            return Err(DataFusionError::Internal(format!(
                "list scan: no level reader for {other:?}"
            )));
        }
    })
}

impl<P, A, O> ListDecoder for LevelList<P, A, O>
where
    P: ParquetDataType,
    P::T: ArrowNativeType,
    A: ArrowPrimitiveType<Native = P::T>,
    O: OffsetSizeTrait,
{
    fn read(&mut self, rows: usize) -> Result<ArrayRef> {
        self.def.clear();
        self.rep.clear();
        let mut values: Vec<P::T> = Vec::new();
        let (records, read, levels) = self.reader.read_records(
            rows,
            Some(&mut self.def),
            Some(&mut self.rep),
            &mut values,
        )?;
        let def = (read != levels).then_some(self.def.as_slice());
        build_list::<A, O, i16>(&self.shape, rows, records, &self.rep, def, values)
    }
}

/// The list column of `shape` decoded page by page by [`LevelStream`], built as Arrow
/// lists of `A` with offsets `O`.
struct PageList<A: ArrowPrimitiveType, O>
where
    A::Native: Plain,
{
    shape: ListLeaf,
    stream: LevelStream<A::Native>,
    _offsets: std::marker::PhantomData<fn() -> O>,
}

impl<A, O> ListDecoder for PageList<A, O>
where
    A: ArrowPrimitiveType,
    A::Native: Plain,
    O: OffsetSizeTrait,
{
    fn read(&mut self, rows: usize) -> Result<ArrayRef> {
        let levels = self.stream.read(rows).map_err(|e| {
            DataFusionError::Execution(format!("column {}: {e}", self.shape.field.name()))
        })?;
        build_list::<A, O, u8>(
            &self.shape,
            rows,
            levels.records,
            &levels.rep,
            levels.def.as_deref(),
            levels.values,
        )
    }
}

/// The list array of `records` lists from their levels: repetition levels `rep`,
/// definition levels `def` (`None` when every level holds a value) and the values.
fn build_list<A, O, L>(
    shape: &ListLeaf,
    rows: usize,
    records: usize,
    rep: &[L],
    def: Option<&[L]>,
    values: Vec<A::Native>,
) -> Result<ArrayRef>
where
    A: ArrowPrimitiveType,
    O: OffsetSizeTrait,
    L: Copy + Into<i16>,
{
    let name = shape.field.name();
    let levels = rep.len();
    if records != rows {
        return Err(DataFusionError::External(Box::new(ParquetError::General(
            format!("column {name}: {records} lists where the row group has {rows} rows"),
        ))));
    }
    let too_long = || {
        DataFusionError::Execution(format!(
            "column {name}: {levels} elements in {rows} rows overflow the list's offsets"
        ))
    };
    let (offsets, values, element_nulls, list_nulls) = match def {
        None => {
            // Every level is a value: the offsets are where the repetition level is 0.
            if values.len() != levels {
                return Err(DataFusionError::Execution(format!(
                    "column {name}: {} values for {levels} levels",
                    values.len()
                )));
            }
            let mut offsets = vec![O::usize_as(0); records + 1];
            let mut k = 0;
            for (i, &r) in rep.iter().enumerate() {
                offsets[k] = O::usize_as(i);
                k += usize::from(r.into() == 0);
            }
            if k != records || O::from_usize(levels).is_none() {
                return Err(too_long());
            }
            offsets[records] = O::usize_as(levels);
            (offsets, values, None, None)
        }
        Some(def) => {
            let mut offsets = Vec::with_capacity(records + 1);
            let mut slots: Vec<A::Native> = Vec::with_capacity(levels);
            let mut element_valid = BooleanBufferBuilder::new(levels);
            let mut list_valid = BooleanBufferBuilder::new(records);
            let mut next = values.iter();
            for (&d, &r) in def.iter().zip(rep) {
                let (d, r) = (d.into(), r.into());
                if r == 0 {
                    offsets.push(O::from_usize(slots.len()).ok_or_else(too_long)?);
                    list_valid.append(d >= shape.list_def);
                }
                if d >= shape.slot_def {
                    let value = if d == shape.max_def {
                        next.next()
                    } else {
                        None
                    };
                    element_valid.append(value.is_some());
                    slots.push(value.copied().unwrap_or_default());
                }
            }
            offsets.push(O::from_usize(slots.len()).ok_or_else(too_long)?);
            let nulls = |mut b: BooleanBufferBuilder| {
                Some(NullBuffer::new(b.finish())).filter(|n| n.null_count() > 0)
            };
            (offsets, slots, nulls(element_valid), nulls(list_valid))
        }
    };
    let element = match shape.field.data_type() {
        DataType::List(e) | DataType::LargeList(e) => Arc::clone(e),
        other => {
            return Err(DataFusionError::Internal(format!(
                "list scan: {other} is not a list"
            )));
        }
    };
    let child = PrimitiveArray::<A>::new(ScalarBuffer::from(values), element_nulls);
    let list = GenericListArray::<O>::try_new(
        element,
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(child),
        list_nulls,
    )?;
    Ok(Arc::new(list))
}

/// The fetched column chunks of one row group, read by file offset.
#[derive(Clone)]
struct Chunks(Arc<Vec<(u64, Bytes)>>);

impl Chunks {
    fn slice(&self, start: u64, length: Option<usize>) -> Result<Bytes, ParquetError> {
        // A read must lie within one fetched chunk (adjacent chunks touch: the one that
        // holds the first byte is the one meant).
        for (offset, bytes) in self.0.iter() {
            let end = offset + bytes.len() as u64;
            if start >= *offset && start < end {
                let from = (start - offset) as usize;
                let to = length.map_or(bytes.len(), |l| from + l);
                if to <= bytes.len() {
                    return Ok(bytes.slice(from..to));
                }
            }
        }
        if length == Some(0) {
            return Ok(Bytes::new());
        }
        Err(ParquetError::General(format!(
            "list scan: bytes at {start} were not fetched"
        )))
    }
}

impl Length for Chunks {
    fn len(&self) -> u64 {
        self.0
            .iter()
            .map(|(offset, bytes)| offset + bytes.len() as u64)
            .max()
            .unwrap_or(0)
    }
}

impl ChunkReader for Chunks {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.slice(start, Some(length))
    }
}
