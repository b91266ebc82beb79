//! Statistics of each row's list (scheduler steps carry per-request lists such as
//! `chunk_sizes`): `list_mean`, `list_stddev`, `list_stddev_pop`. One pass over the list
//! column's offsets and values, no per-row arrays, so a step-duration report needs no
//! `unnest` and no GROUP BY over the list elements.
//!
//! Per row: a NULL list gives NULL; NULL elements are skipped; fewer elements than the
//! function needs (1, or 2 for the sample standard deviation) gives NULL; any NaN element
//! gives NaN. Means and deviations are two-pass (mean first, then squared deviations from
//! it), summed as numpy sums, so the results are numpy's `mean` and `std` to the last bit.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, OffsetSizeTrait};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::docs::doc;

/// Which statistic of a list a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ListStat {
    Mean,
    /// Sample standard deviation (`ddof = 1`).
    Stddev,
    /// Population standard deviation (`ddof = 0`).
    StddevPop,
}

/// The scalar UDF of one [`ListStat`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ListUdf {
    stat: ListStat,
    signature: Signature,
}

impl ListUdf {
    pub(crate) fn new(stat: ListStat) -> Self {
        Self {
            stat,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

static MEAN_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The mean of each row's list of numbers (NULL elements skipped; NULL for a NULL or \
         empty list; NaN when an element is NaN), as `numpy.mean` of the list.",
        "list_mean(list)",
        "SELECT step, list_mean(chunk_sizes) FROM steps",
        &[LIST],
    )
});
static STDDEV_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The sample standard deviation (ddof = 1) of each row's list of numbers (NULL \
         elements skipped; NULL for fewer than 2 elements; NaN when an element is NaN), as \
         `numpy.std(list, ddof=1)`.",
        "list_stddev(list)",
        "SELECT step, list_stddev(chunk_sizes) FROM steps",
        &[LIST],
    )
});
static STDDEV_POP_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The population standard deviation (ddof = 0) of each row's list of numbers (NULL \
         elements skipped; NULL for a NULL or empty list; NaN when an element is NaN), as \
         `numpy.std(list)`. How uneven a step's batch is: \
         `pearson(list_stddev_pop(chunk_sizes), model_run_duration_ms)`.",
        "list_stddev_pop(list)",
        "SELECT pearson(list_stddev_pop(chunk_sizes), model_run_duration_ms) FROM steps",
        &[LIST],
    )
});

const LIST: (&str, &str) = (
    "list",
    "A list of numbers (LIST, LARGE LIST or FIXED SIZE LIST of any numeric type).",
);

impl ScalarUDFImpl for ListUdf {
    fn name(&self) -> &str {
        match self.stat {
            ListStat::Mean => "list_mean",
            ListStat::Stddev => "list_stddev",
            ListStat::StddevPop => "list_stddev_pop",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::Null] => Ok(DataType::Float64),
            [DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)]
                if f.data_type().is_numeric() || f.data_type() == &DataType::Null =>
            {
                Ok(DataType::Float64)
            }
            [other] => plan_err!("{} takes a list of numbers, got {other}", self.name()),
            _ => plan_err!("{} takes one argument", self.name()),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let scalar = matches!(arg, ColumnarValue::Scalar(_));
        let array = arg.to_array(args.number_rows)?;
        let out = self.evaluate(&array)?;
        if scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.stat {
            ListStat::Mean => &MEAN_DOC,
            ListStat::Stddev => &STDDEV_DOC,
            ListStat::StddevPop => &STDDEV_POP_DOC,
        })
    }
}

impl ListUdf {
    fn evaluate(&self, array: &ArrayRef) -> Result<ArrayRef> {
        match array.data_type() {
            DataType::Null => Ok(Arc::new(Float64Array::new_null(array.len()))),
            DataType::List(_) => self.offsets_values(array.as_list::<i32>()),
            DataType::LargeList(_) => self.offsets_values(array.as_list::<i64>()),
            DataType::FixedSizeList(f, _) => {
                let to = DataType::List(Arc::new(Field::new("item", f.data_type().clone(), true)));
                self.evaluate(&cast(array, &to)?)
            }
            other => exec_err!("{} takes a list of numbers, got {other}", self.name()),
        }
    }

    fn offsets_values<O: OffsetSizeTrait>(
        &self,
        list: &arrow::array::GenericListArray<O>,
    ) -> Result<ArrayRef> {
        let (values, offsets) = (list.values(), list.value_offsets());
        match values.data_type() {
            DataType::Float64 => {
                let v = values.as_primitive::<Float64Type>();
                Ok(self.rows(list.nulls(), offsets, v.nulls(), |i| v.values()[i]))
            }
            DataType::Int64 => {
                let v = values.as_primitive::<Int64Type>();
                Ok(self.rows(list.nulls(), offsets, v.nulls(), |i| v.values()[i] as f64))
            }
            DataType::Null => Ok(Arc::new(Float64Array::new_null(list.len()))),
            t if t.is_numeric() => {
                let floats = cast(values, &DataType::Float64)?;
                let v = floats.as_primitive::<Float64Type>();
                Ok(self.rows(list.nulls(), offsets, v.nulls(), |i| v.values()[i]))
            }
            other => exec_err!(
                "{} takes a list of numbers, got a list of {other}",
                self.name()
            ),
        }
    }

    /// Each row's statistic from the element values `get(i)` (`element_nulls` marks the
    /// NULL elements).
    fn rows<O: OffsetSizeTrait>(
        &self,
        nulls: Option<&NullBuffer>,
        offsets: &[O],
        element_nulls: Option<&NullBuffer>,
        get: impl Fn(usize) -> f64,
    ) -> ArrayRef {
        let rows = offsets.len().saturating_sub(1);
        let mut out = vec![0.0; rows];
        let mut valid = vec![false; rows];
        let element_nulls = element_nulls.filter(|n| n.null_count() > 0);
        let mut kept = Vec::new();
        for (row, w) in offsets.windows(2).enumerate() {
            if nulls.is_some_and(|b| b.is_null(row)) {
                continue;
            }
            let (start, end) = (w[0].as_usize(), w[1].as_usize());
            let stat = match element_nulls {
                // Lists without NULL elements (the common case): straight from the values.
                None => self.stat_of(end - start, &|i| get(start + i)),
                Some(element_nulls) => {
                    kept.clear();
                    kept.extend(
                        (start..end)
                            .filter(|&i| element_nulls.is_valid(i))
                            .map(&get),
                    );
                    self.stat_of(kept.len(), &|i| kept[i])
                }
            };
            if let Some(stat) = stat {
                (out[row], valid[row]) = (stat, true);
            }
        }
        Arc::new(Float64Array::new(out.into(), Some(NullBuffer::from(valid))))
    }

    /// The statistic of the `n` values `x(0..n)`, or `None` when there are too few.
    fn stat_of(&self, n: usize, x: &impl Fn(usize) -> f64) -> Option<f64> {
        // Short lists (the common case) by a body per length: straight-line code and one
        // jump per list, where the loops of `pairwise_sum` would each end in a branch the
        // CPU mispredicts as the lengths vary.
        macro_rules! by_length {
            ($($k:literal)*) => {
                match n {
                    $($k => self.stat_n($k, x),)*
                    _ => self.stat_n(n, x),
                }
            };
        }
        by_length!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    /// [`Self::stat_of`]: the mean, then the squared deviations from it, each summed as
    /// numpy sums.
    #[inline(always)]
    fn stat_n(&self, n: usize, x: &impl Fn(usize) -> f64) -> Option<f64> {
        let (min, ddof) = match self.stat {
            ListStat::Mean | ListStat::StddevPop => (1, 0),
            ListStat::Stddev => (2, 1),
        };
        if n < min {
            return None;
        }
        let mean = pairwise_sum(0, n, x) / n as f64;
        if self.stat == ListStat::Mean {
            return Some(mean);
        }
        let squares = |i| {
            let d = x(i) - mean;
            d * d
        };
        Some((pairwise_sum(0, n, &squares) / (n - ddof) as f64).sqrt())
    }
}

/// The sum of `x(start..start + n)` by numpy's pairwise summation (`pairwise_sum` of its
/// add loops): one after another below 8 values, in 8 interleaved partial sums up to 128,
/// halved above. So `list_mean` and `list_stddev*` are numpy's `mean` and `std` to the last
/// bit, and a long list keeps 8 sums in flight instead of one chain of additions.
#[inline(always)]
fn pairwise_sum(start: usize, n: usize, x: &impl Fn(usize) -> f64) -> f64 {
    if n < 8 {
        // numpy starts from -0.0, so a list of -0.0 sums to -0.0.
        let mut sum = -0.0;
        for i in start..start + n {
            sum += x(i);
        }
        sum
    } else if n <= 128 {
        let mut r = [0.0; 8];
        for (j, r) in r.iter_mut().enumerate() {
            *r = x(start + j);
        }
        let whole = n - n % 8;
        for block in (8..whole).step_by(8) {
            for (j, r) in r.iter_mut().enumerate() {
                *r += x(start + block + j);
            }
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for i in start + whole..start + n {
            sum += x(i);
        }
        sum
    } else {
        pairwise_halves(start, n, x)
    }
}

/// [`pairwise_sum`] of more than 128 values: the two halves (the first a multiple of 8).
#[inline(never)]
fn pairwise_halves(start: usize, n: usize, x: &impl Fn(usize) -> f64) -> f64 {
    let half = n / 2;
    let half = half - half % 8;
    pairwise_sum(start, half, x) + pairwise_sum(start + half, n - half, x)
}
