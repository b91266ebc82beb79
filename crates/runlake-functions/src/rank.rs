//! Rank correlations over buffered pairs: `spearman` (Pearson r of average ranks, as
//! `scipy.stats.spearmanr`, not ClickHouse's tie-blind closed form), its p-value, and
//! `kendall_tau` (tau-b, O(n log n)).

use std::sync::LazyLock;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Documentation, Signature};

use crate::docs::{X, Y, doc, numeric};
use crate::framework::BufferFunction;
use crate::stats::{correlation_pvalue, kendall_tau_b, spearman};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Rank {
    Spearman,
    SpearmanPValue,
    KendallTau,
}

static SPEARMAN_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Spearman rank correlation: Pearson r of the average ranks (ties averaged), as \
         scipy.stats.spearmanr. NULL for fewer than 2 pairs or a constant column; NaN if \
         any value is NaN. Buffers the pairs of each group; not for sliding frames.",
        "spearman(x, y)",
        "SELECT framework, spearman(predicted_ms, actual_ms) FROM predictions GROUP BY framework;",
        &[X, Y],
    )
});
static SPEARMAN_P_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Two-sided p-value of the Spearman correlation (t approximation with n-2 degrees of \
         freedom, as scipy.stats.spearmanr(x, y).pvalue). NULL when n <= 2 or a column is \
         constant; 0 when |rho| = 1.",
        "spearman_pvalue(x, y)",
        "SELECT spearman_pvalue(predicted_ms, actual_ms) FROM predictions;",
        &[X, Y],
    )
});
static KENDALL_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Kendall's tau-b rank correlation with tie correction, as scipy.stats.kendalltau, \
         computed in O(n log n). NULL for fewer than 2 pairs or a constant column.",
        "kendall_tau(x, y)",
        "SELECT kendall_tau(predicted_ms, actual_ms) FROM predictions;",
        &[X, Y],
    )
});

impl BufferFunction for Rank {
    const ARITY: usize = 2;
    const WIDTH: usize = 2;
    fn min_rows(&self) -> usize {
        match self {
            Rank::SpearmanPValue => 3,
            Rank::Spearman | Rank::KendallTau => 2,
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Rank::Spearman => "spearman",
            Rank::SpearmanPValue => "spearman_pvalue",
            Rank::KendallTau => "kendall_tau",
        }
    }
    fn documentation(&self) -> &'static Documentation {
        match self {
            Rank::Spearman => &SPEARMAN_DOC,
            Rank::SpearmanPValue => &SPEARMAN_P_DOC,
            Rank::KendallTau => &KENDALL_DOC,
        }
    }
    fn signature(&self) -> Signature {
        numeric(&["x", "y"])
    }
    fn evaluate(&self, columns: &mut [Vec<f64>; 2], _params: &[f64]) -> ScalarValue {
        let (x, y) = (&columns[0], &columns[1]);
        let n = x.len() as f64;
        ScalarValue::Float64(match self {
            Rank::Spearman => spearman(x, y),
            Rank::SpearmanPValue => spearman(x, y).map(|rho| correlation_pvalue(rho, n)),
            Rank::KendallTau => kendall_tau_b(x, y),
        })
    }
}
