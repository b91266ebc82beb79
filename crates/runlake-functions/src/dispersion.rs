//! Dispersion and shape of one column from stable running moments: `cv`, `cv_pop`,
//! `sem` (Welford), `skewness` and `kurtosis` (Pébay's higher moments, bias-corrected as
//! pandas' `skew()` and `kurt()`).

use std::sync::LazyLock;

use datafusion::logical_expr::{Documentation, Signature};

use crate::docs::{X, doc, numeric};
use crate::framework::{MomentFunction, MomentState};
use crate::stats::{Moments2, Moments4};

impl MomentState for Moments2 {
    const FIELDS: &'static [&'static str] = &["n", "shift", "mean", "m2"];
    fn count(&self) -> f64 {
        self.n
    }
    #[inline]
    fn update(&mut self, v: &[f64]) {
        Moments2::update(self, v[0]);
    }
    #[inline]
    fn retract(&mut self, v: &[f64]) {
        Moments2::retract(self, v[0]);
    }
    fn merge(&mut self, o: &Self) {
        Moments2::merge(self, o);
    }
    fn write(&self, out: &mut [f64]) {
        out.copy_from_slice(&[self.n, self.shift, self.mean, self.m2]);
    }
    fn read(v: &[f64]) -> Self {
        Moments2 {
            n: v[0],
            shift: v[1],
            mean: v[2],
            m2: v[3],
        }
    }
}

impl MomentState for Moments4 {
    const FIELDS: &'static [&'static str] = &["n", "shift", "mean", "m2", "m3", "m4"];
    fn count(&self) -> f64 {
        self.n
    }
    #[inline]
    fn update(&mut self, v: &[f64]) {
        Moments4::update(self, v[0]);
    }
    #[inline]
    fn retract(&mut self, v: &[f64]) {
        Moments4::retract(self, v[0]);
    }
    fn merge(&mut self, o: &Self) {
        Moments4::merge(self, o);
    }
    fn write(&self, out: &mut [f64]) {
        out.copy_from_slice(&[self.n, self.shift, self.mean, self.m2, self.m3, self.m4]);
    }
    fn read(v: &[f64]) -> Self {
        Moments4 {
            n: v[0],
            shift: v[1],
            mean: v[2],
            m2: v[3],
            m3: v[4],
            m4: v[5],
        }
    }
}

/// Functions of the mean and variance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Spread {
    Cv,
    CvPop,
    Sem,
}

static CV_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Coefficient of variation stddev / mean with the sample standard deviation \
         (ddof 1), as pandas s.std() / s.mean(). 0.0 for a constant non-zero column; NULL \
         for fewer than 2 rows or a zero mean.",
        "cv(x)",
        "SELECT num_running_reqs, cv(model_run_duration_ms) FROM steps GROUP BY num_running_reqs;",
        &[X],
    )
});
static CV_POP_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Coefficient of variation with the population standard deviation (ddof 0), as \
         scipy.stats.variation. NULL for no rows or a zero mean.",
        "cv_pop(x)",
        "SELECT cv_pop(model_run_duration_ms) FROM steps;",
        &[X],
    )
});
static SEM_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Standard error of the mean stddev_samp / sqrt(n) (ddof 1), as scipy.stats.sem and \
         pandas .sem(). NULL for fewer than 2 rows.",
        "sem(x)",
        "SELECT avg(e2e_ms), sem(e2e_ms) FROM requests;",
        &[X],
    )
});
static SKEW_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Bias-corrected sample skewness G1, as pandas .skew() and \
         scipy.stats.skew(bias=False). NULL for fewer than 3 rows or zero variance.",
        "skewness(x)",
        "SELECT skewness(e2e_ms) FROM requests;",
        &[X],
    )
});
static KURT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Bias-corrected sample excess kurtosis G2, as pandas .kurt() and \
         scipy.stats.kurtosis(bias=False). NULL for fewer than 4 rows or zero variance.",
        "kurtosis(x)",
        "SELECT kurtosis(e2e_ms) FROM requests;",
        &[X],
    )
});

impl MomentFunction for Spread {
    type State = Moments2;
    const ARITY: usize = 1;
    fn min_rows(&self) -> f64 {
        match self {
            Spread::Cv | Spread::Sem => 2.0,
            Spread::CvPop => 1.0,
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Spread::Cv => "cv",
            Spread::CvPop => "cv_pop",
            Spread::Sem => "sem",
        }
    }
    fn documentation(&self) -> &'static Documentation {
        match self {
            Spread::Cv => &CV_DOC,
            Spread::CvPop => &CV_POP_DOC,
            Spread::Sem => &SEM_DOC,
        }
    }
    fn signature(&self) -> Signature {
        numeric(&["x"])
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        out[0] = row[0];
    }
    fn evaluate(&self, s: &Moments2, _params: &[f64]) -> Option<f64> {
        match self {
            Spread::Cv | Spread::CvPop if s.mean() == 0.0 => None,
            Spread::Cv => Some((s.m2 / (s.n - 1.0)).sqrt() / s.mean()),
            Spread::CvPop => Some((s.m2 / s.n).sqrt() / s.mean()),
            Spread::Sem => Some((s.m2 / (s.n - 1.0)).sqrt() / s.n.sqrt()),
        }
    }
}

/// Third and fourth standardised moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    Skewness,
    Kurtosis,
}

impl MomentFunction for Shape {
    type State = Moments4;
    const ARITY: usize = 1;
    fn min_rows(&self) -> f64 {
        match self {
            Shape::Skewness => 3.0,
            Shape::Kurtosis => 4.0,
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Shape::Skewness => "skewness",
            Shape::Kurtosis => "kurtosis",
        }
    }
    fn documentation(&self) -> &'static Documentation {
        match self {
            Shape::Skewness => &SKEW_DOC,
            Shape::Kurtosis => &KURT_DOC,
        }
    }
    fn signature(&self) -> Signature {
        numeric(&["x"])
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        out[0] = row[0];
    }
    fn evaluate(&self, s: &Moments4, _params: &[f64]) -> Option<f64> {
        let n = s.n;
        if s.m2 == 0.0 {
            return None;
        }
        match self {
            Shape::Skewness => Some(n * (n - 1.0).sqrt() / (n - 2.0) * s.m3 / s.m2.powf(1.5)),
            Shape::Kurtosis => {
                let numerator = n * (n + 1.0) * (n - 1.0) * s.m4;
                let denominator = (n - 2.0) * (n - 3.0) * s.m2 * s.m2;
                let adjustment = 3.0 * (n - 1.0) * (n - 1.0) / ((n - 2.0) * (n - 3.0));
                Some(numerator / denominator - adjustment)
            }
        }
    }
}
