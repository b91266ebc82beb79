//! Statistical aggregate functions for [Apache DataFusion](https://datafusion.apache.org):
//! how well predicted latency tracks actual latency, and what drives it.
//!
//! ```text
//! let ctx = SessionContext::new();
//! runlake_functions::register_all(&ctx)?;
//! ctx.sql("SELECT framework, pearson(predicted_ms, actual_ms), mape(actual_ms, predicted_ms)
//!          FROM predictions GROUP BY framework").await?.show().await?;
//! ```
//!
//! Every function skips rows with a NULL argument, returns NULL when too few rows
//! remain, returns NaN when any remaining value is NaN, accepts any numeric type, and
//! works with and without `GROUP BY`, with `FILTER (WHERE ...)` and over window frames.
//! Error metrics take `(actual, predicted)`, like scikit-learn's `(y_true, y_pred)`.
//! The exact semantics and their reference implementations are in each function's
//! documentation (`SHOW FUNCTIONS`, `information_schema.routines`).

mod correlation;
mod dispersion;
mod docs;
mod errors;
mod framework;
mod groupby;
mod lists;
mod quantile;
mod rank;
mod robust;
mod slo;
pub mod stats;

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::correlation::Pearson;
use crate::dispersion::{Shape, Spread};
use crate::errors::{MaxError, MeanError, R2Score, Wape};
use crate::framework::{BufferUdaf, MomentUdaf};
use crate::lists::{ListStat, ListUdf};
use crate::quantile::Quantile;
use crate::rank::Rank;
use crate::robust::{Medae, Robust};
use crate::slo::SloAttainment;

pub use crate::docs::DOC_SECTION;
pub use crate::groupby::{IntKeyAggregate, IntKeyAggregateExec};

fn moment<F: framework::MomentFunction>(f: F) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(MomentUdaf::new(f)))
}

fn buffer<F: framework::BufferFunction>(f: F) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(BufferUdaf::new(f)))
}

static ALL: LazyLock<Vec<Arc<AggregateUDF>>> = LazyLock::new(|| {
    vec![
        moment(Pearson::R),
        moment(Pearson::PValue),
        moment(Pearson::CiLower),
        moment(Pearson::CiUpper),
        buffer(Rank::Spearman),
        buffer(Rank::SpearmanPValue),
        buffer(Rank::KendallTau),
        moment(R2Score),
        moment(MeanError::Mae),
        moment(MeanError::Mse),
        moment(MeanError::Rmse),
        moment(MaxError),
        buffer(Medae),
        moment(MeanError::Bias),
        moment(MeanError::Mape),
        moment(MeanError::Smape),
        moment(Wape),
        moment(Spread::Cv),
        moment(Spread::CvPop),
        moment(Spread::Sem),
        buffer(Robust::Mad),
        buffer(Robust::Iqr),
        moment(Shape::Skewness),
        moment(Shape::Kurtosis),
        buffer(Quantile::One),
        buffer(Quantile::Many),
        buffer(Quantile::Fixed("p50", 500)),
        buffer(Quantile::Fixed("p90", 900)),
        buffer(Quantile::Fixed("p95", 950)),
        buffer(Quantile::Fixed("p99", 990)),
        buffer(Quantile::Fixed("p999", 999)),
        buffer(Robust::OutlierFraction),
        moment(SloAttainment),
    ]
});

/// Every runlake aggregate function, in documentation order.
pub fn all_functions() -> Vec<Arc<AggregateUDF>> {
    ALL.clone()
}

static SCALARS: LazyLock<Vec<Arc<ScalarUDF>>> = LazyLock::new(|| {
    [ListStat::Mean, ListStat::Stddev, ListStat::StddevPop]
        .into_iter()
        .map(|s| Arc::new(ScalarUDF::new_from_impl(ListUdf::new(s))))
        .collect()
});

/// Every runlake scalar function (the statistics of a row's list: `list_mean`,
/// `list_stddev`, `list_stddev_pop`).
pub fn all_scalar_functions() -> Vec<Arc<ScalarUDF>> {
    SCALARS.clone()
}

/// Registers every runlake function (aggregates and list statistics) with a DataFusion
/// session.
///
/// Names that the session already knows (for example a built-in of the same name) are
/// replaced, so the runlake semantics apply.
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    for f in ALL.iter() {
        ctx.register_udaf(f.as_ref().clone());
    }
    for f in SCALARS.iter() {
        ctx.register_udf(f.as_ref().clone());
    }
    Ok(())
}

/// Looks a function up by name.
pub fn function(name: &str) -> Option<Arc<AggregateUDF>> {
    ALL.iter().find(|f| f.name() == name).cloned()
}

/// Expression builders for the DataFrame API, one per function:
/// `expr_fn::pearson(col("predicted_ms"), col("actual_ms"))`.
pub mod expr_fn {
    use datafusion::logical_expr::Expr;

    use super::function;

    macro_rules! expr_fns {
        ($($name:ident($($arg:ident),*)),* $(,)?) => {
            $(
                #[doc = concat!("`", stringify!($name), "(", stringify!($($arg),*), ")` as an expression.")]
                pub fn $name($($arg: Expr),*) -> Expr {
                    function(stringify!($name))
                        .expect("registered function")
                        .call(vec![$($arg),*])
                }
            )*
        };
    }

    expr_fns!(
        pearson(x, y),
        pearson_pvalue(x, y),
        pearson_ci_lower(x, y, level),
        pearson_ci_upper(x, y, level),
        spearman(x, y),
        spearman_pvalue(x, y),
        kendall_tau(x, y),
        r2_score(actual, predicted),
        mae(actual, predicted),
        mse(actual, predicted),
        rmse(actual, predicted),
        max_error(actual, predicted),
        medae(actual, predicted),
        mean_error(actual, predicted),
        mape(actual, predicted),
        smape(actual, predicted),
        wape(actual, predicted),
        cv(x),
        cv_pop(x),
        sem(x),
        mad(x),
        iqr(x),
        skewness(x),
        kurtosis(x),
        quantile(x, p),
        quantiles(x, ps),
        p50(x),
        p90(x),
        p95(x),
        p99(x),
        p999(x),
        outlier_fraction(x, k),
        slo_attainment(x, threshold),
    );
}
