//! The numerical kernels (`runlake_functions::stats`) against scipy and numpy values
//! from `tests/reference/generate.py`.

use std::sync::LazyLock;

use runlake_functions::stats;
use serde_json::Value;

use crate::common::{Tolerance, close_f64, reference_dir};

static KERNELS: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(reference_dir().join("expected.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["kernels"].clone()
});

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}

#[test]
fn normal_ppf_matches_scipy_ndtri() {
    let cases = KERNELS["normal_ppf"].as_array().unwrap();
    assert!(cases.len() > 10);
    for case in cases {
        let (p, want) = (f(&case[0]), f(&case[1]));
        let got = stats::normal_ppf(p);
        assert!(
            close_f64(got, want, Tolerance::Relative),
            "normal_ppf({p}) = {got}, scipy {want}"
        );
    }
}

#[test]
fn betainc_matches_scipy() {
    for case in KERNELS["betainc"].as_array().unwrap() {
        let (a, b, x, want) = (f(&case[0]), f(&case[1]), f(&case[2]), f(&case[3]));
        let got = stats::betainc(a, b, x);
        assert!(
            (got - want).abs() <= 1e-12 + 1e-9 * want.abs(),
            "betainc({a}, {b}, {x}) = {got}, scipy {want}"
        );
    }
}

#[test]
fn correlation_pvalue_matches_scipy_t() {
    for case in KERNELS["correlation_pvalue"].as_array().unwrap() {
        let (r, n, want) = (f(&case[0]), f(&case[1]), f(&case[2]));
        let got = stats::correlation_pvalue(r, n);
        assert!(
            (got - want).abs() <= 1e-9,
            "p(r={r}, n={n}) = {got}, scipy {want}"
        );
    }
}

#[test]
fn ranks_rank_correlations_and_quantiles_match_scipy_and_numpy() {
    let samples = KERNELS["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 10);
    for s in samples {
        let (x, y) = (floats(&s["x"]), floats(&s["y"]));
        let n = x.len();
        assert_eq!(
            stats::average_ranks(&x),
            floats(&s["ranks_x"]),
            "ranks, n={n}"
        );
        let want_tau = s["kendall_tau"].as_f64();
        let got_tau = stats::kendall_tau_b(&x, &y);
        match (got_tau, want_tau) {
            (Some(g), Some(w)) => assert!(
                close_f64(g, w, Tolerance::Relative),
                "tau n={n}: {g} vs {w}"
            ),
            (g, w) => assert_eq!(g, w, "tau n={n}"),
        }
        let want_rho = s["spearman"].as_f64();
        match (stats::spearman(&x, &y), want_rho) {
            (Some(g), Some(w)) => assert!(
                close_f64(g, w, Tolerance::Relative),
                "rho n={n}: {g} vs {w}"
            ),
            (g, w) => assert_eq!(g, w, "rho n={n}"),
        }
        let mut sorted = x.clone();
        sorted.sort_by(f64::total_cmp);
        for (p, want) in s["quantiles"].as_object().unwrap() {
            let p: f64 = p.parse().unwrap();
            let want = f(want);
            assert!(close_f64(
                stats::quantile_sorted(&sorted, p),
                want,
                Tolerance::Relative
            ));
            let mut scratch = x.clone();
            assert!(close_f64(
                stats::quantile_select(&mut scratch, p),
                want,
                Tolerance::Relative
            ));
        }
    }
}

#[test]
fn pearson_interval_matches_stats_md_anchor() {
    // STATS.md 2.2, D1: r = 0.7745966692414834, 95% CI (-0.34008203518751, 0.98423575515073);
    // three or fewer pairs give (-1, 1).
    let (lo, hi) = stats::pearson_confidence_interval(0.7745966692414834, 5.0, 0.95);
    assert!((lo - -0.34008203518751).abs() < 1e-12);
    assert!((hi - 0.98423575515073).abs() < 1e-12);
    assert_eq!(
        stats::pearson_confidence_interval(0.5, 3.0, 0.95),
        (-1.0, 1.0)
    );
}
