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
/// A cache prefetch hint for hash tables (shared with runlake-engine's integer-key
/// aggregate; not part of the function API).
#[doc(hidden)]
pub use crate::framework::prefetch;

fn moment<F: framework::MomentFunction>(f: F) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(MomentUdaf::new(f)))
}

fn buffer<F: framework::BufferFunction>(f: F) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(BufferUdaf::new(f)))
}

/// One entry point per function: `pearson_udaf()` returns the function (made once, it
/// cannot fail), `expr_fn::pearson(x, y)` calls it in an expression; `ALL` lists them in
/// documentation order.
macro_rules! functions {
    ($($name:ident => $udaf:ident = $make:expr, ($($arg:ident),*);)*) => {
        $(
            #[doc = concat!("The `", stringify!($name), "(", stringify!($($arg),*), ")` aggregate function.")]
            pub fn $udaf() -> Arc<AggregateUDF> {
                static F: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| $make);
                Arc::clone(&F)
            }
        )*

        static ALL: LazyLock<Vec<Arc<AggregateUDF>>> = LazyLock::new(|| vec![$($udaf()),*]);

        /// Expression builders for the DataFrame API, one per function:
        /// `expr_fn::pearson(col("predicted_ms"), col("actual_ms"))`.
        pub mod expr_fn {
            use datafusion::logical_expr::Expr;
            $(
                #[doc = concat!("`", stringify!($name), "(", stringify!($($arg),*), ")` as an expression.")]
                pub fn $name($($arg: Expr),*) -> Expr {
                    super::$udaf().call(vec![$($arg),*])
                }
            )*
        }
    };
}

functions! {
    pearson => pearson_udaf = moment(Pearson::R), (x, y);
    pearson_pvalue => pearson_pvalue_udaf = moment(Pearson::PValue), (x, y);
    pearson_ci_lower => pearson_ci_lower_udaf = moment(Pearson::CiLower), (x, y, level);
    pearson_ci_upper => pearson_ci_upper_udaf = moment(Pearson::CiUpper), (x, y, level);
    spearman => spearman_udaf = buffer(Rank::Spearman), (x, y);
    spearman_pvalue => spearman_pvalue_udaf = buffer(Rank::SpearmanPValue), (x, y);
    kendall_tau => kendall_tau_udaf = buffer(Rank::KendallTau), (x, y);
    r2_score => r2_score_udaf = moment(R2Score), (actual, predicted);
    mae => mae_udaf = moment(MeanError::Mae), (actual, predicted);
    mse => mse_udaf = moment(MeanError::Mse), (actual, predicted);
    rmse => rmse_udaf = moment(MeanError::Rmse), (actual, predicted);
    max_error => max_error_udaf = moment(MaxError), (actual, predicted);
    medae => medae_udaf = buffer(Medae), (actual, predicted);
    mean_error => mean_error_udaf = moment(MeanError::Bias), (actual, predicted);
    mape => mape_udaf = moment(MeanError::Mape), (actual, predicted);
    smape => smape_udaf = moment(MeanError::Smape), (actual, predicted);
    wape => wape_udaf = moment(Wape), (actual, predicted);
    cv => cv_udaf = moment(Spread::Cv), (x);
    cv_pop => cv_pop_udaf = moment(Spread::CvPop), (x);
    sem => sem_udaf = moment(Spread::Sem), (x);
    mad => mad_udaf = buffer(Robust::Mad), (x);
    iqr => iqr_udaf = buffer(Robust::Iqr), (x);
    skewness => skewness_udaf = moment(Shape::Skewness), (x);
    kurtosis => kurtosis_udaf = moment(Shape::Kurtosis), (x);
    quantile => quantile_udaf = buffer(Quantile::One), (x, p);
    quantiles => quantiles_udaf = buffer(Quantile::Many), (x, ps);
    p50 => p50_udaf = buffer(Quantile::Fixed("p50", 500)), (x);
    p90 => p90_udaf = buffer(Quantile::Fixed("p90", 900)), (x);
    p95 => p95_udaf = buffer(Quantile::Fixed("p95", 950)), (x);
    p99 => p99_udaf = buffer(Quantile::Fixed("p99", 990)), (x);
    p999 => p999_udaf = buffer(Quantile::Fixed("p999", 999)), (x);
    outlier_fraction => outlier_fraction_udaf = buffer(Robust::OutlierFraction), (x, k);
    slo_attainment => slo_attainment_udaf = moment(SloAttainment), (x, threshold);
}

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
