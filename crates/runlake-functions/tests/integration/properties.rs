//! Property tests on random data: invariants of the kernels, and the O(n log n) Kendall
//! tau-b against the O(n^2) definition.

use proptest::prelude::*;
use runlake_functions::stats::{
    self, CoMoments, Moments2, Moments4, average_ranks, kendall_tau_b, quantile_select,
    quantile_sorted,
};

/// Kendall's tau-b by its definition, counting every pair.
fn kendall_naive(x: &[f64], y: &[f64]) -> Option<f64> {
    let (mut concordant, mut discordant, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let dx = (x[i] - x[j]).signum() * ((x[i] != x[j]) as i32 as f64);
            let dy = (y[i] - y[j]).signum() * ((y[i] != y[j]) as i32 as f64);
            if dx == 0.0 && dy == 0.0 {
                continue;
            } else if dx == 0.0 {
                tx += 1;
            } else if dy == 0.0 {
                ty += 1;
            } else if dx == dy {
                concordant += 1;
            } else {
                discordant += 1;
            }
        }
    }
    let denominator =
        (((concordant + discordant + tx) * (concordant + discordant + ty)) as f64).sqrt();
    (denominator > 0.0).then(|| (concordant - discordant) as f64 / denominator)
}

fn values(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f64>> {
    // Small integer range: plenty of ties.
    prop::collection::vec((0i32..12).prop_map(f64::from), len)
}

fn pairs(len: std::ops::Range<usize>) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    len.prop_flat_map(|n| (values(n..n + 1), values(n..n + 1)))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn kendall_matches_the_quadratic_definition((x, y) in pairs(2..60)) {
        match (kendall_tau_b(&x, &y), kendall_naive(&x, &y)) {
            (Some(a), Some(b)) => prop_assert!(close(a, b), "{a} vs {b}"),
            (a, b) => prop_assert_eq!(a.is_some(), b.is_some()),
        }
    }

    #[test]
    fn correlations_are_bounded_and_symmetric((x, y) in pairs(2..80)) {
        let mut m = CoMoments::default();
        let mut swapped = CoMoments::default();
        for (&a, &b) in x.iter().zip(&y) {
            m.update(a, b);
            swapped.update(b, a);
        }
        if let (Some(r), Some(s)) = (m.pearson(), swapped.pearson()) {
            prop_assert!((-1.0..=1.0).contains(&r));
            prop_assert!(close(r, s));
            let two_pass = stats::pearson_two_pass(&x, &y).unwrap();
            prop_assert!(close(r, two_pass), "{r} vs {two_pass}");
        }
        if let Some(rho) = stats::spearman(&x, &y) {
            prop_assert!((-1.0..=1.0).contains(&rho));
            prop_assert!(close(rho, stats::spearman(&y, &x).unwrap()));
        }
    }

    #[test]
    fn average_ranks_sum_to_the_triangle_number(x in values(1..100)) {
        let n = x.len() as f64;
        let total: f64 = average_ranks(&x).iter().sum();
        prop_assert!(close(total, n * (n + 1.0) / 2.0));
    }

    #[test]
    fn quantiles_are_monotone_and_selection_equals_sorting(x in values(1..100), p in 0.0f64..=1.0, q in 0.0f64..=1.0) {
        let mut sorted = x.clone();
        sorted.sort_by(f64::total_cmp);
        let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
        prop_assert!(quantile_sorted(&sorted, lo) <= quantile_sorted(&sorted, hi));
        let mut scratch = x.clone();
        prop_assert!(close(quantile_select(&mut scratch, p), quantile_sorted(&sorted, p)));
        prop_assert!(quantile_sorted(&sorted, 0.0) == sorted[0]);
        prop_assert!(quantile_sorted(&sorted, 1.0) == sorted[sorted.len() - 1]);
    }

    #[test]
    fn merging_moments_equals_updating_and_retracting_undoes((x, y) in pairs(2..80), cut in 0usize..80) {
        let cut = cut.min(x.len());
        let (mut whole2, mut whole4, mut whole_c) = (Moments2::default(), Moments4::default(), CoMoments::default());
        let (mut a2, mut b2) = (Moments2::default(), Moments2::default());
        let (mut a4, mut b4) = (Moments4::default(), Moments4::default());
        let (mut ac, mut bc) = (CoMoments::default(), CoMoments::default());
        for (i, (&v, &w)) in x.iter().zip(&y).enumerate() {
            whole2.update(v);
            whole4.update(v);
            whole_c.update(v, w);
            if i < cut { a2.update(v); a4.update(v); ac.update(v, w); } else { b2.update(v); b4.update(v); bc.update(v, w); }
        }
        a2.merge(&b2);
        a4.merge(&b4);
        ac.merge(&bc);
        prop_assert!(close(a2.m2, whole2.m2) && close(a2.mean(), whole2.mean()));
        prop_assert!(close(a4.m3, whole4.m3) && close(a4.m4, whole4.m4) && close(a4.mean(), whole4.mean()));
        prop_assert!(close(ac.c_xy, whole_c.c_xy));
        // Retract the first `cut` rows: what is left equals the moments of the rest.
        for (&v, &w) in x.iter().zip(&y).take(cut) {
            whole2.retract(v);
            whole4.retract(v);
            whole_c.retract(v, w);
        }
        prop_assert!(close(whole2.m2, b2.m2) && close(whole2.mean(), b2.mean()));
        prop_assert!(close(whole4.m2, b4.m2) && close(whole4.m3, b4.m3) && close(whole4.m4, b4.m4));
        prop_assert!(close(whole_c.c_xy, bc.c_xy) && close(whole_c.m2_y, bc.m2_y));
    }
}

/// Mixed signs, zeros of both signs, ties, and magnitudes from 1e-300 to 1e300.
fn wide_values(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        (-50i32..50).prop_map(f64::from),
        Just(-0.0),
        (-300i32..300, -9i32..10).prop_map(|(e, m)| f64::from(m) * 10f64.powi(e)),
        any::<f64>().prop_filter("no NaN", |v| !v.is_nan()),
    ];
    prop::collection::vec(value, len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    // Long enough for the radix-sort path: every rank is (values below) + (ties + 1) / 2.
    #[test]
    fn average_ranks_match_their_definition_on_long_inputs(x in wide_values(256..1500)) {
        let ranks = average_ranks(&x);
        for (i, &v) in x.iter().enumerate() {
            let below = x.iter().filter(|&&w| w < v).count() as f64;
            let ties = x.iter().filter(|&&w| w == v).count() as f64;
            prop_assert_eq!(ranks[i], below + (ties + 1.0) / 2.0, "value {} at {}", v, i);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    // spearman sums doubled ranks in integers and ranks on two threads from 65,536 pairs;
    // it must agree with the definition, Pearson r of the average ranks.
    #[test]
    fn spearman_is_the_pearson_r_of_the_average_ranks(
        n in prop::sample::select(vec![3usize, 1000, 5000, 70_000, 140_000]),
        spread in prop::sample::select(vec![4i64, 300, 1 << 40]),
        seed in any::<u64>(),
    ) {
        // A small LCG is enough to scatter values; `spread` sets how many ties there are.
        let mut state = seed | 1;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 20) as i64 % spread) as f64 - (spread / 3) as f64
        };
        let x: Vec<f64> = (0..n).map(|_| next()).collect();
        let y: Vec<f64> = x.iter().map(|&v| if next() > 0.0 { v } else { next() }).collect();
        let want = stats::pearson_two_pass(&average_ranks(&x), &average_ranks(&y));
        match (stats::spearman(&x, &y), want) {
            (Some(a), Some(b)) => prop_assert!(close(a, b), "n={}: {} vs {}", n, a, b),
            (a, b) => prop_assert_eq!(a, b, "n={}", n),
        }
    }
}
