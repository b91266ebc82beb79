//! Statistics of each row's list (scheduler steps carry per-request lists such as
//! `chunk_sizes`): `list_mean`, `list_stddev`, `list_stddev_pop`. One pass over the list
//! column's offsets and values, no per-row arrays, so a step-duration report needs no
//! `unnest` and no GROUP BY over the list elements.
//!
//! Per row: a NULL list gives NULL; NULL elements are skipped; fewer elements than the
//! function needs (1, or 2 for the sample standard deviation) gives NULL; any NaN element
//! gives NaN. Means and deviations are two-pass (mean first, then squared deviations from
//! it), as numpy's `mean` and `std`.

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
        let min = if self.stat == ListStat::Stddev { 2 } else { 1 };
        let element_nulls = element_nulls.filter(|n| n.null_count() > 0);
        if element_nulls.is_none() {
            self.dense_rows(nulls, offsets, get, &mut out, &mut valid);
            return Arc::new(Float64Array::new(out.into(), Some(NullBuffer::from(valid))));
        }
        let present = |i: usize| element_nulls.is_none_or(|n| n.is_valid(i));
        for row in 0..rows {
            if nulls.is_some_and(|n| n.is_null(row)) {
                continue;
            }
            let (start, end) = (offsets[row].as_usize(), offsets[row + 1].as_usize());
            // Pass 1: count and sum (NULL elements skipped).
            let (mut n, mut sum) = (0usize, 0.0);
            for i in (start..end).filter(|&i| present(i)) {
                n += 1;
                sum += get(i);
            }
            if n < min {
                continue;
            }
            let mean = sum / n as f64;
            valid[row] = true;
            if self.stat == ListStat::Mean {
                out[row] = mean;
                continue;
            }
            // Pass 2: squared deviations from the mean.
            let m2: f64 = (start..end)
                .filter(|&i| present(i))
                .map(|i| (get(i) - mean).powi(2))
                .sum();
            let ddof = if self.stat == ListStat::Stddev { 1 } else { 0 };
            out[row] = (m2 / (n - ddof) as f64).sqrt();
        }
        Arc::new(Float64Array::new(out.into(), Some(NullBuffer::from(valid))))
    }

    /// [`Self::rows`] for lists without NULL elements (the common case): the same two
    /// passes over each list's contiguous values, without a NULL test per element.
    fn dense_rows<O: OffsetSizeTrait>(
        &self,
        nulls: Option<&NullBuffer>,
        offsets: &[O],
        get: impl Fn(usize) -> f64,
        out: &mut [f64],
        valid: &mut [bool],
    ) {
        let min = if self.stat == ListStat::Stddev { 2 } else { 1 };
        let ddof = if self.stat == ListStat::Stddev { 1 } else { 0 };
        for (row, w) in offsets.windows(2).enumerate() {
            let (start, end) = (w[0].as_usize(), w[1].as_usize());
            let n = end - start;
            if n < min || nulls.is_some_and(|b| b.is_null(row)) {
                continue;
            }
            let sum: f64 = (start..end).map(&get).sum();
            let mean = sum / n as f64;
            valid[row] = true;
            out[row] = if self.stat == ListStat::Mean {
                mean
            } else {
                let m2: f64 = (start..end).map(|i| (get(i) - mean).powi(2)).sum();
                (m2 / (n - ddof) as f64).sqrt()
            };
        }
    }
}
