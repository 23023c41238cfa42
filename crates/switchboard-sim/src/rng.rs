//! The simulator's randomness: SplitMix64 and the few distributions the model draws from.
//!
//! Why hand-written rather than `rand`: generated files are fixtures (golden replays, benchmark
//! inputs), so a seed must give the same bytes on every platform and with every future build.
//! `rand`'s `SmallRng` is documented as not reproducible across versions and platforms, and `StdRng`
//! may change algorithm between releases. SplitMix64 is a few lines, passes BigCrush, and its 2^64
//! period is far beyond any run (a million events draw a few million numbers); it is not for
//! cryptography, which a simulator does not need.
//!
//! For the same reason the exponential distribution does not call `f64::ln`: that comes from the
//! platform's libm, whose last bit may differ between platforms, which would now and then move a
//! timestamp by a millisecond. [`ln`] uses only IEEE-754 basic operations, which are correctly
//! rounded everywhere, so every draw is bit-for-bit the same on every machine.

/// SplitMix64 (Steele, Lea, Flood 2014; the constants of Vigna's reference implementation).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole future is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1], in steps of 2^-53: never 0, so its logarithm is finite.
    pub(crate) fn unit(&mut self) -> f64 {
        const STEP: f64 = 1.0 / (1u64 << 53) as f64;
        ((self.next_u64() >> 11) + 1) as f64 * STEP
    }

    /// True with probability `p` (0 never, 1 always).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() <= p
    }

    /// Uniform in `0..n`; 0 when `n` is 0. Lemire's multiply-shift: the bias is below 2^-32 for
    /// every `n` the model uses, far under anything a simulation could notice.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// Exponentially distributed with this mean.
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        -ln(self.unit()) * mean
    }

    /// Erlang-distributed (a sum of `k` exponentials) with this mean: right-skewed like real handle
    /// times, but without the near-zero durations a plain exponential gives.
    pub(crate) fn erlang(&mut self, k: u32, mean: f64) -> f64 {
        let k = k.max(1);
        (0..k).map(|_| self.exp(mean / f64::from(k))).sum()
    }

    /// One item of a weighted table.
    pub(crate) fn pick<T: Copy, const N: usize>(&mut self, table: &[(T, u32); N]) -> T {
        const { assert!(N > 0, "a weighted table needs an item") };
        let total: u64 = table.iter().map(|&(_, w)| u64::from(w)).sum();
        let mut x = self.below(total);
        for &(item, w) in table {
            let w = u64::from(w);
            if x < w {
                return item;
            }
            x -= w;
        }
        // Only an all-zero table gets here.
        table[N - 1].0
    }
}

/// Natural logarithm of a positive, finite, normal `x`, to within a few ulps, from basic
/// operations only (see the module documentation for why).
pub(crate) fn ln(x: f64) -> f64 {
    const LN_2: f64 = std::f64::consts::LN_2;
    const SQRT_2: f64 = std::f64::consts::SQRT_2;
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // Centre the mantissa on 1 so the series below converges fast: m in [0.707, 1.414].
    if m > SQRT_2 {
        m *= 0.5;
        exponent += 1;
    }
    // ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), with |s| <= 0.172, so s^2 <= 0.0295 and
    // eleven terms leave an error below 2^-60.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut power = s;
    let mut sum = s;
    for k in 1..=11 {
        power *= s2;
        sum += power / f64::from(2 * k + 1);
    }
    2.0 * sum + exponent as f64 * LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of Vigna's splitmix64.c seeded with 1234567.
        let mut r = Rng::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        assert_eq!(r.next_u64(), 9817491932198370423);
    }

    #[test]
    fn ln_agrees_with_libm() {
        let mut r = Rng::new(7);
        for _ in 0..100_000 {
            let x = r.unit();
            let (ours, libm) = (ln(x), x.ln());
            assert!((ours - libm).abs() <= 4.0 * f64::EPSILON * libm.abs().max(1.0), "{x}: {ours} vs {libm}");
        }
        for x in [1.0, 2.0, 0.5, 1e-300, 1e300, std::f64::consts::E] {
            assert!((ln(x) - x.ln()).abs() <= 1e-12 * x.ln().abs().max(1.0), "{x}");
        }
    }

    #[test]
    fn distributions_have_their_means() {
        let mut r = Rng::new(42);
        let n = 200_000;
        let exp: f64 = (0..n).map(|_| r.exp(10.0)).sum::<f64>() / f64::from(n);
        assert!((exp - 10.0).abs() < 0.1, "{exp}");
        let erlang: f64 = (0..n).map(|_| r.erlang(3, 6.0)).sum::<f64>() / f64::from(n);
        assert!((erlang - 6.0).abs() < 0.05, "{erlang}");
        let hits = (0..n).filter(|_| r.chance(0.25)).count() as f64 / f64::from(n);
        assert!((hits - 0.25).abs() < 0.005, "{hits}");
        assert!((0..1000).all(|_| r.range(3, 5) >= 3 && r.range(3, 5) <= 5));
        assert_eq!(r.below(0), 0);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[r.pick(&[(0usize, 1), (1, 2), (2, 0)])] += 1;
        }
        assert_eq!(counts[2], 0);
        assert!((counts[1] as f64 / counts[0] as f64 - 2.0).abs() < 0.1, "{counts:?}");
    }
}
