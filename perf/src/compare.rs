//! `compare`: runs two targets alternately (A B A B …) and reports medians and ratios.
//!
//! Alternating spreads slow drift of the machine (other load, thermal, caches) over
//! both sides instead of letting it land on one.

use std::fmt::Write;

use serde::Serialize;

use crate::config::{RunConfig, Target};
use crate::runner::{run, RunError, RunReport};

/// Medians of one phase over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseCompare {
    pub phase: String,
    pub a_ops_per_s: f64,
    pub b_ops_per_s: f64,
    pub a_mb_per_s: f64,
    pub b_mb_per_s: f64,
    pub a_p99_us: f64,
    pub b_p99_us: f64,
    /// Median over rounds of B/A ops/s, each round's pair compared on its own.
    pub ratio_b_over_a: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub workload: String,
    pub a: String,
    pub b: String,
    pub rounds: usize,
    pub phases: Vec<PhaseCompare>,
    pub runs_a: Vec<RunReport>,
    pub runs_b: Vec<RunReport>,
}

impl CompareReport {
    pub fn error_count(&self) -> u64 {
        self.runs_a
            .iter()
            .chain(&self.runs_b)
            .map(RunReport::error_count)
            .sum()
    }
}

/// The median (mean of the middle two for an even count); 0 for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `base` against `a` and `b`, `rounds` times each, alternately.
pub fn compare(
    base: &RunConfig,
    a: Target,
    b: Target,
    rounds: usize,
    mut on_run: impl FnMut(&str, &RunReport),
) -> Result<CompareReport, RunError> {
    let (mut runs_a, mut runs_b) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        for (label, t, runs) in [("A", &a, &mut runs_a), ("B", &b, &mut runs_b)] {
            let mut cfg = base.clone();
            cfg.target = t.clone();
            // SMB: each URL's share (smb://HOST:PORT/SHARE) applies to its own runs.
            if let Some(smb) = cfg.smb.as_mut() {
                if !t.export.is_empty() {
                    smb.share = t.export.clone();
                }
            }
            let r = run(&cfg)?;
            on_run(label, &r);
            runs.push(r);
        }
    }
    let mut phases = Vec::new();
    for p in runs_a.first().map(|r| r.phases.clone()).unwrap_or_default() {
        let pick = |runs: &[RunReport], f: fn(&crate::stats::PhaseReport) -> f64| -> Vec<f64> {
            runs.iter()
                .filter_map(|r| r.phases.iter().find(|q| q.name == p.name).map(f))
                .collect()
        };
        let a_ops = pick(&runs_a, |q| q.ops_per_s);
        let b_ops = pick(&runs_b, |q| q.ops_per_s);
        let ratios = a_ops
            .iter()
            .zip(&b_ops)
            .filter(|(a, _)| **a > 0.0)
            .map(|(a, b)| b / a)
            .collect();
        phases.push(PhaseCompare {
            phase: p.name.clone(),
            a_ops_per_s: median(a_ops),
            b_ops_per_s: median(b_ops),
            a_mb_per_s: median(pick(&runs_a, |q| q.mb_per_s)),
            b_mb_per_s: median(pick(&runs_b, |q| q.mb_per_s)),
            a_p99_us: median(pick(&runs_a, |q| q.p99_us)),
            b_p99_us: median(pick(&runs_b, |q| q.p99_us)),
            ratio_b_over_a: median(ratios),
        });
    }
    Ok(CompareReport {
        workload: base.workload.name().to_string(),
        a: a.url,
        b: b.url,
        rounds: rounds.max(1),
        phases,
        runs_a,
        runs_b,
    })
}

/// The human table of a comparison.
pub fn compare_table(c: &CompareReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: A = {}  B = {}  ({} rounds, medians)",
        c.workload, c.a, c.b, c.rounds
    );
    let _ = writeln!(
        s,
        "phase          A ops/s    B ops/s   A MB/s   B MB/s  A p99 us  B p99 us   B/A"
    );
    for p in &c.phases {
        let _ = writeln!(
            s,
            "{:<12} {:>9.0} {:>10.0} {:>8.1} {:>8.1} {:>9.0} {:>9.0} {:>6.2}",
            p.phase,
            p.a_ops_per_s,
            p.b_ops_per_s,
            p.a_mb_per_s,
            p.b_mb_per_s,
            p.a_p99_us,
            p.b_p99_us,
            p.ratio_b_over_a
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
