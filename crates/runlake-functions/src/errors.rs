//! Prediction error metrics with scikit-learn's argument order `(actual, predicted)`:
//! `r2_score`, `mae`, `mse`, `rmse`, `mean_error`, `max_error`, `mape`, `smape`, `wape`.
//! Sums are Neumaier-compensated, so biases that nearly cancel keep their precision.

use std::collections::VecDeque;
use std::sync::LazyLock;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::Float64Type;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, Documentation, Signature};

use crate::docs::{ACTUAL, PREDICTED, doc, numeric};
use crate::framework::{MomentFunction, MomentState};
use crate::stats::{KahanSum, Moments2};

/// Row count and a compensated sum of one per-row term.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MeanSum {
    pub(crate) n: f64,
    pub(crate) sum: KahanSum,
}

impl MomentState for MeanSum {
    const FIELDS: &'static [&'static str] = &["n", "sum", "sum_compensation"];
    fn count(&self) -> f64 {
        self.n
    }
    #[inline]
    fn update(&mut self, v: &[f64]) {
        self.n += 1.0;
        self.sum.add(v[0]);
    }
    #[inline]
    fn retract(&mut self, v: &[f64]) {
        self.n -= 1.0;
        self.sum.add(-v[0]);
        if self.n == 0.0 {
            self.sum = KahanSum::default();
        }
    }
    fn merge(&mut self, o: &Self) {
        self.n += o.n;
        self.sum.merge(&o.sum);
    }
    fn write(&self, out: &mut [f64]) {
        out.copy_from_slice(&[self.n, self.sum.sum, self.sum.compensation]);
    }
    fn read(v: &[f64]) -> Self {
        MeanSum {
            n: v[0],
            sum: KahanSum {
                sum: v[1],
                compensation: v[2],
            },
        }
    }
}

/// Row count and compensated sums of a numerator and a denominator term (`wape`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RatioSum {
    n: f64,
    num: KahanSum,
    den: KahanSum,
}

impl MomentState for RatioSum {
    const FIELDS: &'static [&'static str] =
        &["n", "num", "num_compensation", "den", "den_compensation"];
    fn count(&self) -> f64 {
        self.n
    }
    #[inline]
    fn update(&mut self, v: &[f64]) {
        self.n += 1.0;
        self.num.add(v[0]);
        self.den.add(v[1]);
    }
    #[inline]
    fn retract(&mut self, v: &[f64]) {
        self.n -= 1.0;
        self.num.add(-v[0]);
        self.den.add(-v[1]);
        if self.n == 0.0 {
            *self = Self::default();
        }
    }
    fn merge(&mut self, o: &Self) {
        self.n += o.n;
        self.num.merge(&o.num);
        self.den.merge(&o.den);
    }
    fn write(&self, out: &mut [f64]) {
        out.copy_from_slice(&[
            self.n,
            self.num.sum,
            self.num.compensation,
            self.den.sum,
            self.den.compensation,
        ]);
    }
    fn read(v: &[f64]) -> Self {
        RatioSum {
            n: v[0],
            num: KahanSum {
                sum: v[1],
                compensation: v[2],
            },
            den: KahanSum {
                sum: v[3],
                compensation: v[4],
            },
        }
    }
}

/// Moments of the actual values plus the residual sum of squares (`r2_score`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct R2State {
    actual: Moments2,
    ss_res: KahanSum,
}

impl MomentState for R2State {
    const FIELDS: &'static [&'static str] =
        &["n", "shift", "mean", "m2", "ss_res", "ss_res_compensation"];
    fn count(&self) -> f64 {
        self.actual.n
    }
    #[inline]
    fn update(&mut self, v: &[f64]) {
        self.actual.update(v[0]);
        self.ss_res.add(v[1]);
    }
    #[inline]
    fn retract(&mut self, v: &[f64]) {
        self.actual.retract(v[0]);
        self.ss_res.add(-v[1]);
        if self.actual.n == 0.0 {
            *self = Self::default();
        }
    }
    fn merge(&mut self, o: &Self) {
        self.actual.merge(&o.actual);
        self.ss_res.merge(&o.ss_res);
    }
    fn write(&self, out: &mut [f64]) {
        out.copy_from_slice(&[
            self.actual.n,
            self.actual.shift,
            self.actual.mean,
            self.actual.m2,
            self.ss_res.sum,
            self.ss_res.compensation,
        ]);
    }
    fn read(v: &[f64]) -> Self {
        R2State {
            actual: Moments2 {
                n: v[0],
                shift: v[1],
                mean: v[2],
                m2: v[3],
            },
            ss_res: KahanSum {
                sum: v[4],
                compensation: v[5],
            },
        }
    }
}

/// Row count and running maximum (`max_error`); sliding frames use [`SlidingMax`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MaxState {
    n: f64,
    max: f64,
}

impl MomentState for MaxState {
    const FIELDS: &'static [&'static str] = &["n", "max"];
    const RETRACTABLE: bool = false;
    fn count(&self) -> f64 {
        self.n
    }
    #[inline]
    fn update(&mut self, v: &[f64]) {
        self.max = if self.n == 0.0 {
            v[0]
        } else {
            self.max.max(v[0])
        };
        self.n += 1.0;
    }
    fn retract(&mut self, _v: &[f64]) {}
    fn merge(&mut self, o: &Self) {
        if o.n > 0.0 {
            self.max = if self.n == 0.0 {
                o.max
            } else {
                self.max.max(o.max)
            };
            self.n += o.n;
        }
    }
    fn write(&self, out: &mut [f64]) {
        out.copy_from_slice(&[self.n, self.max]);
    }
    fn read(v: &[f64]) -> Self {
        MaxState { n: v[0], max: v[1] }
    }
}

/// Mean-of-a-term error metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MeanError {
    Mae,
    Mse,
    Rmse,
    Bias,
    Mape,
    Smape,
}

macro_rules! static_doc {
    ($name:ident, $desc:expr, $syntax:expr, $example:expr, $args:expr) => {
        static $name: LazyLock<Documentation> =
            LazyLock::new(|| doc($desc, $syntax, $example, $args));
    };
}

static_doc!(
    MAE_DOC,
    "Mean absolute error mean(|actual - predicted|), as sklearn.metrics.mean_absolute_error. \
     NULL for no rows; NaN if any value is NaN.",
    "mae(actual, predicted)",
    "SELECT framework, mae(actual_ms, predicted_ms) FROM predictions GROUP BY framework;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    MSE_DOC,
    "Mean squared error mean((actual - predicted)^2), as sklearn.metrics.mean_squared_error.",
    "mse(actual, predicted)",
    "SELECT mse(actual_ms, predicted_ms) FROM predictions;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    RMSE_DOC,
    "Root mean squared error sqrt(mse), as sklearn.metrics.root_mean_squared_error.",
    "rmse(actual, predicted)",
    "SELECT rmse(actual_ms, predicted_ms) FROM predictions;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    MEAN_ERROR_DOC,
    "Mean signed error (bias) mean(predicted - actual): positive means the predictor \
     over-predicts.",
    "mean_error(actual, predicted)",
    "SELECT mean_error(actual_ms, predicted_ms) FROM predictions;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    MAPE_DOC,
    "Mean absolute percentage error mean(|actual - predicted| / |actual|) as a FRACTION \
     (0.1 = 10%). Rows with actual = 0 are skipped (sklearn would divide by machine \
     epsilon); NULL if no row is left.",
    "mape(actual, predicted)",
    "SELECT framework, mape(actual_ms, predicted_ms) FROM predictions GROUP BY framework;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    SMAPE_DOC,
    "Symmetric mean absolute percentage error mean(2 |actual - predicted| / (|actual| + \
     |predicted|)) as a fraction in [0, 2]; rows where both are 0 are skipped.",
    "smape(actual, predicted)",
    "SELECT smape(actual_ms, predicted_ms) FROM predictions;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    WAPE_DOC,
    "Weighted absolute percentage error sum(|actual - predicted|) / sum(|actual|) as a \
     fraction; robust to zero actuals. NULL when sum(|actual|) = 0.",
    "wape(actual, predicted)",
    "SELECT wape(actual_ms, predicted_ms) FROM predictions;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    R2_DOC,
    "Coefficient of determination of the predictions as given, 1 - SS_res / SS_tot (as \
     sklearn.metrics.r2_score; can be negative, unlike regr_r2 which is r^2). With a \
     constant actual: 1.0 if every prediction is exact, else 0.0. NULL for fewer than 2 rows.",
    "r2_score(actual, predicted)",
    "SELECT framework, r2_score(actual_ms, predicted_ms) FROM predictions GROUP BY framework;",
    &[ACTUAL, PREDICTED]
);
static_doc!(
    MAX_ERROR_DOC,
    "Largest absolute error max(|actual - predicted|), as sklearn.metrics.max_error.",
    "max_error(actual, predicted)",
    "SELECT max_error(actual_ms, predicted_ms) FROM predictions;",
    &[ACTUAL, PREDICTED]
);

impl MomentFunction for MeanError {
    type State = MeanSum;
    const ARITY: usize = 2;
    fn min_rows(&self) -> f64 {
        1.0
    }

    fn name(&self) -> &'static str {
        match self {
            MeanError::Mae => "mae",
            MeanError::Mse => "mse",
            MeanError::Rmse => "rmse",
            MeanError::Bias => "mean_error",
            MeanError::Mape => "mape",
            MeanError::Smape => "smape",
        }
    }
    fn documentation(&self) -> &'static Documentation {
        match self {
            MeanError::Mae => &MAE_DOC,
            MeanError::Mse => &MSE_DOC,
            MeanError::Rmse => &RMSE_DOC,
            MeanError::Bias => &MEAN_ERROR_DOC,
            MeanError::Mape => &MAPE_DOC,
            MeanError::Smape => &SMAPE_DOC,
        }
    }
    fn signature(&self) -> Signature {
        numeric(&["actual", "predicted"])
    }
    #[inline]
    fn keep(&self, row: &[f64]) -> bool {
        match self {
            MeanError::Mape => row[0] != 0.0,
            MeanError::Smape => !(row[0] == 0.0 && row[1] == 0.0),
            _ => true,
        }
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        let (a, p) = (row[0], row[1]);
        out[0] = match self {
            MeanError::Mae => (a - p).abs(),
            MeanError::Mse | MeanError::Rmse => (a - p) * (a - p),
            MeanError::Bias => p - a,
            MeanError::Mape => (a - p).abs() / a.abs(),
            MeanError::Smape => 2.0 * (a - p).abs() / (a.abs() + p.abs()),
        };
    }
    fn evaluate(&self, s: &MeanSum, _params: &[f64]) -> Option<f64> {
        let mean = s.sum.value() / s.n;
        Some(match self {
            MeanError::Rmse => mean.max(0.0).sqrt(),
            MeanError::Mae | MeanError::Mse | MeanError::Mape | MeanError::Smape => mean.max(0.0),
            MeanError::Bias => mean,
        })
    }
}

/// `wape(actual, predicted)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Wape;

impl MomentFunction for Wape {
    type State = RatioSum;
    const ARITY: usize = 2;
    fn min_rows(&self) -> f64 {
        1.0
    }
    fn name(&self) -> &'static str {
        "wape"
    }
    fn documentation(&self) -> &'static Documentation {
        &WAPE_DOC
    }
    fn signature(&self) -> Signature {
        numeric(&["actual", "predicted"])
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        out[0] = (row[0] - row[1]).abs();
        out[1] = row[0].abs();
    }
    fn evaluate(&self, s: &RatioSum, _params: &[f64]) -> Option<f64> {
        let den = s.den.value();
        (den > 0.0).then(|| s.num.value().max(0.0) / den)
    }
}

/// `r2_score(actual, predicted)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct R2Score;

impl MomentFunction for R2Score {
    type State = R2State;
    const ARITY: usize = 2;
    fn min_rows(&self) -> f64 {
        2.0
    }
    fn name(&self) -> &'static str {
        "r2_score"
    }
    fn documentation(&self) -> &'static Documentation {
        &R2_DOC
    }
    fn signature(&self) -> Signature {
        numeric(&["actual", "predicted"])
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        let residual = row[0] - row[1];
        out[0] = row[0];
        out[1] = residual * residual;
    }
    fn evaluate(&self, s: &R2State, _params: &[f64]) -> Option<f64> {
        let ss_res = s.ss_res.value().max(0.0);
        if s.actual.m2 == 0.0 {
            return Some(if ss_res == 0.0 { 1.0 } else { 0.0 });
        }
        Some(1.0 - ss_res / s.actual.m2)
    }
}

/// `max_error(actual, predicted)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MaxError;

impl MomentFunction for MaxError {
    type State = MaxState;
    const ARITY: usize = 2;
    fn min_rows(&self) -> f64 {
        1.0
    }
    fn name(&self) -> &'static str {
        "max_error"
    }
    fn documentation(&self) -> &'static Documentation {
        &MAX_ERROR_DOC
    }
    fn signature(&self) -> Signature {
        numeric(&["actual", "predicted"])
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        out[0] = (row[0] - row[1]).abs();
    }
    fn evaluate(&self, s: &MaxState, _params: &[f64]) -> Option<f64> {
        Some(s.max)
    }
    fn sliding_accumulator(&self) -> Option<Box<dyn Accumulator>> {
        Some(Box::new(SlidingMax::default()))
    }
}

/// Sliding-frame maximum of |actual - predicted|: a monotone deque, relying on frames
/// retracting rows in the order they were added.
#[derive(Debug, Default)]
struct SlidingMax {
    deque: VecDeque<f64>,
    rows: u64,
    nans: u64,
}

impl SlidingMax {
    fn rows<'a>(values: &'a [ArrayRef]) -> impl Iterator<Item = f64> + 'a {
        let a = values[0].as_primitive::<Float64Type>();
        let p = values[1].as_primitive::<Float64Type>();
        a.iter()
            .zip(p.iter())
            .filter_map(|(a, p)| Some((a? - p?).abs()))
    }
}

impl Accumulator for SlidingMax {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for e in Self::rows(values) {
            self.rows += 1;
            if e.is_nan() {
                self.nans += 1;
                continue;
            }
            while self.deque.back().is_some_and(|&b| b < e) {
                self.deque.pop_back();
            }
            self.deque.push_back(e);
        }
        Ok(())
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for e in Self::rows(values) {
            self.rows -= 1;
            if e.is_nan() {
                self.nans -= 1;
            } else if self.deque.front() == Some(&e) {
                self.deque.pop_front();
            }
        }
        Ok(())
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(if self.rows == 0 {
            None
        } else if self.nans > 0 {
            Some(f64::NAN)
        } else {
            self.deque.front().copied()
        }))
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let max = self.deque.front().copied().unwrap_or(0.0);
        Ok(vec![
            ScalarValue::Float64(Some((self.rows - self.nans) as f64)),
            ScalarValue::Float64(Some(max)),
            ScalarValue::Float64(Some(self.nans as f64)),
        ])
    }
    fn merge_batch(&mut self, _states: &[ArrayRef]) -> Result<()> {
        datafusion::common::exec_err!("max_error's sliding accumulator is not merged")
    }
    fn size(&self) -> usize {
        size_of_val(self) + self.deque.capacity() * size_of::<f64>()
    }
}
