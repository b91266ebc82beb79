//! A partial `GROUP BY` over one integer key, for many groups.
//!
//! DataFusion's partial aggregation interns each row's key in a `hashbrown` table of
//! `(group, hash)` pairs and compares the key in a separate vector of group values: with
//! about 100k groups those are three cache misses per row, one after the other, before
//! the accumulators' own. [`IntKeyAggregate`] is a physical optimizer rule that runs
//! such a partial aggregation in [`IntKeyAggregateExec`] instead, whose table keeps
//! each key next to its group index (one cache line per row), hashes a whole batch
//! first and prefetches the slot of the row 16 rows ahead, so the misses overlap.
//! Integer keys that lie close together (ids, group numbers, queue depths) skip the
//! hash: while they span at most 2^18 values, a direct map gives each key's group.
//!
//! Everything else is DataFusion's: the same accumulators, the same output (the group
//! key, then each aggregate's state columns), the same final aggregation above it. Like
//! DataFusion's partial stage it emits what it has early when the memory pool refuses
//! to grow, and stops aggregating (converting rows straight to states) when the first
//! `skip_partial_aggregation_probe_rows_threshold` rows show almost every row is its
//! own group.
//!
//! With many groups, each partition's cells outgrow its share of the cache: every
//! partition meets every group. When the input's statistics promise at least
//! [`SPLIT_GROUPS`] groups (`runlake.execution.int_key_split_groups`) of enough rows
//! each, the rule also repartitions the input by the key (DataFusion's
//! `RepartitionExec`), so each partition aggregates only its own keys.
//!
//! It applies to `AggregateMode::Partial` with one integer-like key (`Int*`, `UInt*`,
//! dates, times, timestamps, durations) or floating-point key (`Float32`, `Float64`: by
//! bit pattern with `-0.0` folded into `0.0`, as DataFusion groups them; a CSV's whole
//! numbers land in the lake as `Float64`), no grouping sets, no ordered input, no `LIMIT`
//! on groups, and aggregates that are not `DISTINCT`, not ordered and have a
//! `GroupsAccumulator`. Every other aggregation is left to DataFusion.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayData, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::{ArrowNativeType, DataType, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{
    DataFusionError, Result, ScalarValue, Statistics, exec_err, internal_err,
};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, aggregate_expressions};
use datafusion::physical_plan::execution_plan::{CardinalityEffect, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, InputOrderMode,
    Partitioning, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

use runlake_functions::prefetch;

/// The physical optimizer rule that runs qualifying partial aggregations in
/// [`IntKeyAggregateExec`] (see the module documentation). Register it after
/// DataFusion's own rules, e.g. `SessionStateBuilder::with_physical_optimizer_rule`.
#[derive(Debug, Default)]
pub struct IntKeyAggregate;

impl PhysicalOptimizerRule for IntKeyAggregate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = crate::RunlakeOptions::of(config);
        if !options.int_key_aggregate {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(agg) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            if !qualifies(agg)? {
                return Ok(Transformed::no(node));
            }
            let agg = match split_input(agg, options.int_key_split_groups)? {
                Some(split) => split,
                None => agg.clone(),
            };
            let exec = IntKeyAggregateExec::new(Arc::new(agg));
            Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "runlake_int_key_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether [`IntKeyAggregateExec`] computes exactly what `agg` computes.
fn qualifies(agg: &AggregateExec) -> Result<bool> {
    let group_by = agg.group_expr();
    if *agg.mode() != AggregateMode::Partial
        || *agg.input_order_mode() != InputOrderMode::Linear
        || agg.limit_options().is_some()
        || !agg.dynamic_expressions_produced().is_empty()
        || !group_by.is_single()
        || group_by.expr().len() != 1
    {
        return Ok(false);
    }
    let key_type = group_by.expr()[0].0.data_type(&agg.input_schema())?;
    if key_width(&key_type).is_none() {
        return Ok(false);
    }
    Ok(agg
        .aggr_expr()
        .iter()
        .all(|a| !a.is_distinct() && a.order_bys().is_empty() && a.groups_accumulator_supported()))
}

/// The default of `runlake.execution.int_key_split_groups`: the fewest groups the input's
/// statistics must promise before a partial aggregation's input is split by key.
///
/// Measured on the 2-core machine of `BENCHMARKS.md` ("W2: the input split by key"; 10M
/// rows, `pearson`, `mape` and `cv` per group). With 8 partitions W2's 100k groups took
/// 0.51 s split against 0.75 s: unsplit, every partition holds every group's cells and
/// the final stage merges 8 states a group. With 2 partitions the split is about even
/// (the partial stage is 5% cheaper and the final stage 35 ms cheaper, the extra copy of
/// the rows costs as much). Forced on 3,000-30,000 groups it gained nothing, and on 64
/// groups it lost 30%: below this many groups the input is left as it is.
pub const SPLIT_GROUPS: u64 = 65_536;

/// The fewest rows a group the statistics must promise for a split. With fewer, the
/// partial stage reduces little and the copy is extra: at 1,000,000 groups in 10M rows
/// the split was 12% slower.
const SPLIT_ROWS_PER_GROUP: u64 = 16;

/// `agg` with its input repartitioned by its key (DataFusion's `RepartitionExec`, hash
/// partitioning into as many partitions as the input has), if the input's statistics
/// promise at least `min_groups` groups of at least [`SPLIT_ROWS_PER_GROUP`] rows.
///
/// Each partition then holds only its own keys' groups: half the cells per core on two
/// cores, and the final stage merges one state per group instead of one per partition.
/// The groups are estimated from the key column's distinct count, or else from its
/// minimum and maximum; without statistics (a CSV file, an expression as the key) the
/// input is left as it is.
fn split_input(agg: &AggregateExec, min_groups: u64) -> Result<Option<AggregateExec>> {
    let partitions = agg.input().properties().partitioning.partition_count();
    if min_groups == 0 || partitions < 2 {
        return Ok(None);
    }
    let key = &agg.group_expr().expr()[0].0;
    let Some(column) = key.downcast_ref::<Column>() else {
        return Ok(None);
    };
    let stats = StatisticsContext::new().compute(agg.input().as_ref(), &StatisticsArgs::new())?;
    let Some(column_stats) = stats.column_statistics.get(column.index()) else {
        return Ok(None);
    };
    let Some(&rows) = stats.num_rows.get_value() else {
        return Ok(None);
    };
    let groups = match column_stats.distinct_count.get_value() {
        Some(&distinct) => distinct as u64,
        None => match (
            column_stats.min_value.get_value().and_then(integer),
            column_stats.max_value.get_value().and_then(integer),
        ) {
            (Some(min), Some(max)) if max >= min => {
                u64::try_from(max - min + 1).unwrap_or(u64::MAX)
            }
            _ => return Ok(None),
        },
    };
    if groups < min_groups || (rows as u64) / SPLIT_ROWS_PER_GROUP < groups {
        return Ok(None);
    }
    let split = RepartitionExec::try_new(
        Arc::clone(agg.input()),
        Partitioning::Hash(vec![Arc::clone(key)], partitions),
    )?;
    Ok(Some(AggregateExec::try_new(
        *agg.mode(),
        agg.group_expr().clone(),
        agg.aggr_expr().to_vec(),
        agg.filter_expr().to_vec(),
        Arc::new(split),
        agg.input_schema(),
    )?))
}

/// An integer-like statistic as an `i128` (every integer key type fits); `None` for a
/// float, whose range says nothing of how many keys it holds.
fn integer(value: &ScalarValue) -> Option<i128> {
    use ScalarValue::*;
    Some(match value {
        Int8(Some(v)) => *v as i128,
        Int16(Some(v)) => *v as i128,
        Int32(Some(v)) | Date32(Some(v)) | Time32Second(Some(v)) | Time32Millisecond(Some(v)) => {
            *v as i128
        }
        Int64(Some(v))
        | Date64(Some(v))
        | Time64Microsecond(Some(v))
        | Time64Nanosecond(Some(v))
        | TimestampSecond(Some(v), _)
        | TimestampMillisecond(Some(v), _)
        | TimestampMicrosecond(Some(v), _)
        | TimestampNanosecond(Some(v), _)
        | DurationSecond(Some(v))
        | DurationMillisecond(Some(v))
        | DurationMicrosecond(Some(v))
        | DurationNanosecond(Some(v)) => *v as i128,
        UInt8(Some(v)) => *v as i128,
        UInt16(Some(v)) => *v as i128,
        UInt32(Some(v)) => *v as i128,
        UInt64(Some(v)) => *v as i128,
        _ => return None,
    })
}

/// The width in bytes of the integer that stores a key of this type, if it is one.
fn key_width(data_type: &DataType) -> Option<usize> {
    use DataType::*;
    match data_type {
        Int8 | UInt8 => Some(1),
        Int16 | UInt16 => Some(2),
        Int32 | UInt32 | Date32 | Time32(_) => Some(4),
        Int64 | UInt64 | Date64 | Time64(_) | Timestamp(_, _) | Duration(_) => Some(8),
        // By bit pattern, as DataFusion's own grouping compares them (below: `Key`).
        Float32 => Some(4),
        Float64 => Some(8),
        _ => None,
    }
}

/// A partial [`AggregateExec`] over one integer key, run with runlake's key table
/// (see the module documentation). It keeps the `AggregateExec` it replaces for its
/// plan properties, expressions and display.
#[derive(Debug)]
pub struct IntKeyAggregateExec {
    agg: Arc<AggregateExec>,
    metrics: ExecutionPlanMetricsSet,
}

impl IntKeyAggregateExec {
    fn new(agg: Arc<AggregateExec>) -> Self {
        Self {
            agg,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    fn rewrap(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        match plan.downcast_ref::<AggregateExec>() {
            Some(agg) if qualifies(agg)? => Ok(Arc::new(Self::new(Arc::new(agg.clone())))),
            Some(_) => Ok(plan),
            None => {
                internal_err!("IntKeyAggregateExec: the rebuilt aggregate is not an AggregateExec")
            }
        }
    }
}

impl DisplayAs for IntKeyAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        struct Inner<'a>(&'a AggregateExec, DisplayFormatType);
        impl fmt::Display for Inner<'_> {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                self.0.fmt_as(self.1, f)
            }
        }
        let inner = Inner(&self.agg, t).to_string();
        let inner = inner.strip_prefix("AggregateExec: ").unwrap_or(&inner);
        match t {
            DisplayFormatType::TreeRender => write!(f, "{inner}"),
            _ => write!(f, "IntKeyAggregateExec: {inner}"),
        }
    }
}

impl ExecutionPlan for IntKeyAggregateExec {
    fn name(&self) -> &'static str {
        "IntKeyAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.agg.input_distribution_requirements()
    }

    fn required_input_ordering(
        &self,
    ) -> Vec<Option<datafusion::physical_expr::OrderingRequirements>> {
        self.agg.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.agg.maintains_input_order()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.agg.children()
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let agg = Arc::clone(&self.agg) as Arc<dyn ExecutionPlan>;
        Self::rewrap(agg.replace_children(children, options)?)
    }

    #[allow(deprecated)] // required by the trait; delegates like `replace_children`
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let agg = Arc::clone(&self.agg) as Arc<dyn ExecutionPlan>;
        Self::rewrap(agg.with_new_children(children)?)
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.agg.apply_expressions(f)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = IntKeyStream::new(&self.agg, partition, &context, &self.metrics)?;
        let schema = self.schema();
        let batches = futures::stream::unfold(stream, |mut s| async move {
            let next = s.next_batch().await.transpose()?;
            Some((next, s))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.agg.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.agg.statistics_from_inputs(input_stats, args)
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        self.agg.cardinality_effect()
    }
}

/// One partition's aggregation.
struct IntKeyStream {
    input: SendableRecordBatchStream,
    schema: SchemaRef,
    key: Arc<dyn PhysicalExpr>,
    key_type: DataType,
    arguments: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    table: KeyTable,
    groups: Vec<usize>,
    reservation: MemoryReservation,
    batch_size: usize,
    /// Rows seen and the ratio of groups to rows above which aggregation stops.
    probe: Option<(usize, usize, f64)>,
    skipping: bool,
    pending: VecDeque<RecordBatch>,
    done: bool,
    metrics: BaselineMetrics,
}

impl IntKeyStream {
    fn new(
        agg: &AggregateExec,
        partition: usize,
        context: &Arc<TaskContext>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Self> {
        let input = agg.input().execute(partition, Arc::clone(context))?;
        let key = Arc::clone(&agg.group_expr().expr()[0].0);
        let key_type = key.data_type(&agg.input_schema())?;
        let direct_keys = !matches!(key_type, DataType::Float32 | DataType::Float64);
        let arguments = aggregate_expressions(agg.aggr_expr(), agg.mode(), 0)?;
        let accumulators = agg
            .aggr_expr()
            .iter()
            .map(|a| a.create_groups_accumulator())
            .collect::<Result<_>>()?;
        let reservation = MemoryConsumer::new(format!("IntKeyAggregate[{partition}]"))
            .with_can_spill(true)
            .register(context.memory_pool());
        let options = &context.session_config().options().execution;
        let ratio = options.skip_partial_aggregation_probe_ratio_threshold;
        let probe = (ratio < 1.0).then_some((
            0,
            options.skip_partial_aggregation_probe_rows_threshold,
            ratio,
        ));
        Ok(Self {
            input,
            schema: agg.schema(),
            key,
            key_type,
            arguments,
            filters: agg.filter_expr().to_vec(),
            accumulators,
            table: KeyTable::new(direct_keys),
            groups: Vec::new(),
            reservation,
            batch_size: context.session_config().batch_size().max(1),
            probe,
            skipping: false,
            pending: VecDeque::new(),
            done: false,
            metrics: BaselineMetrics::new(metrics, partition),
        })
    }

    /// The next output batch, or `None` at the end.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                self.metrics.record_output(batch.num_rows());
                return Ok(Some(batch));
            }
            if self.done {
                self.reservation.free();
                return Ok(None);
            }
            match self.input.next().await {
                Some(batch) => {
                    let batch = batch?;
                    let elapsed = self.metrics.elapsed_compute().clone();
                    let _timer = elapsed.timer();
                    if self.skipping {
                        let states = self.to_states(&batch)?;
                        self.pending.push_back(states);
                    } else {
                        self.aggregate(&batch)?;
                        self.after_batch(batch.num_rows())?;
                    }
                }
                None => {
                    let elapsed = self.metrics.elapsed_compute().clone();
                    let _timer = elapsed.timer();
                    self.emit()?;
                    self.done = true;
                }
            }
        }
    }

    fn aggregate(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        self.table.intern(&keys, &mut self.groups)?;
        let total = self.table.len();
        let inputs = self.inputs(batch)?;
        for (acc, (values, filter)) in self.accumulators.iter_mut().zip(&inputs) {
            acc.update_batch(values, &self.groups, filter.as_ref(), total)?;
        }
        Ok(())
    }

    /// Each aggregate's argument values and FILTER, evaluated on `batch`.
    fn inputs(&self, batch: &RecordBatch) -> Result<Vec<(Vec<ArrayRef>, Option<BooleanArray>)>> {
        self.arguments
            .iter()
            .zip(&self.filters)
            .map(|(arguments, filter)| {
                Ok((
                    evaluate(arguments, batch)?,
                    evaluate_filter(filter.as_ref(), batch)?,
                ))
            })
            .collect()
    }

    /// The skip probe and the memory reservation, after a batch was aggregated.
    fn after_batch(&mut self, rows: usize) -> Result<()> {
        if let Some((seen, threshold, ratio)) = self.probe.as_mut() {
            *seen += rows;
            if *seen >= *threshold && self.table.len() as f64 / *seen as f64 > *ratio {
                self.emit()?;
                self.skipping = true;
                // Only the emptied table is left to account for.
                let _ = self.reservation.try_resize(self.table.size());
                return Ok(());
            }
        }
        let size = self.table.size()
            + self.groups.allocated_size()
            + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        match self.reservation.try_resize(size) {
            Ok(()) => Ok(()),
            // A partial aggregation may hand on what it has and start again.
            Err(DataFusionError::ResourcesExhausted(_)) if self.table.len() > 1 => {
                // `emit` empties the table and the accumulators.
                self.emit()?;
                let _ = self.reservation.try_resize(self.table.size());
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Queues every group's key and states, in slices of the batch size.
    fn emit(&mut self) -> Result<()> {
        if self.table.len() == 0 {
            return Ok(());
        }
        let mut columns = vec![self.table.emit(&self.key_type)?];
        for acc in &mut self.accumulators {
            columns.extend(acc.state(EmitTo::All)?);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = self.batch_size.min(batch.num_rows() - offset);
            self.pending.push_back(batch.slice(offset, len));
            offset += len;
        }
        Ok(())
    }

    /// Each row as its own group's state (after the probe gave up aggregating).
    fn to_states(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut columns = vec![self.key.evaluate(batch)?.into_array(batch.num_rows())?];
        for (acc, (values, filter)) in self.accumulators.iter().zip(self.inputs(batch)?) {
            columns.extend(acc.convert_to_state(&values, filter.as_ref())?);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}

fn evaluate_filter(
    filter: Option<&Arc<dyn PhysicalExpr>>,
    batch: &RecordBatch,
) -> Result<Option<BooleanArray>> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let array = filter.evaluate(batch)?.into_array(batch.num_rows())?;
    match array.as_boolean_opt() {
        Some(b) => Ok(Some(b.clone())),
        None => exec_err!("an aggregate FILTER is not boolean: {}", array.data_type()),
    }
}

/// The group of each key: an open-addressing table of `(key, group)` slots, 16 bytes
/// each, probed linearly from a multiplicative hash of the key, at most half full.
/// Keys are held as `i64` (every supported key type widens to it and back without
/// loss); the NULL key has its own group.
///
/// Integer keys start in direct mode: while every key seen lies within [`DIRECT_SPAN`]
/// consecutive values, a key's group is `direct[key - base]`, an array of `u32` at most
/// 1 MiB long. Ids, queue depths, batch sizes and group numbers are mostly like that: no
/// hash, no probe, and the array stays in the core's cache where the slots of 100k
/// groups (4 MiB) do not. The first batch whose keys would widen the span beyond it
/// moves every group into the slots, and hashing goes on from there.
#[derive(Debug)]
struct KeyTable {
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`: the hash is the product's top bits.
    shift: u32,
    /// Each group's key, in group order.
    keys: Vec<i64>,
    null_group: Option<usize>,
    /// Scratch: the home slot of each row of the batch being interned.
    homes: Vec<u32>,
    /// The direct map while the table is in direct mode; `None` once it hashes.
    direct: Option<Direct>,
    /// Whether the table starts in direct mode (integer keys; a float's bit patterns
    /// are never close together).
    direct_keys: bool,
}

/// Direct mode's map: `groups[k - base]` is the group of key `k`, or [`EMPTY`].
#[derive(Debug, Default)]
struct Direct {
    base: i64,
    groups: Vec<u32>,
}

/// The most consecutive key values direct mode maps: 262,144 groups of 4 bytes, 1 MiB,
/// half a core's L2 cache on the benchmark machine.
const DIRECT_SPAN: i128 = 1 << 18;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct Slot {
    key: i64,
    /// The group index, or [`EMPTY`].
    group: u32,
}

const EMPTY: u32 = u32::MAX;
const MAX_GROUPS: usize = 1 << 31;
const EMPTY_SLOT: Slot = Slot {
    key: 0,
    group: EMPTY,
};
/// How many rows ahead [`KeyTable::intern`] prefetches a row's slot.
const AHEAD: usize = 16;
const INITIAL_BITS: u32 = 10;

impl KeyTable {
    fn new(direct_keys: bool) -> Self {
        Self {
            slots: vec![EMPTY_SLOT; 1 << INITIAL_BITS],
            shift: 64 - INITIAL_BITS,
            keys: Vec::new(),
            null_group: None,
            homes: Vec::new(),
            direct: direct_keys.then(Direct::default),
            direct_keys,
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn size(&self) -> usize {
        self.slots.allocated_size()
            + self.keys.allocated_size()
            + self.homes.allocated_size()
            + self
                .direct
                .as_ref()
                .map_or(0, |d| d.groups.allocated_size())
    }

    /// Fills `groups` with the group of each row of `keys`, adding new groups.
    fn intern(&mut self, keys: &ArrayRef, groups: &mut Vec<usize>) -> Result<()> {
        let data = keys.to_data();
        let Some(width) = key_width(keys.data_type()) else {
            return internal_err!("IntKeyAggregateExec: key type {}", keys.data_type());
        };
        let (buffer, offset, len) = (data.buffers()[0].clone(), data.offset(), data.len());
        let nulls = keys.logical_nulls();
        let nulls = nulls.as_ref().filter(|n| n.null_count() > 0);
        let signed = !matches!(
            keys.data_type(),
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
        );
        macro_rules! intern {
            ($n:ty) => {
                self.intern_as::<$n>(&ScalarBuffer::new(buffer, offset, len), nulls, groups)
            };
        }
        match (width, signed) {
            _ if keys.data_type() == &DataType::Float32 => intern!(f32),
            _ if keys.data_type() == &DataType::Float64 => intern!(f64),
            (1, true) => intern!(i8),
            (1, false) => intern!(u8),
            (2, true) => intern!(i16),
            (2, false) => intern!(u16),
            (4, true) => intern!(i32),
            (4, false) => intern!(u32),
            (8, true) => intern!(i64),
            _ => intern!(u64),
        }
    }

    fn intern_as<N: Key>(
        &mut self,
        values: &[N],
        nulls: Option<&NullBuffer>,
        groups: &mut Vec<usize>,
    ) -> Result<()> {
        groups.clear();
        groups.reserve(values.len());
        if self.direct.is_some() {
            if self.widen_direct(values, nulls) {
                return self.intern_direct(values, nulls, groups);
            }
            self.start_hashing();
        }
        let mut start = 0;
        while start < values.len() {
            self.hash_from(values, start);
            start = self.probe_from(values, nulls, start, groups)?;
        }
        Ok(())
    }

    /// Widens the direct map to cover every non-NULL key of `values`, if the keys seen
    /// then span at most [`DIRECT_SPAN`] values; `false` (and no change) if not.
    fn widen_direct<N: Key>(&mut self, values: &[N], nulls: Option<&NullBuffer>) -> bool {
        let Some(direct) = self.direct.as_mut() else {
            return false;
        };
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        match nulls {
            None => values.iter().for_each(|v| {
                let k = v.widen();
                lo = lo.min(k);
                hi = hi.max(k);
            }),
            Some(n) => n.valid_indices().for_each(|i| {
                let k = values[i].widen();
                lo = lo.min(k);
                hi = hi.max(k);
            }),
        }
        if lo > hi {
            return true; // no key, only NULLs or no rows
        }
        if !direct.groups.is_empty() {
            lo = lo.min(direct.base);
            hi = hi.max(direct.base + (direct.groups.len() as i64 - 1));
        }
        let span = hi as i128 - lo as i128 + 1;
        if span > DIRECT_SPAN {
            return false;
        }
        let span = span as usize;
        if direct.groups.is_empty() {
            direct.base = lo;
            direct.groups = vec![EMPTY; span];
        } else if lo < direct.base {
            let shift = (direct.base - lo) as usize;
            let mut groups = vec![EMPTY; span];
            groups[shift..shift + direct.groups.len()].copy_from_slice(&direct.groups);
            *direct = Direct { base: lo, groups };
        } else {
            direct.groups.resize(span, EMPTY);
        }
        true
    }

    /// Interns `values` by the direct map, which [`KeyTable::widen_direct`] made cover
    /// every key of them.
    fn intern_direct<N: Key>(
        &mut self,
        values: &[N],
        nulls: Option<&NullBuffer>,
        groups: &mut Vec<usize>,
    ) -> Result<()> {
        let Self {
            direct: Some(direct),
            keys,
            null_group,
            ..
        } = self
        else {
            return internal_err!("IntKeyAggregateExec: direct map missing");
        };
        let base = direct.base;
        let index = |key: i64| key.wrapping_sub(base) as u64 as usize;
        for (i, value) in values.iter().enumerate() {
            // Beside the accumulators' cells the map drops out of the core's cache too.
            // (A NULL row's value may be any bits: a prefetch of any address is allowed.)
            if let Some(ahead) = values.get(i + AHEAD) {
                prefetch(direct.groups.as_ptr().wrapping_add(index(ahead.widen())));
            }
            if nulls.is_some_and(|n| n.is_null(i)) {
                groups.push(null_group_of(null_group, keys));
                continue;
            }
            let key = value.widen();
            let slot = &mut direct.groups[index(key)];
            if *slot == EMPTY {
                *slot = push_group(keys, key)?;
            }
            groups.push(*slot as usize);
        }
        Ok(())
    }

    /// Leaves direct mode: every group goes into slots at most half full.
    fn start_hashing(&mut self) {
        self.direct = None;
        let bits = (2 * self.keys.len().max(1))
            .next_power_of_two()
            .trailing_zeros();
        self.rehash(bits.max(INITIAL_BITS));
    }

    /// Computes the home slots of `values[start..]` into `homes[start..]`.
    fn hash_from<N: Key>(&mut self, values: &[N], start: usize) {
        let shift = self.shift;
        self.homes.resize(start, 0);
        self.homes
            .extend(values[start..].iter().map(|v| home(v.widen(), shift)));
    }

    /// Interns rows from `start` on until the end or until the table must grow (it is
    /// then grown, and the index of the next row returned).
    fn probe_from<N: Key>(
        &mut self,
        values: &[N],
        nulls: Option<&NullBuffer>,
        start: usize,
        groups: &mut Vec<usize>,
    ) -> Result<usize> {
        let mask = self.slots.len() - 1;
        let limit = self.slots.len() / 2;
        for (i, value) in values.iter().enumerate().skip(start) {
            if let Some(&ahead) = self.homes.get(i + AHEAD) {
                prefetch(self.slots.as_ptr().wrapping_add(ahead as usize));
            }
            if nulls.is_some_and(|n| n.is_null(i)) {
                groups.push(null_group_of(&mut self.null_group, &mut self.keys));
                continue;
            }
            let key = value.widen();
            let mut p = self.homes[i] as usize;
            let group = loop {
                let slot = self.slots[p];
                if slot.group == EMPTY {
                    if self.keys.len() >= limit {
                        self.grow();
                        return Ok(i);
                    }
                    let g = self.new_group(key)?;
                    self.slots[p] = Slot { key, group: g };
                    break g as usize;
                }
                if slot.key == key {
                    break slot.group as usize;
                }
                p = (p + 1) & mask;
            };
            groups.push(group);
        }
        Ok(values.len())
    }

    fn new_group(&mut self, key: i64) -> Result<u32> {
        push_group(&mut self.keys, key)
    }

    /// Doubles the slots and puts every group back.
    fn grow(&mut self) {
        self.rehash(64 - self.shift + 1);
    }

    /// Makes `2^bits` empty slots and puts every group into them.
    fn rehash(&mut self, bits: u32) {
        let len = 1usize << bits;
        self.slots = vec![EMPTY_SLOT; len];
        self.shift = 64 - bits;
        let mask = len - 1;
        for (g, &key) in self.keys.iter().enumerate() {
            if Some(g) == self.null_group {
                continue;
            }
            let mut p = home(key, self.shift) as usize;
            while self.slots[p].group != EMPTY {
                p = (p + 1) & mask;
            }
            self.slots[p] = Slot {
                key,
                group: g as u32,
            };
        }
    }

    /// Every group's key as an array of `data_type`, in group order; empties the table.
    fn emit(&mut self, data_type: &DataType) -> Result<ArrayRef> {
        let keys = std::mem::take(&mut self.keys);
        let len = keys.len();
        let nulls = self.null_group.take().map(|g| {
            let mut valid = vec![true; len];
            valid[g] = false;
            NullBuffer::from(valid)
        });
        let buffer = match key_width(data_type) {
            Some(1) => Buffer::from_vec(keys.into_iter().map(|k| k as i8).collect::<Vec<_>>()),
            Some(2) => Buffer::from_vec(keys.into_iter().map(|k| k as i16).collect::<Vec<_>>()),
            Some(4) => Buffer::from_vec(keys.into_iter().map(|k| k as i32).collect::<Vec<_>>()),
            Some(8) => Buffer::from_vec(keys),
            _ => return internal_err!("IntKeyAggregateExec: key type {data_type}"),
        };
        self.slots = vec![EMPTY_SLOT; 1 << INITIAL_BITS];
        self.shift = 64 - INITIAL_BITS;
        self.direct = self.direct_keys.then(Direct::default);
        let data = ArrayData::builder(data_type.clone())
            .len(len)
            .add_buffer(buffer)
            .nulls(nulls)
            .build()?;
        Ok(arrow::array::make_array(data))
    }
}

/// A new group of `key` at the end of `keys`: its index.
fn push_group(keys: &mut Vec<i64>, key: i64) -> Result<u32> {
    let g = keys.len();
    // 2^31 groups keep the slots within 2^32, so a home slot fits a u32.
    if g >= MAX_GROUPS {
        return exec_err!("GROUP BY: more than {MAX_GROUPS} groups in one partition");
    }
    keys.push(key);
    Ok(g as u32)
}

/// The NULL key's group, made (at the end of `keys`) the first time it is asked for.
fn null_group_of(null_group: &mut Option<usize>, keys: &mut Vec<i64>) -> usize {
    *null_group.get_or_insert_with(|| {
        keys.push(0);
        keys.len() - 1
    })
}

/// A key's home slot: the top bits of its product with 2^64 / phi.
#[inline(always)]
fn home(key: i64, shift: u32) -> u32 {
    ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as u32
}

/// A key type, widened to `i64` for the table (a bit pattern for `u64` and floats).
trait Key: ArrowNativeType {
    fn widen(self) -> i64;
}

macro_rules! key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            #[inline(always)]
            fn widen(self) -> i64 {
                self as i64
            }
        }
    )*};
}
key!(i8, i16, i32, i64, u8, u16, u32, u64);

/// Floating-point keys are grouped by bit pattern with `-0.0` folded into `0.0`, as
/// DataFusion's `GroupValuesPrimitive` does: NaNs of one bit pattern are one group, and
/// the group's key is the folded value. `emit` writes the bits back as they are.
impl Key for f32 {
    #[inline(always)]
    fn widen(self) -> i64 {
        let bits = self.to_bits();
        (if bits << 1 == 0 { 0 } else { bits }) as i64
    }
}

impl Key for f64 {
    #[inline(always)]
    fn widen(self) -> i64 {
        let bits = self.to_bits();
        (if bits << 1 == 0 { 0 } else { bits }) as i64
    }
}

/// `allocated_size` of the vectors above, as DataFusion counts them.
trait Allocated {
    fn allocated_size(&self) -> usize;
}

impl<T> Allocated for Vec<T> {
    fn allocated_size(&self) -> usize {
        self.capacity() * size_of::<T>()
    }
}
