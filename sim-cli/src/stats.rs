//! Statistics across seeds: means, 95% confidence intervals (Student's t), and paired
//! differences (common random numbers make runs with the same seed comparable).

/// Two-sided 95% critical values of Student's t for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        1..=30 => T95[df - 1],
        // Cornish–Fisher expansion around the normal quantile: accurate to 1e-4 beyond 30.
        _ => {
            let z: f64 = 1.959_964;
            let n = df as f64;
            z + (z.powi(3) + z) / (4.0 * n) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
        }
    }
}

/// A mean with its 95% confidence interval (`None` bounds with fewer than 2 values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Estimate {
    /// Whether the interval excludes zero (for differences).
    pub fn significant(&self) -> Option<bool> {
        Some(self.low? > 0.0 || self.high? < 0.0)
    }

    /// Half the interval's width.
    pub fn half_width(&self) -> Option<f64> {
        Some((self.high? - self.low?) / 2.0)
    }
}

/// Mean and 95% confidence interval of `values`.
pub fn estimate(values: &[f64]) -> Estimate {
    let n = values.len();
    if n == 0 {
        return Estimate { mean: f64::NAN, low: None, high: None };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Estimate { mean, low: None, high: None };
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    let half = t95(n - 1) * (var / n as f64).sqrt();
    Estimate { mean, low: Some(mean - half), high: Some(mean + half) }
}

/// The paired difference `a − b` (same seeds), with its confidence interval.
pub fn paired_difference(a: &[f64], b: &[f64]) -> Estimate {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    estimate(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_values() {
        assert_eq!(t95(1), 12.706);
        assert!((t95(60) - 2.000).abs() < 1e-3);
        assert!((t95(1000) - 1.962).abs() < 1e-3);
    }

    #[test]
    fn interval_of_known_values() {
        let e = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // sd = 1.5811, se = 0.7071, t(4) = 2.776
        assert!((e.half_width().unwrap() - 2.776 * std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(estimate(&[1.0]).low, None);
        let d = paired_difference(&[2.0, 3.0, 4.0], &[1.0, 2.0, 3.1]);
        assert_eq!(d.significant(), Some(true));
    }
}
