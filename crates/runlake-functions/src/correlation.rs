//! Pearson correlation with its p-value and Fisher-z confidence interval, from stable
//! co-moments (`scipy.stats.pearsonr`). Unlike DataFusion 55's grouped `corr`, the state
//! is centred, so values around 1e9 (nanosecond timestamps) keep full precision.

use std::sync::LazyLock;

use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Documentation, Signature};

use crate::docs::{X, Y, doc, numeric, numeric_optional};
use crate::framework::{MomentFunction, MomentState, param_f64};
use crate::stats::{CoMoments, correlation_pvalue, pearson_confidence_interval};

impl MomentState for CoMoments {
    const FIELDS: &'static [&'static str] = &[
        "n", "shift_x", "shift_y", "mean_x", "mean_y", "m2_x", "m2_y", "c_xy",
    ];
    fn count(&self) -> f64 {
        self.n
    }
    #[inline]
    fn update(&mut self, v: &[f64]) {
        CoMoments::update(self, v[0], v[1]);
    }
    #[inline]
    fn retract(&mut self, v: &[f64]) {
        CoMoments::retract(self, v[0], v[1]);
    }
    fn merge(&mut self, other: &Self) {
        CoMoments::merge(self, other);
    }
    fn write(&self, out: &mut [f64]) {
        out.copy_from_slice(&[
            self.n,
            self.shift_x,
            self.shift_y,
            self.mean_x,
            self.mean_y,
            self.m2_x,
            self.m2_y,
            self.c_xy,
        ]);
    }
    fn read(v: &[f64]) -> Self {
        CoMoments {
            n: v[0],
            shift_x: v[1],
            shift_y: v[2],
            mean_x: v[3],
            mean_y: v[4],
            m2_x: v[5],
            m2_y: v[6],
            c_xy: v[7],
        }
    }
}

/// Which statistic of the Pearson family a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pearson {
    R,
    PValue,
    CiLower,
    CiUpper,
}

static PEARSON_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Pearson correlation coefficient r of the pairs where both values are non-NULL, \
         from numerically stable co-moments (as scipy.stats.pearsonr). NULL when fewer \
         than 2 pairs remain or either variance is 0; NaN if any value is NaN.",
        "pearson(x, y)",
        "SELECT framework, pearson(predicted_ms, actual_ms) FROM predictions GROUP BY framework;",
        &[X, Y],
    )
});
static PVALUE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Two-sided p-value of H0: r = 0 for the Pearson correlation (Student t with n-2 \
         degrees of freedom, as scipy.stats.pearsonr(x, y).pvalue). 1.0 when n = 2; NULL \
         when n < 2 or a variance is 0.",
        "pearson_pvalue(x, y)",
        "SELECT pearson(predicted_ms, actual_ms), pearson_pvalue(predicted_ms, actual_ms) FROM predictions;",
        &[X, Y],
    )
});
const LEVEL: (&str, &str) = (
    "level",
    "Optional constant confidence level in (0, 1); default 0.95.",
);
static CI_LOWER_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Lower bound of the Fisher-z confidence interval of the Pearson correlation (as \
         scipy.stats.pearsonr(x, y).confidence_interval(level).low). -1 when n <= 3; NULL \
         when n < 2 or a variance is 0.",
        "pearson_ci_lower(x, y[, level])",
        "SELECT pearson_ci_lower(predicted_ms, actual_ms, 0.99) FROM predictions;",
        &[X, Y, LEVEL],
    )
});
static CI_UPPER_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Upper bound of the Fisher-z confidence interval of the Pearson correlation (as \
         scipy.stats.pearsonr(x, y).confidence_interval(level).high). 1 when n <= 3; NULL \
         when n < 2 or a variance is 0.",
        "pearson_ci_upper(x, y[, level])",
        "SELECT pearson_ci_upper(predicted_ms, actual_ms) FROM predictions;",
        &[X, Y, LEVEL],
    )
});

impl MomentFunction for Pearson {
    type State = CoMoments;
    const ARITY: usize = 2;
    fn min_rows(&self) -> f64 {
        2.0
    }

    fn name(&self) -> &'static str {
        match self {
            Pearson::R => "pearson",
            Pearson::PValue => "pearson_pvalue",
            Pearson::CiLower => "pearson_ci_lower",
            Pearson::CiUpper => "pearson_ci_upper",
        }
    }
    fn documentation(&self) -> &'static Documentation {
        match self {
            Pearson::R => &PEARSON_DOC,
            Pearson::PValue => &PVALUE_DOC,
            Pearson::CiLower => &CI_LOWER_DOC,
            Pearson::CiUpper => &CI_UPPER_DOC,
        }
    }
    fn signature(&self) -> Signature {
        match self {
            Pearson::R | Pearson::PValue => numeric(&["x", "y"]),
            Pearson::CiLower | Pearson::CiUpper => numeric_optional(2, 1),
        }
    }
    fn params(&self, lits: &[ScalarValue]) -> Result<Vec<f64>> {
        let level = param_f64(self.name(), "the confidence level", lits, 0)?.unwrap_or(0.95);
        if !(level > 0.0 && level < 1.0) {
            return plan_err!(
                "{}: confidence level must be between 0 and 1 (exclusive), got {level}",
                self.name()
            );
        }
        Ok(vec![level])
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        out[0] = row[0];
        out[1] = row[1];
    }
    fn evaluate(&self, s: &CoMoments, params: &[f64]) -> Option<f64> {
        let r = s.pearson()?;
        match self {
            Pearson::R => Some(r),
            Pearson::PValue if s.n <= 2.0 => Some(1.0),
            Pearson::PValue => Some(correlation_pvalue(r, s.n)),
            Pearson::CiLower => Some(pearson_confidence_interval(r, s.n, params[0]).0),
            Pearson::CiUpper => Some(pearson_confidence_interval(r, s.n, params[0]).1),
        }
    }
}
