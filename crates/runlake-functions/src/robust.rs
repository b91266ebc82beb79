//! Robust statistics over buffered values: `medae` (median absolute error), `mad`
//! (median absolute deviation, unscaled), `iqr`, and `outlier_fraction` (Tukey fences).
//! Quartiles use numpy's linear interpolation.

use std::sync::LazyLock;

use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Documentation, Signature};

use crate::docs::{ACTUAL, PREDICTED, X, doc, numeric, numeric_optional};
use crate::framework::{BufferFunction, param_f64};
use crate::stats::{median_abs_deviation, quantile_select, quantiles_sorting};

static MEDAE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Median absolute error median(|actual - predicted|), as \
         sklearn.metrics.median_absolute_error. NULL for no rows; NaN if any value is NaN.",
        "medae(actual, predicted)",
        "SELECT framework, medae(actual_ms, predicted_ms) FROM predictions GROUP BY framework;",
        &[ACTUAL, PREDICTED],
    )
});
static MAD_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Median absolute deviation median(|x - median(x)|), unscaled, as \
         scipy.stats.median_abs_deviation (scale=1).",
        "mad(x)",
        "SELECT mad(model_run_duration_ms) FROM steps;",
        &[X],
    )
});
static IQR_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Interquartile range Q3 - Q1 with linear interpolation, as scipy.stats.iqr.",
        "iqr(x)",
        "SELECT iqr(model_run_duration_ms) FROM steps;",
        &[X],
    )
});
static OUTLIER_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Share of values outside the Tukey fences [Q1 - k IQR, Q3 + k IQR], in [0, 1]; k \
         defaults to 1.5. Quartiles use linear interpolation.",
        "outlier_fraction(x[, k])",
        "SELECT total_scheduled_tokens, outlier_fraction(model_run_duration_ms) FROM steps GROUP BY 1;",
        &[
            X,
            (
                "k",
                "Optional constant fence multiplier, >= 0; default 1.5.",
            ),
        ],
    )
});

/// `medae(actual, predicted)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Medae;

impl BufferFunction for Medae {
    const ARITY: usize = 2;
    const WIDTH: usize = 1;
    fn min_rows(&self) -> usize {
        1
    }
    fn name(&self) -> &'static str {
        "medae"
    }
    fn documentation(&self) -> &'static Documentation {
        &MEDAE_DOC
    }
    fn signature(&self) -> Signature {
        numeric(&["actual", "predicted"])
    }
    fn input(row: &[f64], out: &mut [f64; 2]) {
        out[0] = (row[0] - row[1]).abs();
    }
    fn evaluate(&self, columns: &mut [Vec<f64>; 2], _params: &[f64]) -> ScalarValue {
        ScalarValue::Float64(Some(quantile_select(&mut columns[0], 0.5)))
    }
}

/// Spread and outliers of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Robust {
    Mad,
    Iqr,
    OutlierFraction,
}

impl BufferFunction for Robust {
    const ARITY: usize = 1;
    const WIDTH: usize = 1;
    fn min_rows(&self) -> usize {
        1
    }
    fn name(&self) -> &'static str {
        match self {
            Robust::Mad => "mad",
            Robust::Iqr => "iqr",
            Robust::OutlierFraction => "outlier_fraction",
        }
    }
    fn documentation(&self) -> &'static Documentation {
        match self {
            Robust::Mad => &MAD_DOC,
            Robust::Iqr => &IQR_DOC,
            Robust::OutlierFraction => &OUTLIER_DOC,
        }
    }
    fn signature(&self) -> Signature {
        match self {
            Robust::OutlierFraction => numeric_optional(1, 1),
            _ => numeric(&["x"]),
        }
    }
    fn params(&self, lits: &[ScalarValue]) -> Result<Vec<f64>> {
        let k = param_f64(self.name(), "the fence multiplier k", lits, 0)?.unwrap_or(1.5);
        if !(k >= 0.0 && k.is_finite()) {
            return plan_err!("outlier_fraction: k must be a finite number >= 0, got {k}");
        }
        Ok(vec![k])
    }
    fn evaluate(&self, columns: &mut [Vec<f64>; 2], params: &[f64]) -> ScalarValue {
        let values = &mut columns[0];
        ScalarValue::Float64(Some(match self {
            Robust::Mad => median_abs_deviation(values),
            Robust::Iqr => {
                let q = quantiles_sorting(values, &[0.25, 0.75]);
                q[1] - q[0]
            }
            Robust::OutlierFraction => {
                let q = quantiles_sorting(values, &[0.25, 0.75]);
                let k = params[0];
                let (lo, hi) = (q[0] - k * (q[1] - q[0]), q[1] + k * (q[1] - q[0]));
                let outside = values.iter().filter(|&&v| v < lo || v > hi).count();
                outside as f64 / values.len() as f64
            }
        }))
    }
}
