//! Exact quantiles with linear interpolation between the closest ranks, in full double
//! precision (`numpy.quantile`'s default; DataFusion 55's `percentile_cont` truncates the
//! interpolation weight to 1e-6): `quantile`, `quantiles`, and `p50` .. `p999`. All
//! support sliding window frames (a rolling P99) through a sorted buffer.

use std::sync::{Arc, LazyLock};

use arrow::array::Array;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Documentation, Signature, TypeSignature, Volatility};

use crate::docs::{X, doc, numeric};
use crate::framework::{BufferFunction, check_probability, param_f64};
use crate::stats::{quantile_select, quantile_sorted, quantiles_sorting};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Quantile {
    /// `quantile(x, p)`
    One,
    /// `quantiles(x, [p1, ...])`
    Many,
    /// `p50` .. `p999`: the name and the level in thousandths.
    Fixed(&'static str, u32),
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

static QUANTILE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Exact quantile at probability p with linear interpolation between the closest \
         ranks, as numpy.quantile(x, p). NULL for no rows; NaN if any value is NaN (unlike \
         the built-in median, which sorts NaN last). Works over sliding window frames.",
        "quantile(x, p)",
        "SELECT framework, quantile(e2e_ms, 0.95) FROM requests GROUP BY framework;",
        &[X, ("p", "A constant probability in [0, 1], e.g. 0.95.")],
    )
});
static QUANTILES_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Several exact quantiles from one buffered pass, as a list in the order of the \
         probabilities (numpy.quantile(x, [p1, ...])).",
        "quantiles(x, [p1, p2, ...])",
        "SELECT quantiles(e2e_ms, [0.5, 0.9, 0.99]) FROM requests;",
        &[X, ("ps", "A constant list of probabilities in [0, 1].")],
    )
});

fn fixed_doc(name: &'static str) -> &'static Documentation {
    static DOCS: LazyLock<Vec<(&'static str, Documentation)>> = LazyLock::new(|| {
        [
            ("p50", "0.5"),
            ("p90", "0.9"),
            ("p95", "0.95"),
            ("p99", "0.99"),
            ("p999", "0.999"),
        ]
        .into_iter()
        .map(|(name, p)| {
            let d = doc(
                &format!(
                    "Exact quantile at {p}: shortcut for quantile(x, {p}) (numpy.quantile \
                         with linear interpolation). Works over sliding window frames."
                ),
                &format!("{name}(x)"),
                &format!("SELECT framework, {name}(ttft_ms) FROM requests GROUP BY framework;"),
                &[X],
            );
            (name, d)
        })
        .collect()
    });
    DOCS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| d)
        .expect("every fixed quantile has documentation")
}

impl BufferFunction for Quantile {
    const ARITY: usize = 1;
    const WIDTH: usize = 1;
    fn min_rows(&self) -> usize {
        1
    }
    fn name(&self) -> &'static str {
        match self {
            Quantile::One => "quantile",
            Quantile::Many => "quantiles",
            Quantile::Fixed(name, _) => name,
        }
    }
    fn documentation(&self) -> &'static Documentation {
        match self {
            Quantile::One => &QUANTILE_DOC,
            Quantile::Many => &QUANTILES_DOC,
            Quantile::Fixed(name, _) => fixed_doc(name),
        }
    }
    fn signature(&self) -> Signature {
        match self {
            Quantile::One => numeric(&["x", "p"]),
            Quantile::Many => Signature::new(TypeSignature::UserDefined, Volatility::Immutable),
            Quantile::Fixed(..) => numeric(&["x"]),
        }
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [x, ps] = arg_types else {
            return plan_err!(
                "quantiles takes 2 arguments (x, [p1, ...]), got {}",
                arg_types.len()
            );
        };
        if !(x.is_numeric() || x.is_null()) {
            return plan_err!("quantiles: x must be numeric, got {x}");
        }
        match ps {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
                if f.data_type().is_numeric() =>
            {
                Ok(vec![DataType::Float64, list_type()])
            }
            other => plan_err!(
                "quantiles: the probabilities must be a constant list such as [0.5, 0.99], got {other}"
            ),
        }
    }
    fn return_type(&self) -> DataType {
        match self {
            Quantile::Many => list_type(),
            _ => DataType::Float64,
        }
    }
    fn params(&self, lits: &[ScalarValue]) -> Result<Vec<f64>> {
        let name = self.name();
        match self {
            Quantile::One => {
                let Some(p) = param_f64(name, "the probability", lits, 0)? else {
                    return plan_err!("quantile takes 2 arguments (x, p)");
                };
                Ok(vec![check_probability(name, p)?])
            }
            Quantile::Fixed(_, thousandths) => Ok(vec![*thousandths as f64 / 1000.0]),
            Quantile::Many => {
                let Some(ScalarValue::List(list)) = lits.first() else {
                    return plan_err!("quantiles: the probabilities must be a constant list");
                };
                if list.is_null(0) {
                    return plan_err!("quantiles: the probability list must not be NULL");
                }
                let values = list.value(0);
                let mut ps = Vec::with_capacity(values.len());
                for i in 0..values.len() {
                    match ScalarValue::try_from_array(&values, i)?.cast_to(&DataType::Float64)? {
                        ScalarValue::Float64(Some(p)) => ps.push(check_probability(name, p)?),
                        _ => return plan_err!("quantiles: probabilities must not be NULL"),
                    }
                }
                if ps.is_empty() {
                    return plan_err!("quantiles: the probability list is empty");
                }
                Ok(ps)
            }
        }
    }
    fn evaluate(&self, columns: &mut [Vec<f64>; 2], params: &[f64]) -> ScalarValue {
        let values = &mut columns[0];
        match self {
            Quantile::Many => list_value(quantiles_sorting(values, params)),
            _ => ScalarValue::Float64(Some(quantile_select(values, params[0]))),
        }
    }
    fn evaluate_sorted(&self, sorted: &[f64], params: &[f64]) -> Option<ScalarValue> {
        Some(match self {
            Quantile::Many => {
                list_value(params.iter().map(|&p| quantile_sorted(sorted, p)).collect())
            }
            _ => ScalarValue::Float64(Some(quantile_sorted(sorted, params[0]))),
        })
    }
    fn nan_result(&self, params: &[f64]) -> ScalarValue {
        match self {
            Quantile::Many => list_value(vec![f64::NAN; params.len()]),
            _ => ScalarValue::Float64(Some(f64::NAN)),
        }
    }
}

fn list_value(values: Vec<f64>) -> ScalarValue {
    let scalars: Vec<ScalarValue> = values
        .into_iter()
        .map(|v| ScalarValue::Float64(Some(v)))
        .collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&scalars, &DataType::Float64))
}
