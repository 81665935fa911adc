//! Human tables of run and compare results.

use std::fmt::Write;

use crate::runner::RunReport;
use crate::stats::PhaseReport;

/// The table header of [`phase_row`].
pub const PHASE_HEADER: &str =
    "phase            ops      ops/s     MB/s   items/s   p50 us   p99 us  p99.9 us  errors";

pub fn phase_row(p: &PhaseReport) -> String {
    format!(
        "{:<12} {:>8} {:>10.0} {:>8.1} {:>9.0} {:>8.0} {:>8.0} {:>9.0} {:>7}",
        p.name,
        p.ops,
        p.ops_per_s,
        p.mb_per_s,
        p.items_per_s,
        p.p50_us,
        p.p99_us,
        p.p999_us,
        p.error_count
    )
}

/// The human table of one run, with a loud banner when anything failed.
pub fn run_table(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} on {} ({} connections x depth {}, {} threads)",
        r.workload, r.target, r.connections, r.depth, r.threads
    );
    let _ = writeln!(s, "{PHASE_HEADER}");
    for p in &r.phases {
        let _ = writeln!(s, "{}", phase_row(p));
    }
    s.push_str(&error_banner(r));
    s
}

/// Empty when the run had no errors; otherwise a banner listing them by kind.
pub fn error_banner(r: &RunReport) -> String {
    let n = r.error_count();
    if n == 0 {
        return String::new();
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    );
    let _ = writeln!(s, "!!! {n} ERRORS in {} on {}", r.workload, r.target);
    for p in &r.phases {
        for (k, v) in &p.errors {
            let _ = writeln!(s, "!!!   {}: {k} x {v}", p.name);
        }
    }
    if r.stray_replies > 0 {
        let _ = writeln!(s, "!!!   replies matching no call: {}", r.stray_replies);
    }
    let _ = writeln!(
        s,
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    );
    s
}
