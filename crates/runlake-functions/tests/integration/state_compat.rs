//! The scalar Accumulator, the GroupsAccumulator, `convert_to_state` and merged partial
//! states share one state layout: any path's state merges into any other path and gives
//! the same answer, over random batch splits.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::common::{Tolerance, close_f64};

const ONE_ARG: &[&str] = &[
    "cv",
    "cv_pop",
    "sem",
    "mad",
    "iqr",
    "skewness",
    "kurtosis",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
    "outlier_fraction",
    "quantile",
    "quantiles",
];

struct Call {
    udf: Arc<AggregateUDF>,
    schema: Schema,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    fields: Vec<FieldRef>,
    return_field: FieldRef,
}

impl Call {
    fn new(udf: Arc<AggregateUDF>) -> Self {
        let schema = Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("y", DataType::Float64, true),
        ]);
        let arity = if ONE_ARG.contains(&udf.name()) { 1 } else { 2 };
        let mut exprs: Vec<Arc<dyn PhysicalExpr>> = (0..arity)
            .map(|i| Arc::new(Column::new(["x", "y"][i], i)) as _)
            .collect();
        let mut fields: Vec<FieldRef> = (0..arity)
            .map(|i| Arc::new(schema.field(i).clone()))
            .collect();
        let literal = match udf.name() {
            "quantile" => Some(ScalarValue::Float64(Some(0.9))),
            "quantiles" => Some(ScalarValue::List(ScalarValue::new_list_nullable(
                &[
                    ScalarValue::Float64(Some(0.25)),
                    ScalarValue::Float64(Some(0.75)),
                ],
                &DataType::Float64,
            ))),
            _ => None,
        };
        if let Some(lit) = literal {
            fields.push(Arc::new(Field::new("p", lit.data_type(), false)));
            exprs.push(Arc::new(Literal::new(lit)));
        }
        let return_field = udf.return_field(&fields).unwrap();
        Self {
            udf,
            schema,
            exprs,
            fields,
            return_field,
        }
    }

    fn args(&self) -> AccumulatorArgs<'_> {
        AccumulatorArgs {
            return_field: self.return_field.clone(),
            schema: &self.schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: self.udf.name(),
            is_distinct: false,
            exprs: &self.exprs,
            expr_fields: &self.fields,
        }
    }

    fn scalar(&self) -> Box<dyn Accumulator> {
        self.udf.accumulator(self.args()).unwrap()
    }

    fn grouped(&self) -> Box<dyn GroupsAccumulator> {
        self.udf.create_groups_accumulator(self.args()).unwrap()
    }

    fn inputs(&self, x: &[Option<f64>], y: &[Option<f64>]) -> Vec<ArrayRef> {
        let mut out: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(x.to_vec())),
            Arc::new(Float64Array::from(y.to_vec())),
        ];
        if let Some(lit) = self
            .exprs
            .get(out.len())
            .and_then(|e| e.downcast_ref::<Literal>())
        {
            out.push(lit.value().to_array_of_size(x.len()).unwrap());
        }
        if ONE_ARG.contains(&self.udf.name()) {
            out.remove(1);
        }
        out
    }
}

fn states_to_arrays(states: &[Vec<ScalarValue>]) -> Vec<ArrayRef> {
    (0..states[0].len())
        .map(|k| ScalarValue::iter_to_array(states.iter().map(|s| s[k].clone())).unwrap())
        .collect()
}

fn to_f64s(v: &ScalarValue) -> Option<Vec<f64>> {
    match v {
        ScalarValue::Float64(v) => v.map(|v| vec![v]),
        ScalarValue::List(l) => {
            use arrow::array::{Array, AsArray};
            if l.is_null(0) {
                None
            } else {
                Some(
                    l.value(0)
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .values()
                        .to_vec(),
                )
            }
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn assert_same(name: &str, path: &str, got: &ScalarValue, want: &ScalarValue) {
    match (to_f64s(got), to_f64s(want)) {
        (None, None) => {}
        (Some(g), Some(w)) if g.len() == w.len() => {
            for (g, w) in g.iter().zip(&w) {
                assert!(
                    close_f64(*g, *w, Tolerance::Relative),
                    "{name} via {path}: {g} vs {w}"
                );
            }
        }
        (g, w) => panic!("{name} via {path}: {g:?} vs {w:?}"),
    }
}

fn random_data(rng: &mut SmallRng, n: usize, nan: bool) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let a: f64 = rng.random_range(1.0..1000.0);
        let p = a * rng.random_range(0.5..1.5);
        x.push((rng.random_range(0..20) != 0).then_some(a.round()));
        y.push((rng.random_range(0..20) != 0).then_some(p));
    }
    if nan {
        x[n / 2] = Some(f64::NAN);
    }
    (x, y)
}

/// Random cut points splitting 0..n into `parts` contiguous chunks.
fn splits(rng: &mut SmallRng, n: usize, parts: usize) -> Vec<(usize, usize)> {
    let mut cuts: Vec<usize> = (0..parts - 1).map(|_| rng.random_range(0..=n)).collect();
    cuts.push(0);
    cuts.push(n);
    cuts.sort_unstable();
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

#[test]
fn every_path_merges_with_every_other() {
    let mut rng = SmallRng::seed_from_u64(42);
    for udf in runlake_functions::all_functions() {
        let name = udf.name().to_string();
        let call = Call::new(udf);
        for round in 0..6 {
            let n = [1, 2, 3, 17, 250, 1000][round];
            let (x, y) = random_data(&mut rng, n, round == 4);
            let all = call.inputs(&x, &y);

            // 1. One scalar accumulator over everything.
            let mut whole = call.scalar();
            whole.update_batch(&all).unwrap();
            let want = whole.evaluate().unwrap();

            // 2. Scalar partial states over random splits, merged.
            let chunks = splits(&mut rng, n, 1 + round % 4);
            let mut partial_states = Vec::new();
            for &(a, b) in &chunks {
                let mut acc = call.scalar();
                acc.update_batch(&call.inputs(&x[a..b], &y[a..b])).unwrap();
                partial_states.push(acc.state().unwrap());
            }
            let mut merged = call.scalar();
            merged
                .merge_batch(&states_to_arrays(&partial_states))
                .unwrap();
            assert_same(
                &name,
                "merged scalar states",
                &merged.evaluate().unwrap(),
                &want,
            );

            // 3. GroupsAccumulator: group 0 gets every row (in random batches), group 1 a
            //    copy of the first half, so group indices really vary.
            let mut grouped = call.grouped();
            for &(a, b) in &chunks {
                let mut idx = vec![0usize; b - a];
                let mut input_x = x[a..b].to_vec();
                let mut input_y = y[a..b].to_vec();
                for i in a..b.min(n / 2) {
                    idx.push(1);
                    input_x.push(x[i]);
                    input_y.push(y[i]);
                }
                grouped
                    .update_batch(&call.inputs(&input_x, &input_y), &idx, None, 2)
                    .unwrap();
            }
            let grouped_states = grouped.state(EmitTo::All).unwrap();

            // 4. Grouped state merged into a scalar accumulator (group 0 only).
            let group0: Vec<ArrayRef> = grouped_states.iter().map(|a| a.slice(0, 1)).collect();
            let mut from_grouped = call.scalar();
            from_grouped.merge_batch(&group0).unwrap();
            assert_same(
                &name,
                "grouped state into scalar",
                &from_grouped.evaluate().unwrap(),
                &want,
            );

            // 4b. Grouped states merged into a fresh GroupsAccumulator and evaluated there.
            let mut regathered = call.grouped();
            regathered.merge_batch(&grouped_states, &[0, 1], 2).unwrap();
            let got =
                ScalarValue::try_from_array(&regathered.evaluate(EmitTo::All).unwrap(), 0).unwrap();
            assert_same(&name, "grouped evaluate", &got, &want);

            // 5. Scalar partial states merged into a GroupsAccumulator.
            let mut regrouped = call.grouped();
            regrouped
                .merge_batch(
                    &states_to_arrays(&partial_states),
                    &vec![0; partial_states.len()],
                    1,
                )
                .unwrap();
            let got =
                ScalarValue::try_from_array(&regrouped.evaluate(EmitTo::All).unwrap(), 0).unwrap();
            assert_same(&name, "scalar states into grouped", &got, &want);

            // 6. convert_to_state (skipped partial aggregation) merged into one group, with
            //    a filter that keeps every row.
            let keep = arrow::array::BooleanArray::from(vec![true; n]);
            let converted = call.grouped().convert_to_state(&all, Some(&keep)).unwrap();
            let mut from_rows = call.grouped();
            from_rows.merge_batch(&converted, &vec![0; n], 1).unwrap();
            let got =
                ScalarValue::try_from_array(&from_rows.evaluate(EmitTo::All).unwrap(), 0).unwrap();
            assert_same(&name, "convert_to_state", &got, &want);
        }
    }
}

/// A GroupsAccumulator takes a batch without NULLs by one of three paths: a few groups
/// (each group's rows spread over independent lanes), many groups (row by row, the next
/// cells prefetched), and a filter (the general loop). All three give the same answers,
/// NaN rows included, for rows sorted by group (long runs of one group) and interleaved.
#[test]
fn few_groups_many_groups_and_filtered_batches_agree() {
    let mut rng = SmallRng::seed_from_u64(7);
    for udf in runlake_functions::all_functions() {
        let name = udf.name().to_string();
        let call = Call::new(udf);
        for (round, sorted) in [(0, false), (1, true), (2, false)] {
            let n = [3001, 5000, 9][round];
            let mut x = Vec::with_capacity(n);
            let mut y = Vec::with_capacity(n);
            for i in 0..n {
                let a: f64 = rng.random_range(1.0..1000.0) + 1e6 * (i % 3) as f64;
                x.push(Some(if i == n / 3 { f64::NAN } else { a.round() }));
                y.push(Some(a * rng.random_range(0.5..1.5)));
            }
            let mut groups: Vec<usize> = (0..n).map(|_| rng.random_range(0..3)).collect();
            if sorted {
                groups.sort_unstable();
            }
            let inputs = call.inputs(&x, &y);
            let run = |total: usize, filter: Option<&arrow::array::BooleanArray>| {
                let mut acc = call.grouped();
                // Two batches, so the lanes of one batch merge into cells holding the other.
                let cut = n / 2;
                for (a, b) in [(0, cut), (cut, n)] {
                    let part: Vec<ArrayRef> = inputs.iter().map(|c| c.slice(a, b - a)).collect();
                    let part_filter = filter.map(|f| f.slice(a, b - a));
                    acc.update_batch(&part, &groups[a..b], part_filter.as_ref(), total)
                        .unwrap();
                }
                let out = acc.evaluate(EmitTo::All).unwrap();
                (0..3)
                    .map(|g| ScalarValue::try_from_array(&out, g).unwrap())
                    .collect::<Vec<_>>()
            };
            let few = run(3, None);
            let many = run(100, None);
            let keep = arrow::array::BooleanArray::from(vec![true; n]);
            let filtered = run(3, Some(&keep));
            for g in 0..3 {
                assert_same(&name, "many groups", &many[g], &filtered[g]);
                assert_same(&name, "few groups", &few[g], &filtered[g]);
            }
        }
    }
}
