//! `slo_attainment(x, threshold)`: the share of values within a service-level objective.

use std::sync::LazyLock;

use datafusion::logical_expr::{Documentation, Signature};

use crate::docs::{doc, numeric};
use crate::errors::MeanSum;
use crate::framework::{MomentFunction, MomentState};

static SLO_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Share of values x <= threshold, in [0, 1]. The threshold may be a constant or a \
         column (compared row by row). NULL for no rows; NaN if any value is NaN.",
        "slo_attainment(x, threshold)",
        "SELECT framework, slo_attainment(ttft_ms, 200) FROM requests GROUP BY framework;",
        &[
            ("x", "The measured value, e.g. a latency. Any numeric type."),
            (
                "threshold",
                "The objective: a constant or a per-row column.",
            ),
        ],
    )
});

/// `slo_attainment(x, threshold)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SloAttainment;

impl MomentFunction for SloAttainment {
    type State = MeanSum;
    const ARITY: usize = 2;
    fn min_rows(&self) -> f64 {
        1.0
    }
    fn name(&self) -> &'static str {
        "slo_attainment"
    }
    fn documentation(&self) -> &'static Documentation {
        &SLO_DOC
    }
    fn signature(&self) -> Signature {
        numeric(&["x", "threshold"])
    }
    #[inline]
    fn input(&self, row: &[f64], out: &mut [f64; 4]) {
        out[0] = if row[0] <= row[1] { 1.0 } else { 0.0 };
    }
    fn evaluate(&self, s: &MeanSum, _params: &[f64]) -> Option<f64> {
        Some(s.sum.value() / s.count())
    }
}
