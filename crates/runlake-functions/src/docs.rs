//! Documentation and signature helpers shared by every function, so `SHOW FUNCTIONS` and
//! `information_schema.routines` describe each one the same way.

use arrow::datatypes::DataType;
use datafusion::logical_expr::{DocSection, Documentation, Signature, TypeSignature, Volatility};

/// The section every runlake function is listed under.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Statistical Functions (runlake)",
    description: Some("Accuracy, correlation, dispersion and exact quantile aggregates"),
};

/// Builds a function's documentation: description, syntax, a SQL example and arguments.
pub(crate) fn doc(
    description: &str,
    syntax: &str,
    example: &str,
    arguments: &[(&str, &str)],
) -> Documentation {
    let mut builder = Documentation::builder(DOC_SECTION, description, syntax)
        .with_sql_example(format!("```sql\n{example}\n```"));
    for (name, text) in arguments {
        builder = builder.with_argument(*name, *text);
    }
    builder.build()
}

/// `n` numeric arguments, coerced to DOUBLE by the planner, with parameter names.
pub(crate) fn numeric(names: &[&str]) -> Signature {
    Signature::exact(vec![DataType::Float64; names.len()], Volatility::Immutable)
        .with_parameter_names(names.to_vec())
        .expect("parameter names match the arity")
}

/// `required` numeric arguments plus up to `optional` more.
pub(crate) fn numeric_optional(required: usize, optional: usize) -> Signature {
    Signature::one_of(
        (required..=required + optional)
            .map(|n| TypeSignature::Exact(vec![DataType::Float64; n]))
            .collect(),
        Volatility::Immutable,
    )
}

pub(crate) const ACTUAL: (&str, &str) = (
    "actual",
    "The measured value (like scikit-learn's `y_true`). Any numeric type.",
);
pub(crate) const PREDICTED: (&str, &str) = (
    "predicted",
    "The predicted value (like scikit-learn's `y_pred`). Any numeric type.",
);
pub(crate) const X: (&str, &str) = ("x", "A numeric expression.");
pub(crate) const Y: (&str, &str) = ("y", "A numeric expression.");
