//! Pure numerical kernels behind the SQL functions: running moments, special functions,
//! ranks, exact quantiles and Kendall's tau. No Arrow or DataFusion types here.
//!
//! Every routine assumes its inputs are free of NULL and NaN; the SQL layer applies the
//! common NULL / NaN / small-n rules before calling in.

use std::cmp::Ordering;

/// Neumaier-compensated sum: exact enough that sums of millions of latencies (or of
/// signed residuals that nearly cancel) keep full double precision, and retractable.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KahanSum {
    pub sum: f64,
    pub compensation: f64,
}

impl KahanSum {
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    #[inline]
    pub fn merge(&mut self, other: &KahanSum) {
        self.add(other.sum);
        self.compensation += other.compensation;
    }

    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Count, mean and second central moment (Welford; Chan et al. for merges).
///
/// Values are taken relative to `shift`, the first value seen (an assumed mean): data
/// offset by 1e9 (nanosecond timestamps) then enters the recurrences as small, exact
/// differences, and merges of states with different shifts add the shifts' difference
/// to the means. `mean` is relative to `shift`; [`Moments2::mean`] gives the true mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments2 {
    pub n: f64,
    pub shift: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments2 {
    /// The mean of the values.
    #[inline]
    pub fn mean(&self) -> f64 {
        self.shift + self.mean
    }

    #[inline]
    pub fn update(&mut self, x: f64) {
        if self.n == 0.0 {
            self.shift = x;
        }
        let x = x - self.shift;
        self.n += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
    }

    #[inline]
    pub fn retract(&mut self, x: f64) {
        if self.n <= 1.0 {
            *self = Self::default();
            return;
        }
        let x = x - self.shift;
        let n_before = self.n - 1.0;
        let mean_before = self.mean - (x - self.mean) / n_before;
        self.m2 -= (x - mean_before) * (x - self.mean);
        self.mean = mean_before;
        self.n = n_before;
        if self.m2 < 0.0 {
            self.m2 = 0.0;
        }
    }

    #[inline]
    pub fn merge(&mut self, other: &Moments2) {
        if other.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *other;
            return;
        }
        let n = self.n + other.n;
        let delta = (other.mean - self.mean) + (other.shift - self.shift);
        self.mean += delta * other.n / n;
        self.m2 += other.m2 + delta * delta * self.n * other.n / n;
        self.n = n;
    }
}

/// Count, mean and central moments up to the fourth (Pébay's one-pass formulas), for
/// skewness and kurtosis, relative to a shift as [`Moments2`]. Retraction inverts the
/// single-value merge exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments4 {
    pub n: f64,
    pub shift: f64,
    pub mean: f64,
    pub m2: f64,
    pub m3: f64,
    pub m4: f64,
}

impl Moments4 {
    /// The mean of the values.
    #[inline]
    pub fn mean(&self) -> f64 {
        self.shift + self.mean
    }

    #[inline]
    pub fn update(&mut self, x: f64) {
        if self.n == 0.0 {
            self.shift = x;
        }
        let x = x - self.shift;
        let n1 = self.n;
        self.n += 1.0;
        let n = self.n;
        let delta = x - self.mean;
        let delta_n = delta / n;
        let delta_n2 = delta_n * delta_n;
        let term1 = delta * delta_n * n1;
        self.mean += delta_n;
        self.m4 += term1 * delta_n2 * (n * n - 3.0 * n + 3.0) + 6.0 * delta_n2 * self.m2
            - 4.0 * delta_n * self.m3;
        self.m3 += term1 * delta_n * (n - 2.0) - 3.0 * delta_n * self.m2;
        self.m2 += term1;
    }

    #[inline]
    pub fn retract(&mut self, x: f64) {
        if self.n <= 1.0 {
            *self = Self::default();
            return;
        }
        let x = x - self.shift;
        let n = self.n;
        let na = n - 1.0;
        let mean_a = self.mean - (x - self.mean) / na;
        let d = x - mean_a;
        let d2 = d * d;
        let m2a = self.m2 - d2 * na / n;
        let m3a = self.m3 - d2 * d * na * (na - 1.0) / (n * n) + 3.0 * d * m2a / n;
        let m4a =
            self.m4 - d2 * d2 * na * (na * na - na + 1.0) / (n * n * n) - 6.0 * d2 * m2a / (n * n)
                + 4.0 * d * m3a / n;
        *self = Moments4 {
            n: na,
            shift: self.shift,
            mean: mean_a,
            m2: m2a.max(0.0),
            m3: m3a,
            m4: m4a.max(0.0),
        };
    }

    #[inline]
    pub fn merge(&mut self, b: &Moments4) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *b;
            return;
        }
        let a = *self;
        let n = a.n + b.n;
        let d = (b.mean - a.mean) + (b.shift - a.shift);
        let d2 = d * d;
        let d3 = d2 * d;
        let d4 = d2 * d2;
        self.n = n;
        self.mean = a.mean + d * b.n / n;
        self.m2 = a.m2 + b.m2 + d2 * a.n * b.n / n;
        self.m3 = a.m3
            + b.m3
            + d3 * a.n * b.n * (a.n - b.n) / (n * n)
            + 3.0 * d * (a.n * b.m2 - b.n * a.m2) / n;
        self.m4 = a.m4
            + b.m4
            + d4 * a.n * b.n * (a.n * a.n - a.n * b.n + b.n * b.n) / (n * n * n)
            + 6.0 * d2 * (a.n * a.n * b.m2 + b.n * b.n * a.m2) / (n * n)
            + 4.0 * d * (a.n * b.m3 - b.n * a.m3) / n;
    }
}

/// Co-moments of two variables: count, means, second central moments and the
/// cross moment, relative to shifts as [`Moments2`]. Stable at any common offset
/// (unlike raw sums of products).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CoMoments {
    pub n: f64,
    pub shift_x: f64,
    pub shift_y: f64,
    pub mean_x: f64,
    pub mean_y: f64,
    pub m2_x: f64,
    pub m2_y: f64,
    pub c_xy: f64,
}

impl CoMoments {
    #[inline]
    pub fn update(&mut self, x: f64, y: f64) {
        if self.n == 0.0 {
            self.shift_x = x;
            self.shift_y = y;
        }
        let (x, y) = (x - self.shift_x, y - self.shift_y);
        self.n += 1.0;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / self.n;
        self.mean_y += dy / self.n;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * (y - self.mean_y);
        self.c_xy += dx * (y - self.mean_y);
    }

    #[inline]
    pub fn retract(&mut self, x: f64, y: f64) {
        if self.n <= 1.0 {
            *self = Self::default();
            return;
        }
        let (x, y) = (x - self.shift_x, y - self.shift_y);
        let n_before = self.n - 1.0;
        let mx = self.mean_x - (x - self.mean_x) / n_before;
        let my = self.mean_y - (y - self.mean_y) / n_before;
        self.m2_x = (self.m2_x - (x - mx) * (x - self.mean_x)).max(0.0);
        self.m2_y = (self.m2_y - (y - my) * (y - self.mean_y)).max(0.0);
        self.c_xy -= (x - mx) * (y - self.mean_y);
        self.mean_x = mx;
        self.mean_y = my;
        self.n = n_before;
    }

    #[inline]
    pub fn merge(&mut self, b: &CoMoments) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *b;
            return;
        }
        let n = self.n + b.n;
        let dx = (b.mean_x - self.mean_x) + (b.shift_x - self.shift_x);
        let dy = (b.mean_y - self.mean_y) + (b.shift_y - self.shift_y);
        let w = self.n * b.n / n;
        self.m2_x += b.m2_x + dx * dx * w;
        self.m2_y += b.m2_y + dy * dy * w;
        self.c_xy += b.c_xy + dx * dy * w;
        self.mean_x += dx * b.n / n;
        self.mean_y += dy * b.n / n;
        self.n = n;
    }

    /// Pearson r, or `None` when a variance is zero.
    pub fn pearson(&self) -> Option<f64> {
        if self.m2_x == 0.0 || self.m2_y == 0.0 {
            return None;
        }
        Some(correlation(self.c_xy, self.m2_x, self.m2_y))
    }
}

/// Regularized incomplete beta function I_x(a, b), by the continued fraction
/// (modified Lentz), accurate to about 1e-15 for the arguments used here.
pub fn betainc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front =
        libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-16;
    // Convergence takes O(sqrt(max(a, b))) terms; bound the loop generously.
    let max_iter = 200 + 10 * (a.max(b).sqrt() as usize);
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=max_iter {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Two-sided p-value of a correlation coefficient `r` from `n` pairs under H0: rho = 0,
/// with the t statistic on n - 2 degrees of freedom. Equals `scipy.stats.pearsonr`'s
/// (exact beta form) and `spearmanr`'s (t approximation) p-values: both reduce to
/// I_{1-r^2}((n-2)/2, 1/2). Requires n > 2.
pub fn correlation_pvalue(r: f64, n: f64) -> f64 {
    let r = r.clamp(-1.0, 1.0);
    let x = (1.0 - r) * (1.0 + r);
    betainc((n - 2.0) / 2.0, 0.5, x).clamp(0.0, 1.0)
}

/// Fisher-z confidence interval for Pearson r, as `scipy.stats.pearsonr(...)
/// .confidence_interval(level)`; (-1, 1) when n <= 3.
pub fn pearson_confidence_interval(r: f64, n: f64, level: f64) -> (f64, f64) {
    if n <= 3.0 {
        return (-1.0, 1.0);
    }
    let z = r.atanh();
    let se = 1.0 / (n - 3.0).sqrt();
    let h = normal_ppf(0.5 + level / 2.0);
    ((z - h * se).tanh(), (z + h * se).tanh())
}

/// Quantile function of the standard normal distribution (Wichura's AS 241, PPND16;
/// relative accuracy about 1e-16).
pub fn normal_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let num = (((((((2.509_080_928_730_122_7e3 * r + 3.343_057_558_358_813e4) * r
            + 6.726_577_092_700_87e4)
            * r
            + 4.592_195_393_154_987e4)
            * r
            + 1.373_169_376_550_946e4)
            * r
            + 1.971_590_950_306_551_3e3)
            * r
            + 1.331_416_678_917_843_8e2)
            * r
            + 3.387_132_872_796_366_5)
            * q;
        let den = ((((((5.226_495_278_852_545e3 * r + 2.872_908_573_572_194_3e4) * r
            + 3.930_789_580_009_271e4)
            * r
            + 2.121_379_430_158_659_7e4)
            * r
            + 5.394_196_021_424_751e3)
            * r
            + 6.871_870_074_920_579e2)
            * r
            + 4.231_333_070_160_091e1)
            * r
            + 1.0;
        return num / den;
    }
    let r = if q < 0.0 { p } else { 1.0 - p };
    let mut r = (-r.ln()).sqrt();
    let value = if r <= 5.0 {
        r -= 1.6;
        let num = ((((((7.745_450_142_783_414e-4 * r + 2.272_384_498_926_918_4e-2) * r
            + 2.417_807_251_774_506e-1)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_546)
            * r
            + 1.423_437_110_749_683_5;
        let den = ((((((1.050_750_071_644_416_9e-9 * r + 5.475_938_084_995_345e-4) * r
            + 1.519_866_656_361_645_7e-2)
            * r
            + 1.481_039_764_274_800_8e-1)
            * r
            + 6.897_673_349_851e-1)
            * r
            + 1.676_384_830_183_803_8)
            * r
            + 2.053_191_626_637_759)
            * r
            + 1.0;
        num / den
    } else {
        r -= 5.0;
        let num = ((((((2.010_334_399_292_288_1e-7 * r + 2.711_555_568_743_487_6e-5) * r
            + 1.242_660_947_388_078_4e-3)
            * r
            + 2.653_218_952_657_612_4e-2)
            * r
            + 2.965_605_718_285_048_7e-1)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103;
        let den = ((((((2.044_263_103_389_939_7e-15 * r + 1.421_511_758_316_446e-7) * r
            + 1.846_318_317_510_054_8e-5)
            * r
            + 7.868_691_311_456_133e-4)
            * r
            + 1.487_536_129_085_061_5e-2)
            * r
            + 1.369_298_809_227_358e-1)
            * r
            + 5.998_322_065_558_88e-1)
            * r
            + 1.0;
        num / den
    };
    if q < 0.0 { -value } else { value }
}

/// Pearson r by the two-pass formula over equal-length slices (used for ranks).
pub fn pearson_two_pass(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let mean_x = sum_pairwise(x) / n;
    let mean_y = sum_pairwise(y) / n;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let dx = a - mean_x;
        let dy = b - mean_y;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some(correlation(sxy, sxx, syy))
}

/// sxy / sqrt(sxx syy), clamped to [-1, 1]. One square root of the product is exact for
/// perfectly correlated ranks (r = 1, not 0.9999999999999998); the product of square
/// roots is the fallback when the product over- or underflows.
fn correlation(sxy: f64, sxx: f64, syy: f64) -> f64 {
    let product = sxx * syy;
    let r = if product.is_finite() && product > f64::MIN_POSITIVE {
        sxy / product.sqrt()
    } else {
        sxy / (sxx.sqrt() * syy.sqrt())
    };
    r.clamp(-1.0, 1.0)
}

fn sum_pairwise(values: &[f64]) -> f64 {
    let mut s = KahanSum::default();
    for &v in values {
        s.add(v);
    }
    s.value()
}

/// Average ("mid") ranks, 1-based, ties sharing the mean of their positions, as
/// `scipy.stats.rankdata(method="average")`.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut ranks = vec![0.0; values.len()];
    for_each_tie(&sorted_keys(values), |group, doubled| {
        let rank = doubled as f64 / 2.0;
        for &(_, i) in group {
            ranks[i as usize] = rank;
        }
    });
    ranks
}

/// Calls `f` with each run of equal values of `sorted` (ascending keys; -0.0 ties 0.0)
/// and twice its average rank: positions `start..end` (0-based) share the rank
/// mean(start + 1 ..= end), so twice it is the integer `start + end + 1`.
fn for_each_tie(sorted: &[(u64, u32)], mut f: impl FnMut(&[(u64, u32)], u64)) {
    let mut start = 0;
    while start < sorted.len() {
        let v = from_key(sorted[start].0);
        let mut end = start + 1;
        while end < sorted.len() && from_key(sorted[end].0) == v {
            end += 1;
        }
        f(&sorted[start..end], (start + end + 1) as u64);
        start = end;
    }
}

/// The bit pattern of `v` as an unsigned key in `f64::total_cmp` order.
#[inline]
fn to_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

#[inline]
fn from_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// `(key, index)` of every value, ascending by key (ties in any order). One counting
/// pass distributes the keys into up to 65,536 buckets by their leading bits within the
/// keys' range, then each bucket (small, so cache-resident) is sorted on its own: about
/// twice as fast on a large group as one comparison sort, and with no indirection through
/// the values.
fn sorted_keys(values: &[f64]) -> Vec<(u64, u32)> {
    let n = values.len();
    if n < 4096 {
        let mut keys: Vec<(u64, u32)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| (to_key(v), i as u32))
            .collect();
        keys.sort_unstable_by_key(|p| p.0);
        return keys;
    }
    // The keys are recomputed from the values in each pass rather than stored: one
    // array of n pairs instead of two.
    let (lo, hi) = values.iter().fold((u64::MAX, 0), |(lo, hi), &v| {
        let k = to_key(v);
        (lo.min(k), hi.max(k))
    });
    let bits = 64 - (hi - lo).leading_zeros();
    let digit_bits = bits.min(16);
    let shift = bits - digit_bits;
    let buckets = 1usize << digit_bits;
    let digit = |k: u64| ((k - lo) >> shift) as usize;
    let mut starts = vec![0usize; buckets + 1];
    for &v in values {
        starts[digit(to_key(v)) + 1] += 1;
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
    let mut next = starts.clone();
    let mut out = vec![(0u64, 0u32); n];
    for (i, &v) in values.iter().enumerate() {
        let k = to_key(v);
        let d = digit(k);
        out[next[d]] = (k, i as u32);
        next[d] += 1;
    }
    for b in 0..buckets {
        let bucket = &mut out[starts[b]..starts[b + 1]];
        if bucket.len() > 1 {
            bucket.sort_unstable_by_key(|p| p.0);
        }
    }
    out
}

/// Spearman's rho: Pearson r of the average ranks; `None` when a column is constant.
///
/// In integers: twice an average rank is an integer `a` and the doubled ranks' mean is
/// `n + 1`, so the co-moments are `sum(a b) - n (n + 1)^2` and `sum(a^2) - n (n + 1)^2`,
/// summed exactly. `x`'s doubled ranks are written in row order; `y`'s are never
/// materialised: each run of tied `y` values multiplies its rank by the sum of its rows'
/// `x` ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n >= (u32::MAX / 2) as usize {
        // Doubled ranks would not fit in u32.
        return pearson_two_pass(&average_ranks(x), &average_ranks(y));
    }
    let rank_x = || {
        let mut doubled = vec![0u32; n];
        let mut squares = 0u128;
        for_each_tie(&sorted_keys(x), |group, a| {
            for &(_, i) in group {
                doubled[i as usize] = a as u32;
            }
            squares += group.len() as u128 * u128::from(a * a);
        });
        (doubled, squares)
    };
    let ((ax, sum_aa), sorted_y) = if n >= PARALLEL_RANKS {
        // Large groups: sort the two columns on two threads.
        std::thread::scope(|s| {
            let ranked = s.spawn(rank_x);
            let sorted_y = sorted_keys(y);
            (ranked.join().expect("ranking does not panic"), sorted_y)
        })
    } else {
        (rank_x(), sorted_keys(y))
    };
    let (mut sum_ab, mut sum_bb) = (0u128, 0u128);
    for_each_tie(&sorted_y, |group, b| {
        let sum_a: u64 = group.iter().map(|&(_, i)| u64::from(ax[i as usize])).sum();
        sum_ab += u128::from(sum_a) * u128::from(b);
        sum_bb += group.len() as u128 * u128::from(b * b);
    });
    let n = n as u128;
    let centre = n * (n + 1) * (n + 1);
    let (sxx, syy) = (sum_aa - centre, sum_bb - centre);
    if sxx == 0 || syy == 0 {
        return None;
    }
    let sxy = sum_ab as i128 - centre as i128;
    Some(correlation(sxy as f64, sxx as f64, syy as f64))
}

/// Groups at least this large rank their two columns in parallel.
const PARALLEL_RANKS: usize = 1 << 16;

/// Kendall's tau-b in O(n log n) (Knight's algorithm, as `scipy.stats.kendalltau`);
/// `None` when either column is constant.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 {
        return None;
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b]))
    });
    let total = (n as u64) * (n as u64 - 1) / 2;
    let pairs = |run: u64| run * run.saturating_sub(1) / 2;

    let (mut x_ties, mut joint_ties) = (0u64, 0u64);
    let (mut x_run, mut joint_run) = (1u64, 1u64);
    for w in order.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if x[a] == x[b] {
            x_run += 1;
            if y[a] == y[b] {
                joint_run += 1;
            } else {
                joint_ties += pairs(joint_run);
                joint_run = 1;
            }
        } else {
            x_ties += pairs(x_run);
            joint_ties += pairs(joint_run);
            x_run = 1;
            joint_run = 1;
        }
    }
    x_ties += pairs(x_run);
    joint_ties += pairs(joint_run);

    // Discordant pairs = strict inversions of y in (x, y) order, by merge sort.
    let mut ys: Vec<f64> = order.iter().map(|&i| y[i as usize]).collect();
    let mut buf = vec![0.0; n];
    let discordant = count_inversions(&mut ys, &mut buf);

    // ys is now sorted: count ties in y.
    let mut y_ties = 0u64;
    let mut y_run = 1u64;
    for w in ys.windows(2) {
        if w[0] == w[1] {
            y_run += 1;
        } else {
            y_ties += pairs(y_run);
            y_run = 1;
        }
    }
    y_ties += pairs(y_run);

    if x_ties == total || y_ties == total {
        return None;
    }
    let con_minus_dis =
        total as f64 - x_ties as f64 - y_ties as f64 + joint_ties as f64 - 2.0 * discordant as f64;
    let tau = con_minus_dis / ((total - x_ties) as f64).sqrt() / ((total - y_ties) as f64).sqrt();
    Some(tau.clamp(-1.0, 1.0))
}

/// Sorts `v` ascending and returns the number of pairs i < j with v[i] > v[j].
fn count_inversions(v: &mut [f64], buf: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let (left_buf, right_buf) = buf.split_at_mut(mid);
    let mut count = {
        let (l, r) = v.split_at_mut(mid);
        count_inversions(l, left_buf) + count_inversions(r, right_buf)
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[j] < v[i] {
            buf[k] = v[j];
            count += (mid - i) as u64;
            j += 1;
        } else {
            buf[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    while i < mid {
        buf[k] = v[i];
        i += 1;
        k += 1;
    }
    while j < n {
        buf[k] = v[j];
        j += 1;
        k += 1;
    }
    v.copy_from_slice(&buf[..n]);
    count
}

/// numpy's linear interpolation `a + (b - a) * t`, computed from the nearer end.
#[inline]
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Exact quantile of sorted values with linear interpolation between the closest
/// ranks (`numpy.quantile`'s default method). `sorted` must be non-empty.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let (lo, t) = virtual_index(sorted.len(), p);
    let hi = (lo + 1).min(sorted.len() - 1);
    lerp(sorted[lo], sorted[hi], t)
}

/// numpy's virtual index for the linear method, `n p + (1 - p) - 1`, evaluated in the
/// same order so results agree to the last bit; returns the lower rank and the weight.
#[inline]
fn virtual_index(n: usize, p: f64) -> (usize, f64) {
    let index = n as f64 * p + (1.0 - p) - 1.0;
    let last = (n - 1) as f64;
    if index <= 0.0 {
        (0, 0.0)
    } else if index >= last {
        (n - 1, 0.0)
    } else {
        let lo = index.floor();
        (lo as usize, index - lo)
    }
}

/// Exact quantile of unsorted values, in O(n) by selection; reorders `values`.
pub fn quantile_select(values: &mut [f64], p: f64) -> f64 {
    let (lo, t) = virtual_index(values.len(), p);
    let (_, &mut a, right) = values.select_nth_unstable_by(lo, f64::total_cmp);
    if t == 0.0 || right.is_empty() {
        return a;
    }
    let b = right.iter().copied().fold(f64::INFINITY, f64::min);
    lerp(a, b, t)
}

/// Several exact quantiles of unsorted values; sorts `values` once.
pub fn quantiles_sorting(values: &mut [f64], ps: &[f64]) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    ps.iter().map(|&p| quantile_sorted(values, p)).collect()
}

/// Median absolute deviation from the median (unscaled, as
/// `scipy.stats.median_abs_deviation`); reorders `values`.
pub fn median_abs_deviation(values: &mut [f64]) -> f64 {
    let median = quantile_select(values, 0.5);
    for v in values.iter_mut() {
        *v = (*v - median).abs();
    }
    quantile_select(values, 0.5)
}

/// Total order used to keep sliding-window buffers sorted.
#[inline]
pub fn cmp_f64(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}
