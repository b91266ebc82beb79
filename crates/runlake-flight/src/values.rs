//! Large values within the per-query memory limit.
//!
//! DataFusion reserves memory for what operators hold (sorts, joins, aggregations), not
//! for the arrays a scalar function returns: `repeat('x', 15000000)` over 100 rows makes
//! a 1.5 GB batch before anything can measure it. The few functions whose output is not
//! bounded by their input (a count argument says how large each value is) are wrapped
//! here: each call first works out, from its arguments alone, how many bytes it would
//! make, and a call over the limit fails with `RESOURCES_EXHAUSTED` before allocating.
//! Everything else about the function (its name, argument types, simplification and
//! documentation) is the built-in one's; it is marked volatile (see [`Bounded`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::compute::kernels::{cast::cast, length::length};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{ExprSchema, Result, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::udf_eq::UdfEq;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExpressionPlacement, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, StructFieldMapping, Volatility,
};
use datafusion::prelude::SessionContext;

/// How many bytes a call would make, from its arguments (`None`: cannot tell).
type Estimate = fn(&[ColumnarValue], usize) -> Result<Option<i128>>;

/// The functions whose values grow with an argument, and how to size their output.
const GROWING: &[(&str, Estimate)] = &[
    ("repeat", |args, rows| {
        // Bytes of the string times the count, per row.
        Ok(Some(product(
            &byte_lengths(&args[0], rows)?,
            &counts(&args[1], rows)?,
        )))
    }),
    ("lpad", padded),
    ("rpad", padded),
    ("array_repeat", |args, rows| {
        let width = i128::from(width(&args[0]));
        Ok(Some(
            counts(&args[1], rows)?.iter().map(|n| n * width).sum(),
        ))
    }),
    ("array_resize", |args, rows| {
        let width = i128::from(element_width(&args[0]));
        Ok(Some(
            counts(&args[1], rows)?.iter().map(|n| n * width).sum(),
        ))
    }),
    ("range", series),
    ("generate_series", series),
];

/// `lpad(s, n [, fill])`: `n` characters, at least a byte each.
fn padded(args: &[ColumnarValue], rows: usize) -> Result<Option<i128>> {
    Ok(Some(counts(&args[1], rows)?.iter().sum()))
}

/// `range(start, stop [, step])` of integers: one 8-byte value per step (dates and
/// timestamps with interval steps are not sized).
fn series(args: &[ColumnarValue], rows: usize) -> Result<Option<i128>> {
    if args.len() < 2 || args.iter().any(|a| !a.data_type().is_integer()) {
        return Ok(None);
    }
    let (start, stop) = (
        counts_signed(&args[0], rows)?,
        counts_signed(&args[1], rows)?,
    );
    let step = match args.get(2) {
        Some(step) => counts_signed(step, rows)?,
        None => vec![1; rows],
    };
    Ok(Some(
        start
            .iter()
            .zip(&stop)
            .zip(&step)
            .map(|((a, b), s)| ((b - a).abs() / s.abs().max(1) + 1) * 8)
            .sum(),
    ))
}

fn product(a: &[i128], b: &[i128]) -> i128 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One value per row, as `rows` integers (nulls 0): a scalar is not materialised.
fn counts_signed(value: &ColumnarValue, rows: usize) -> Result<Vec<i128>> {
    Ok(match value {
        ColumnarValue::Scalar(s) => {
            let n = match s.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(n)) => i128::from(n),
                _ => 0,
            };
            vec![n; rows]
        }
        ColumnarValue::Array(a) => int64s(&cast(a, &DataType::Int64)?),
    })
}

/// Like [`counts_signed`], negative counts as 0.
fn counts(value: &ColumnarValue, rows: usize) -> Result<Vec<i128>> {
    let mut n = counts_signed(value, rows)?;
    n.iter_mut().for_each(|v| *v = (*v).max(0));
    Ok(n)
}

fn int64s(array: &ArrayRef) -> Vec<i128> {
    let ints = array
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64 gives an Int64Array");
    (0..ints.len())
        .map(|i| {
            if ints.is_null(i) {
                0
            } else {
                i128::from(ints.value(i))
            }
        })
        .collect()
}

/// Bytes of each string (or binary) value.
fn byte_lengths(value: &ColumnarValue, rows: usize) -> Result<Vec<i128>> {
    Ok(match value {
        ColumnarValue::Scalar(s) => {
            let n = match s {
                ScalarValue::Utf8(Some(v))
                | ScalarValue::LargeUtf8(Some(v))
                | ScalarValue::Utf8View(Some(v)) => v.len(),
                ScalarValue::Binary(Some(v))
                | ScalarValue::LargeBinary(Some(v))
                | ScalarValue::BinaryView(Some(v)) => v.len(),
                _ => 0,
            };
            vec![n as i128; rows]
        }
        ColumnarValue::Array(a) => int64s(&cast(&length(a)?, &DataType::Int64)?),
    })
}

/// Bytes one value of `value` takes (at least 1).
fn width(value: &ColumnarValue) -> u64 {
    let bytes = match (value.data_type().primitive_width(), value) {
        (Some(w), _) => w,
        (None, ColumnarValue::Scalar(s)) => s.size(),
        (None, ColumnarValue::Array(a)) => a.get_array_memory_size() / a.len().max(1),
    };
    bytes.max(1) as u64
}

/// Bytes one element of a list value takes (at least 1).
fn element_width(list: &ColumnarValue) -> u64 {
    match list.data_type() {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f
            .data_type()
            .primitive_width()
            .map_or(8, |w| w as u64)
            .max(1),
        _ => 8,
    }
}

/// Replaces, in `ctx`, the functions whose values grow with an argument by ones that
/// refuse a call that would make more than `limit` bytes.
pub fn bound_growing_functions(ctx: &SessionContext, limit: usize) {
    for (growing, (name, _)) in GROWING.iter().enumerate() {
        if let Ok(inner) = ctx.udf(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Bounded::new(
                inner.inner().clone(),
                limit,
                growing,
            )));
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: UdfEq<Arc<dyn ScalarUDFImpl>>,
    /// The built-in signature, volatile: a call with constant arguments is then not
    /// folded into one value at planning, which the projection would copy into every row
    /// of a batch (8192 copies of a value just under the limit); it runs per batch,
    /// sized for the batch's rows.
    signature: Signature,
    limit: usize,
    /// Which of [`GROWING`] this is.
    growing: usize,
}

impl Bounded {
    fn new(inner: Arc<dyn ScalarUDFImpl>, limit: usize, growing: usize) -> Self {
        let mut signature = inner.signature().clone();
        signature.volatility = Volatility::Volatile;
        Self {
            inner: inner.into(),
            signature,
            limit,
            growing,
        }
    }
}

#[warn(clippy::missing_trait_methods)] // Delegates, so it implements every trait method.
impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        #[expect(deprecated)]
        self.inner.display_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.schema_name(args)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[expect(deprecated)]
        self.inner.is_nullable(args, schema)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(bytes) = (GROWING[self.growing].1)(&args.args, args.number_rows)?
            && bytes > self.limit as i128
        {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would make {bytes} bytes of values in one batch, more than the \
                 query's memory limit of {} bytes (--query-memory-limit)",
                self.name(),
                self.limit
            )));
        }
        self.inner.invoke_with_args(args)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let updated = self.inner.with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(Bounded::new(
            updated.inner().clone(),
            self.limit,
            self.growing,
        )))
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        self.inner.preimage(args, lit_expr, info)
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.conditional_arguments(args)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.inner.propagate_constraints(interval, inputs)
    }

    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<StructFieldMapping> {
        self.inner.struct_field_mapping(literal_args)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.strictly_order_preserving(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.inner.placement(args)
    }
}
