//! Accumulator throughput: update and merge, with and without NULLs, for 1 and 100k
//! groups. Run: cargo bench -p runlake-functions --bench accumulators
//! Results and the end-to-end benchmark against DuckDB and Polars: BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const ROWS: usize = 1 << 16;

fn columns(nulls: bool) -> Vec<ArrayRef> {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut x = Vec::with_capacity(ROWS);
    let mut y = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        let a: f64 = rng.random_range(1.0..500.0);
        let keep = !nulls || rng.random_range(0..10) != 0;
        x.push(keep.then_some(a));
        y.push(Some(a * rng.random_range(0.8..1.2)));
    }
    vec![
        Arc::new(Float64Array::from(x)),
        Arc::new(Float64Array::from(y)),
    ]
}

fn groups_accumulator(udf: &AggregateUDF, arity: usize) -> Box<dyn GroupsAccumulator> {
    let schema = Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("y", DataType::Float64, true),
    ]);
    let exprs: Vec<Arc<dyn PhysicalExpr>> = (0..arity)
        .map(|i| Arc::new(Column::new(["x", "y"][i], i)) as _)
        .collect();
    let fields: Vec<FieldRef> = (0..arity)
        .map(|i| Arc::new(schema.field(i).clone()))
        .collect();
    let args = AccumulatorArgs {
        return_field: udf.return_field(&fields).unwrap(),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: udf.name(),
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &fields,
    };
    udf.create_groups_accumulator(args).unwrap()
}

fn bench(c: &mut Criterion) {
    let functions = [
        ("pearson", 2),
        ("mape", 2),
        ("rmse", 2),
        ("r2_score", 2),
        ("cv", 1),
        ("skewness", 1),
        ("p99", 1),
        ("spearman", 2),
    ];
    for (name, arity) in functions {
        let udf = runlake_functions::function(name).unwrap();
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(ROWS as u64));
        for nulls in [false, true] {
            let cols = columns(nulls);
            let input: Vec<ArrayRef> = cols[..arity].to_vec();
            for groups in [1usize, 100_000] {
                let indices: Vec<usize> = (0..ROWS).map(|i| (i * 7919) % groups).collect();
                let label = format!("{groups}g{}", if nulls { "_nulls" } else { "" });
                group.bench_with_input(
                    BenchmarkId::new("update", &label),
                    &groups,
                    |b, &groups| {
                        b.iter(|| {
                            let mut acc = groups_accumulator(&udf, arity);
                            acc.update_batch(&input, &indices, None, groups).unwrap();
                            black_box(acc.evaluate(EmitTo::All).unwrap());
                        })
                    },
                );
                let mut acc = groups_accumulator(&udf, arity);
                acc.update_batch(&input, &indices, None, groups).unwrap();
                let state = acc.state(EmitTo::All).unwrap();
                let merge_indices: Vec<usize> = (0..state[0].len()).collect();
                group.bench_with_input(BenchmarkId::new("merge", &label), &groups, |b, &groups| {
                    b.iter(|| {
                        let mut acc = groups_accumulator(&udf, arity);
                        acc.merge_batch(&state, &merge_indices, groups).unwrap();
                        black_box(acc.evaluate(EmitTo::All).unwrap());
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
