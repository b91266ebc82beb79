//! The machinery shared by every function: argument reading with the NULL rule, literal
//! parameters, and the two aggregate shapes.
//!
//! - [`MomentUdaf`]: a fixed-size state (counts, means, co-moments, compensated sums)
//!   behind one layout used by the scalar [`Accumulator`], the sliding-window accumulator
//!   (`retract_batch`) and the vectorised [`GroupsAccumulator`], so partial states from any
//!   path merge with any other.
//! - [`BufferUdaf`]: functions that need every value (ranks, quantiles); the values are
//!   buffered per group, their memory reported through `size()` so DataFusion's memory
//!   pool limits them. The quantile family keeps a sorted buffer for sliding frames.
//!
//! Both shapes apply the common rules in order: rows with a NULL argument are skipped;
//! too few rows gives NULL; any NaN among the remaining rows gives NaN; then the
//! function's own definition.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::builder::make_view;
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryViewArray, BooleanArray, Float64Array, UInt64Array,
};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature,
};
use datafusion::physical_expr::expressions::Literal;

// ---------------------------------------------------------------------------------------
// Argument reading
// ---------------------------------------------------------------------------------------

/// Casts the first `arity` arguments to Float64 (the planner has already coerced them;
/// this only guards against callers that bypass coercion).
fn float_columns(values: &[ArrayRef], arity: usize) -> Result<Vec<ArrayRef>> {
    values[..arity]
        .iter()
        .map(|a| {
            if a.data_type() == &DataType::Float64 {
                Ok(Arc::clone(a))
            } else {
                Ok(cast(a, &DataType::Float64)?)
            }
        })
        .collect()
}

/// Calls `f(row_index, row)` for every row where the filter (if any) is true and no data
/// argument is NULL. `row` holds the first `arity` arguments as f64.
#[inline]
fn for_each_row(
    columns: &[ArrayRef],
    filter: Option<&BooleanArray>,
    mut f: impl FnMut(usize, &[f64]),
) {
    let cols: Vec<&Float64Array> = columns
        .iter()
        .map(|c| c.as_primitive::<Float64Type>())
        .collect();
    let arity = cols.len();
    let len = cols.first().map_or(0, |c| c.len());
    let any_nulls = cols.iter().any(|c| c.null_count() > 0);
    let mut row = [0.0f64; 4];
    match (filter, any_nulls) {
        (None, false) => {
            let slices: Vec<&[f64]> = cols.iter().map(|c| c.values().as_ref()).collect();
            for i in 0..len {
                for (k, s) in slices.iter().enumerate() {
                    row[k] = s[i];
                }
                f(i, &row[..arity]);
            }
        }
        _ => {
            'rows: for i in 0..len {
                if let Some(flt) = filter
                    && !(flt.is_valid(i) && flt.value(i))
                {
                    continue;
                }
                for (k, c) in cols.iter().enumerate() {
                    if c.is_null(i) {
                        continue 'rows;
                    }
                    row[k] = c.value(i);
                }
                f(i, &row[..arity]);
            }
        }
    }
}

/// Reads the literal parameters that follow the data arguments (a level, a
/// probability, a list of probabilities). A non-constant parameter is a planning error.
fn literal_params(name: &str, args: &AccumulatorArgs, arity: usize) -> Result<Vec<ScalarValue>> {
    args.exprs
        .iter()
        .enumerate()
        .skip(arity)
        .map(|(i, e)| match e.downcast_ref::<Literal>() {
            Some(lit) => Ok(lit.value().clone()),
            None => plan_err!(
                "{name}: argument {} must be a constant, not an expression over columns",
                i + 1
            ),
        })
        .collect()
}

/// Reads an optional numeric literal parameter.
pub(crate) fn param_f64(
    name: &str,
    what: &str,
    lits: &[ScalarValue],
    i: usize,
) -> Result<Option<f64>> {
    match lits.get(i) {
        None => Ok(None),
        Some(v) if v.is_null() => plan_err!("{name}: {what} must not be NULL"),
        Some(v) => match v.cast_to(&DataType::Float64)? {
            ScalarValue::Float64(Some(x)) => Ok(Some(x)),
            other => plan_err!("{name}: {what} must be a number, got {other}"),
        },
    }
}

/// A probability in [0, 1], or a clear planning error.
pub(crate) fn check_probability(name: &str, p: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        plan_err!(
            "{name}: probability must be between 0 and 1, got {p} (write 0.95 for the 95th percentile)"
        )
    }
}

fn f64_field(name: &str, state: &str) -> FieldRef {
    Arc::new(Field::new(
        format_state_name(name, state),
        DataType::Float64,
        true,
    ))
}

// ---------------------------------------------------------------------------------------
// Moment functions
// ---------------------------------------------------------------------------------------

/// A fixed-size, mergeable state.
pub(crate) trait MomentState:
    Default + Clone + Copy + Debug + Send + Sync + 'static
{
    /// Names of the state columns (all Float64).
    const FIELDS: &'static [&'static str];
    /// Whether `retract` is exact and supported (for sliding window frames).
    const RETRACTABLE: bool = true;
    /// Rows fed into `update` (NaN rows are counted separately by the wrapper).
    fn count(&self) -> f64;
    fn update(&mut self, input: &[f64]);
    fn retract(&mut self, input: &[f64]);
    fn merge(&mut self, other: &Self);
    fn write(&self, out: &mut [f64]);
    fn read(values: &[f64]) -> Self;
}

/// The definition of one moment-based SQL function over a [`MomentState`].
pub(crate) trait MomentFunction:
    Debug + Clone + PartialEq + Eq + Hash + Send + Sync + 'static
{
    type State: MomentState;
    /// Number of data arguments (further arguments are literal parameters).
    const ARITY: usize;
    /// Fewer rows than this (after NULL removal, NaN rows included) gives NULL.
    fn min_rows(&self) -> f64;
    fn name(&self) -> &'static str;
    fn documentation(&self) -> &'static Documentation;
    fn signature(&self) -> Signature;
    /// Parses and validates literal parameters (planning errors on bad values).
    fn params(&self, _lits: &[ScalarValue]) -> Result<Vec<f64>> {
        Ok(vec![])
    }
    /// Rows the definition leaves out before the NaN rule (e.g. `mape`'s zero actuals).
    #[inline]
    fn keep(&self, _row: &[f64]) -> bool {
        true
    }
    /// Maps a kept, NaN-free row to the state's input.
    fn input(&self, row: &[f64], out: &mut [f64; 4]);
    /// A dedicated sliding-frame accumulator, for states that cannot retract.
    fn sliding_accumulator(&self) -> Option<Box<dyn Accumulator>> {
        None
    }
    /// The result from a state with at least `min_rows` rows and no NaN.
    fn evaluate(&self, state: &Self::State, params: &[f64]) -> Option<f64>;
}

/// A moment state plus the count of NaN rows, so a NaN can leave a sliding window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cell<S> {
    state: S,
    nans: f64,
}

impl<S: MomentState> Cell<S> {
    #[inline(always)]
    fn update<F: MomentFunction<State = S>>(&mut self, f: &F, row: &[f64]) {
        if !f.keep(row) {
            return;
        }
        if row.iter().any(|v| v.is_nan()) {
            self.nans += 1.0;
            return;
        }
        let mut input = [0.0; 4];
        f.input(row, &mut input);
        self.state.update(&input);
    }

    #[inline]
    fn retract<F: MomentFunction<State = S>>(&mut self, f: &F, row: &[f64]) {
        if !f.keep(row) {
            return;
        }
        if row.iter().any(|v| v.is_nan()) {
            self.nans -= 1.0;
            return;
        }
        let mut input = [0.0; 4];
        f.input(row, &mut input);
        self.state.retract(&input);
    }

    #[inline]
    fn merge(&mut self, other: &Self) {
        self.state.merge(&other.state);
        self.nans += other.nans;
    }

    #[inline]
    fn evaluate<F: MomentFunction<State = S>>(&self, f: &F, params: &[f64]) -> Option<f64> {
        if self.state.count() + self.nans < f.min_rows() {
            return None;
        }
        if self.nans > 0.0 {
            return Some(f64::NAN);
        }
        f.evaluate(&self.state, params)
    }

    fn width() -> usize {
        S::FIELDS.len() + 1
    }

    fn write(&self, out: &mut [f64]) {
        let n = S::FIELDS.len();
        self.state.write(&mut out[..n]);
        out[n] = self.nans;
    }

    fn read(values: &[f64]) -> Self {
        let n = S::FIELDS.len();
        Cell {
            state: S::read(&values[..n]),
            nans: values[n],
        }
    }
}

fn cells_to_state<S: MomentState>(cells: &[Cell<S>]) -> Vec<ArrayRef> {
    let width = Cell::<S>::width();
    let mut cols: Vec<Vec<f64>> = (0..width)
        .map(|_| Vec::with_capacity(cells.len()))
        .collect();
    let mut buf = vec![0.0; width];
    for c in cells {
        c.write(&mut buf);
        for (col, v) in cols.iter_mut().zip(&buf) {
            col.push(*v);
        }
    }
    cols.into_iter()
        .map(|v| Arc::new(Float64Array::from(v)) as ArrayRef)
        .collect()
}

fn for_each_state_row<S: MomentState>(states: &[ArrayRef], mut f: impl FnMut(usize, Cell<S>)) {
    let cols: Vec<&[f64]> = states
        .iter()
        .map(|a| a.as_primitive::<Float64Type>().values().as_ref())
        .collect();
    let len = cols.first().map_or(0, |c| c.len());
    let mut buf = vec![0.0; cols.len()];
    for i in 0..len {
        for (b, c) in buf.iter_mut().zip(&cols) {
            *b = c[i];
        }
        f(i, Cell::read(&buf));
    }
}

/// The DataFusion UDAF for a [`MomentFunction`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct MomentUdaf<F: MomentFunction> {
    function: F,
    signature: Signature,
}

impl<F: MomentFunction> MomentUdaf<F> {
    pub(crate) fn new(function: F) -> Self {
        let signature = function.signature();
        Self {
            function,
            signature,
        }
    }

    fn params(&self, args: &AccumulatorArgs) -> Result<Vec<f64>> {
        let lits = literal_params(self.function.name(), args, F::ARITY)?;
        self.function.params(&lits)
    }
}

impl<F: MomentFunction> AggregateUDFImpl for MomentUdaf<F> {
    fn name(&self) -> &str {
        self.function.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let mut fields: Vec<FieldRef> = F::State::FIELDS
            .iter()
            .map(|s| f64_field(args.name, s))
            .collect();
        fields.push(f64_field(args.name, "nans"));
        Ok(fields)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MomentAccumulator {
            function: self.function.clone(),
            params: self.params(&args)?,
            cell: Cell::<F::State>::default(),
        }))
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match self.function.sliding_accumulator() {
            Some(acc) => Ok(acc),
            None => self.accumulator(args),
        }
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MomentGroupsAccumulator {
            function: self.function.clone(),
            params: self.params(&args)?,
            cells: Vec::new(),
        }))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(self.function.documentation())
    }
}

/// Scalar and sliding-window accumulator of a moment function.
#[derive(Debug)]
pub(crate) struct MomentAccumulator<F: MomentFunction> {
    function: F,
    params: Vec<f64>,
    cell: Cell<F::State>,
}

impl<F: MomentFunction> Accumulator for MomentAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let cols = float_columns(values, F::ARITY)?;
        if let Some(slices) = dense_values(&cols) {
            match slices.as_slice() {
                [x] => {
                    update_lanes(&mut self.cell, &self.function, [x]);
                    return Ok(());
                }
                [x, y] => {
                    update_lanes(&mut self.cell, &self.function, [x, y]);
                    return Ok(());
                }
                _ => {}
            }
        }
        for_each_row(&cols, None, |_, row| self.cell.update(&self.function, row));
        Ok(())
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if !F::State::RETRACTABLE {
            return exec_err!("{} cannot retract values", self.function.name());
        }
        let cols = float_columns(values, F::ARITY)?;
        for_each_row(&cols, None, |_, row| self.cell.retract(&self.function, row));
        Ok(())
    }
    fn supports_retract_batch(&self) -> bool {
        F::State::RETRACTABLE
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for_each_state_row::<F::State>(states, |_, c| self.cell.merge(&c));
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut buf = vec![0.0; Cell::<F::State>::width()];
        self.cell.write(&mut buf);
        Ok(buf
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(
            self.cell.evaluate(&self.function, &self.params),
        ))
    }
    fn size(&self) -> usize {
        size_of_val(self) + self.params.capacity() * size_of::<f64>()
    }
}

/// The values of Float64 columns none of which has a NULL (the hot paths' input).
fn dense_values(cols: &[ArrayRef]) -> Option<Vec<&[f64]>> {
    cols.iter()
        .map(|c| {
            let c = c.as_primitive::<Float64Type>();
            (c.null_count() == 0).then(|| c.values().as_ref())
        })
        .collect()
}

/// Independent cells [`update_lanes`] spreads a batch over.
const LANES: usize = 4;

/// The hot path of [`MomentAccumulator::update_batch`] (no NULL, one group): the rows go
/// round-robin to [`LANES`] cells, merged into `cell` at the end of the batch. Each
/// update divides by its count and the next update of the same cell waits for it; with
/// four cells, four such chains run side by side.
fn update_lanes<F: MomentFunction, const N: usize>(
    cell: &mut Cell<F::State>,
    function: &F,
    cols: [&[f64]; N],
) {
    let len = cols.iter().map(|c| c.len()).min().unwrap_or(0);
    let mut lanes = [Cell::<F::State>::default(); LANES];
    let whole = len - len % LANES;
    for base in (0..whole).step_by(LANES) {
        for (l, lane) in lanes.iter_mut().enumerate() {
            let row: [f64; N] = std::array::from_fn(|k| cols[k][base + l]);
            lane.update(function, &row);
        }
    }
    (whole..len).for_each(|i| {
        let row: [f64; N] = std::array::from_fn(|k| cols[k][i]);
        lanes[0].update(function, &row);
    });
    for lane in &lanes {
        cell.merge(lane);
    }
}

/// A batch without filter or NULL: [`update_grouped_lanes`] for a few groups,
/// [`update_dense`] for many.
#[inline(always)]
fn update_rows<F: MomentFunction, const N: usize>(
    cells: &mut [Cell<F::State>],
    function: &F,
    cols: [&[f64]; N],
    group_indices: &[usize],
) {
    if cells.len() <= LANE_GROUPS {
        update_grouped_lanes(cells, function, cols, group_indices);
    } else {
        update_dense(cells, function, cols, group_indices);
    }
}

/// Groups up to which [`update_grouped_lanes`] takes a batch: a few frameworks, models
/// or GPUs, whose cells stay in cache, so the divisions are the cost, not the misses.
const LANE_GROUPS: usize = 64;

/// The hot path of [`MomentGroupsAccumulator::update_batch`] for a few groups (no filter,
/// no NULL): [`update_lanes`] per group. Row `i` goes to lane `i % LANES` of its group,
/// and the lanes are merged into the groups' cells at the end of the batch. A log sorted
/// by run has long stretches of one group, which were one chain of dependent divisions;
/// now they are four chains side by side.
fn update_grouped_lanes<F: MomentFunction, const N: usize>(
    cells: &mut [Cell<F::State>],
    function: &F,
    cols: [&[f64]; N],
    group_indices: &[usize],
) {
    // The rows every column has: the loop's indexing then needs no bounds checks.
    let len = group_indices
        .len()
        .min(cols.iter().map(|c| c.len()).min().unwrap_or(0));
    let mut lanes = vec![Cell::<F::State>::default(); cells.len() * LANES];
    for (i, &group) in group_indices[..len].iter().enumerate() {
        let row: [f64; N] = std::array::from_fn(|k| cols[k][i]);
        lanes[group * LANES + i % LANES].update(function, &row);
    }
    for (cell, lanes) in cells.iter_mut().zip(lanes.chunks_exact(LANES)) {
        for lane in lanes {
            cell.merge(lane);
        }
    }
}

/// How many rows ahead [`update_dense`] prefetches a group's cell.
const PREFETCH_AHEAD: usize = 16;

/// The hot path of [`MomentGroupsAccumulator::update_batch`]: no filter, no NULL, and the
/// row width known at compile time, so the row, the NaN check and the state update are
/// straight-line code. With many groups each row's cell is a cache miss; the cell of the
/// row `PREFETCH_AHEAD` rows on is requested early so the misses overlap.
#[inline(never)]
fn update_dense<F: MomentFunction, const N: usize>(
    cells: &mut [Cell<F::State>],
    function: &F,
    cols: [&[f64]; N],
    group_indices: &[usize],
) {
    // The rows every column has: the loop's indexing then needs no bounds checks.
    let len = group_indices
        .len()
        .min(cols.iter().map(|c| c.len()).min().unwrap_or(0));
    for i in 0..len {
        if let Some(&ahead) = group_indices.get(i + PREFETCH_AHEAD) {
            prefetch(cells.as_ptr().wrapping_add(ahead));
        }
        let row: [f64; N] = std::array::from_fn(|k| cols[k][i]);
        cells[group_indices[i]].update(function, &row);
    }
}

/// Asks the CPU to load the cache lines of `*p` (a hint: no effect on results, and no
/// access is made if the address is not mapped).
#[inline(always)]
#[allow(unsafe_code)] // the one intrinsic call below; see its SAFETY note
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let first = p.cast::<i8>();
        let last = first.wrapping_add(size_of::<T>() - 1);
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch never dereferences:
        // any address, mapped or not, is allowed.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(first);
            _mm_prefetch::<_MM_HINT_T0>(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Vectorised GROUP BY accumulator of a moment function: one `Cell` per group.
#[derive(Debug)]
pub(crate) struct MomentGroupsAccumulator<F: MomentFunction> {
    function: F,
    params: Vec<f64>,
    cells: Vec<Cell<F::State>>,
}

impl<F: MomentFunction> GroupsAccumulator for MomentGroupsAccumulator<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.cells.resize(total_num_groups, Cell::default());
        let cols = float_columns(values, F::ARITY)?;
        let (cells, function) = (&mut self.cells, &self.function);
        if let Some(slices) = dense_values(&cols).filter(|_| opt_filter.is_none()) {
            match slices.as_slice() {
                [x] => {
                    update_rows(cells, function, [x], group_indices);
                    return Ok(());
                }
                [x, y] => {
                    update_rows(cells, function, [x, y], group_indices);
                    return Ok(());
                }
                _ => {}
            }
        }
        for_each_row(&cols, opt_filter, |i, row| {
            cells[group_indices[i]].update(function, row)
        });
        Ok(())
    }
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.cells.resize(total_num_groups, Cell::default());
        let cells = &mut self.cells;
        for_each_state_row::<F::State>(values, |i, c| cells[group_indices[i]].merge(&c));
        Ok(())
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let cells = emit_to.take_needed(&mut self.cells);
        let result: Float64Array = cells
            .iter()
            .map(|c| c.evaluate(&self.function, &self.params))
            .collect();
        Ok(Arc::new(result))
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let cells = emit_to.take_needed(&mut self.cells);
        Ok(cells_to_state(&cells))
    }
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let cols = float_columns(values, F::ARITY)?;
        let len = cols.first().map_or(0, |c| c.len());
        let mut cells = vec![Cell::<F::State>::default(); len];
        for_each_row(&cols, opt_filter, |i, row| {
            cells[i].update(&self.function, row)
        });
        Ok(cells_to_state(&cells))
    }
    fn size(&self) -> usize {
        self.cells.capacity() * size_of::<Cell<F::State>>() + size_of_val(self)
    }
}

// ---------------------------------------------------------------------------------------
// Buffering functions
// ---------------------------------------------------------------------------------------

/// The definition of one value-buffering SQL function.
pub(crate) trait BufferFunction:
    Debug + Clone + PartialEq + Eq + Hash + Send + Sync + 'static
{
    /// Number of data arguments read per row.
    const ARITY: usize;
    /// Number of values stored per row (1 or 2).
    const WIDTH: usize;
    /// Fewer rows than this (after NULL removal, NaN rows included) gives NULL.
    fn min_rows(&self) -> usize;
    fn name(&self) -> &'static str;
    fn documentation(&self) -> &'static Documentation;
    fn signature(&self) -> Signature;
    fn return_type(&self) -> DataType {
        DataType::Float64
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }
    fn params(&self, _lits: &[ScalarValue]) -> Result<Vec<f64>> {
        Ok(vec![])
    }
    /// Maps a NULL-free, NaN-free row to the stored values.
    fn input(row: &[f64], out: &mut [f64; 2]) {
        out[..Self::WIDTH].copy_from_slice(&row[..Self::WIDTH]);
    }
    /// The result from NaN-free buffered values (at least `min_rows`); may reorder them.
    fn evaluate(&self, columns: &mut [Vec<f64>; 2], params: &[f64]) -> ScalarValue;
    /// The result when the values include NaN.
    fn nan_result(&self, _params: &[f64]) -> ScalarValue {
        ScalarValue::Float64(Some(f64::NAN))
    }
    /// The result when too few rows remain.
    fn null_result(&self) -> Result<ScalarValue> {
        ScalarValue::try_from(&self.return_type())
    }
    /// Sliding-frame support: the result from sorted NaN-free values, for functions of a
    /// single column's order statistics (the quantile family). `None` refuses sliding
    /// frames.
    fn evaluate_sorted(&self, _sorted: &[f64], _params: &[f64]) -> Option<ScalarValue> {
        None
    }
}

/// Buffered values of one group.
#[derive(Debug, Clone, Default)]
struct Buffer {
    columns: [Vec<f64>; 2],
    nans: u64,
}

impl Buffer {
    #[inline]
    fn push<F: BufferFunction>(&mut self, row: &[f64]) {
        if row.iter().any(|v| v.is_nan()) {
            self.nans += 1;
            return;
        }
        let mut out = [0.0; 2];
        F::input(row, &mut out);
        for (col, v) in self.columns.iter_mut().zip(out).take(F::WIDTH) {
            col.push(v);
        }
    }

    fn len(&self) -> usize {
        self.columns[0].len()
    }

    fn bytes(&self) -> usize {
        (self.columns[0].capacity() + self.columns[1].capacity()) * size_of::<f64>()
    }

    fn evaluate<F: BufferFunction>(&mut self, f: &F, params: &[f64]) -> Result<ScalarValue> {
        if self.len() + (self.nans as usize) < f.min_rows() {
            return f.null_result();
        }
        if self.nans > 0 {
            return Ok(f.nan_result(params));
        }
        Ok(f.evaluate(&mut self.columns, params))
    }

    fn merge_from(
        &mut self,
        blobs: &[&BinaryViewArray],
        nans: &UInt64Array,
        i: usize,
    ) -> Result<()> {
        for (col, blob) in self.columns.iter_mut().zip(blobs) {
            if blob.is_valid(i) {
                let bytes = blob.value(i);
                if bytes.len() % size_of::<f64>() != 0 {
                    return exec_err!(
                        "a buffered state of {} bytes is not f64 values",
                        bytes.len()
                    );
                }
                col.extend(
                    bytes
                        .chunks_exact(size_of::<f64>())
                        .map(|c| f64::from_ne_bytes(c.try_into().expect("8 bytes"))),
                );
            }
        }
        self.nans += nans.value(i);
        Ok(())
    }
}

/// Groups buffering at least this many values hand their memory to the state as it is;
/// smaller ones are copied side by side into one shared block.
const OWN_BLOCK: usize = 1024;

/// The state of buffering accumulators: per buffered column, one binary view per group
/// holding its values' bytes (native order; the state never leaves the process but
/// through DataFusion's spill files), then the NaN counts.
///
/// Views, not lists: the partial aggregation's state goes through a repartition `take`
/// and a coalescer's concatenation, which copy a list's values but only a view's 16
/// bytes. A large group's vector becomes its block without a copy.
fn buffers_to_state(mut buffers: Vec<Buffer>, width: usize) -> Result<Vec<ArrayRef>> {
    let mut out: Vec<ArrayRef> = Vec::with_capacity(width + 1);
    for k in 0..width {
        let mut views = Vec::with_capacity(buffers.len());
        // Block 0 is the shared block of the small groups.
        let mut shared: Vec<u8> = Vec::new();
        let mut blocks = vec![arrow::buffer::Buffer::from_vec(Vec::<u8>::new())];
        for b in buffers.iter_mut() {
            let values = std::mem::take(&mut b.columns[k]);
            let bytes = values.len() * size_of::<f64>();
            if u32::try_from(bytes).is_err() {
                return exec_err!(
                    "a group buffers {} values, more than a state holds",
                    values.len()
                );
            }
            if values.len() >= OWN_BLOCK || shared.len() + bytes > u32::MAX as usize {
                let block = arrow::buffer::Buffer::from_vec(values);
                views.push(make_view(block.as_slice(), blocks.len() as u32, 0));
                blocks.push(block);
            } else {
                let offset = shared.len() as u32;
                shared.extend(values.iter().flat_map(|v| v.to_ne_bytes()));
                views.push(make_view(
                    &shared[offset as usize..offset as usize + bytes],
                    0,
                    offset,
                ));
            }
        }
        blocks[0] = arrow::buffer::Buffer::from_vec(shared);
        out.push(Arc::new(BinaryViewArray::try_new(
            ScalarBuffer::from(views),
            blocks,
            None,
        )?));
    }
    out.push(Arc::new(UInt64Array::from_iter_values(
        buffers.iter().map(|b| b.nans),
    )));
    Ok(out)
}

fn state_blobs(states: &[ArrayRef], width: usize) -> Result<(Vec<&BinaryViewArray>, &UInt64Array)> {
    let blobs = states[..width]
        .iter()
        .map(|a| a.as_binary_view_opt())
        .collect::<Option<Vec<_>>>();
    let nans = states
        .get(width)
        .and_then(|a| a.as_primitive_opt::<UInt64Type>());
    match (blobs, nans) {
        (Some(blobs), Some(nans)) => Ok((blobs, nans)),
        _ => exec_err!("a buffering aggregate's state is not binary views and NaN counts"),
    }
}

/// The DataFusion UDAF for a [`BufferFunction`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct BufferUdaf<F: BufferFunction> {
    function: F,
    signature: Signature,
}

impl<F: BufferFunction> BufferUdaf<F> {
    pub(crate) fn new(function: F) -> Self {
        let signature = function.signature();
        Self {
            function,
            signature,
        }
    }

    fn params(&self, args: &AccumulatorArgs) -> Result<Vec<f64>> {
        let lits = literal_params(self.function.name(), args, F::ARITY)?;
        self.function.params(&lits)
    }
}

impl<F: BufferFunction> AggregateUDFImpl for BufferUdaf<F> {
    fn name(&self) -> &str {
        self.function.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.function.coerce_types(arg_types)
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.function.return_type())
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::BinaryView;
        let mut fields: Vec<FieldRef> = (0..F::WIDTH)
            .map(|k| {
                Arc::new(Field::new(
                    format_state_name(args.name, &format!("values{k}")),
                    list.clone(),
                    true,
                ))
            })
            .collect();
        fields.push(Arc::new(Field::new(
            format_state_name(args.name, "nans"),
            DataType::UInt64,
            true,
        )));
        Ok(fields)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(BufferAccumulator {
            function: self.function.clone(),
            params: self.params(&args)?,
            buffer: Buffer::default(),
        }))
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let params = self.params(&args)?;
        if F::WIDTH == 1 && self.function.evaluate_sorted(&[0.0], &params).is_some() {
            Ok(Box::new(SortedAccumulator {
                function: self.function.clone(),
                params,
                sorted: Vec::new(),
                nans: 0,
            }))
        } else {
            self.accumulator(args)
        }
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(BufferGroupsAccumulator {
            function: self.function.clone(),
            params: self.params(&args)?,
            buffers: Vec::new(),
            bytes: 0,
        }))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(self.function.documentation())
    }
}

/// Scalar accumulator of a buffering function (no retraction).
#[derive(Debug)]
struct BufferAccumulator<F: BufferFunction> {
    function: F,
    params: Vec<f64>,
    buffer: Buffer,
}

impl<F: BufferFunction> Accumulator for BufferAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let cols = float_columns(values, F::ARITY)?;
        for_each_row(&cols, None, |_, row| self.buffer.push::<F>(row));
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (lists, nans) = state_blobs(states, F::WIDTH)?;
        for i in 0..nans.len() {
            self.buffer.merge_from(&lists, nans, i)?;
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let arrays = buffers_to_state(vec![self.buffer.clone()], F::WIDTH)?;
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        // Evaluate on a copy: window frames that only grow evaluate repeatedly.
        let mut copy = self.buffer.clone();
        copy.evaluate(&self.function, &self.params)
    }
    fn size(&self) -> usize {
        size_of_val(self) + self.buffer.bytes()
    }
}

/// Sliding-frame accumulator for order-statistic functions: a sorted buffer with
/// O(log n) search and O(n) memmove per row, O(1) evaluation.
#[derive(Debug)]
struct SortedAccumulator<F: BufferFunction> {
    function: F,
    params: Vec<f64>,
    sorted: Vec<f64>,
    nans: u64,
}

impl<F: BufferFunction> Accumulator for SortedAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let cols = float_columns(values, F::ARITY)?;
        for_each_row(&cols, None, |_, row| {
            let v = row[0];
            if v.is_nan() {
                self.nans += 1;
            } else {
                let at = self.sorted.partition_point(|x| x.total_cmp(&v).is_lt());
                self.sorted.insert(at, v);
            }
        });
        Ok(())
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let cols = float_columns(values, F::ARITY)?;
        let mut missing = false;
        for_each_row(&cols, None, |_, row| {
            let v = row[0];
            if v.is_nan() {
                self.nans = self.nans.saturating_sub(1);
            } else {
                match self.sorted.binary_search_by(|x| x.total_cmp(&v)) {
                    Ok(at) => {
                        self.sorted.remove(at);
                    }
                    Err(_) => missing = true,
                }
            }
        });
        if missing {
            return exec_err!(
                "{}: retracted a value that was never added",
                self.function.name()
            );
        }
        Ok(())
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (lists, nans) = state_blobs(states, 1)?;
        let mut buffer = Buffer::default();
        for i in 0..nans.len() {
            buffer.merge_from(&lists, nans, i)?;
        }
        self.sorted.extend_from_slice(&buffer.columns[0]);
        self.sorted.sort_unstable_by(f64::total_cmp);
        self.nans += buffer.nans;
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let buffer = Buffer {
            columns: [self.sorted.clone(), Vec::new()],
            nans: self.nans,
        };
        let arrays = buffers_to_state(vec![buffer], 1)?;
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.sorted.len() + (self.nans as usize) < self.function.min_rows() {
            return self.function.null_result();
        }
        if self.nans > 0 {
            return Ok(self.function.nan_result(&self.params));
        }
        match self.function.evaluate_sorted(&self.sorted, &self.params) {
            Some(v) => Ok(v),
            None => exec_err!("{} does not support sliding frames", self.function.name()),
        }
    }
    fn size(&self) -> usize {
        size_of_val(self) + self.sorted.capacity() * size_of::<f64>()
    }
}

/// GROUP BY accumulator of a buffering function: one buffer per group, memory tracked
/// incrementally so `size()` stays O(1).
#[derive(Debug)]
struct BufferGroupsAccumulator<F: BufferFunction> {
    function: F,
    params: Vec<f64>,
    buffers: Vec<Buffer>,
    bytes: usize,
}

impl<F: BufferFunction> BufferGroupsAccumulator<F> {
    fn recount(&mut self) {
        self.bytes = self.buffers.iter().map(Buffer::bytes).sum();
    }
}

impl<F: BufferFunction> GroupsAccumulator for BufferGroupsAccumulator<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.buffers.resize(total_num_groups, Buffer::default());
        let cols = float_columns(values, F::ARITY)?;
        let buffers = &mut self.buffers;
        let mut bytes = self.bytes as isize;
        for_each_row(&cols, opt_filter, |i, row| {
            let b = &mut buffers[group_indices[i]];
            let before = b.bytes() as isize;
            b.push::<F>(row);
            bytes += b.bytes() as isize - before;
        });
        self.bytes = bytes.max(0) as usize;
        Ok(())
    }
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.buffers.resize(total_num_groups, Buffer::default());
        let (lists, nans) = state_blobs(values, F::WIDTH)?;
        for (i, &g) in group_indices.iter().enumerate() {
            self.buffers[g].merge_from(&lists, nans, i)?;
        }
        self.recount();
        Ok(())
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut buffers = emit_to.take_needed(&mut self.buffers);
        self.recount();
        let results = buffers
            .iter_mut()
            .map(|b| b.evaluate(&self.function, &self.params))
            .collect::<Result<Vec<_>>>()?;
        if results.is_empty() {
            return Ok(arrow::array::new_empty_array(&self.function.return_type()));
        }
        ScalarValue::iter_to_array(results)
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let buffers = emit_to.take_needed(&mut self.buffers);
        self.recount();
        buffers_to_state(buffers, F::WIDTH)
    }
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let cols = float_columns(values, F::ARITY)?;
        let len = cols.first().map_or(0, |c| c.len());
        let mut buffers = vec![Buffer::default(); len];
        for_each_row(&cols, opt_filter, |i, row| buffers[i].push::<F>(row));
        buffers_to_state(buffers, F::WIDTH)
    }
    fn size(&self) -> usize {
        size_of_val(self) + self.buffers.capacity() * size_of::<Buffer>() + self.bytes
    }
}
