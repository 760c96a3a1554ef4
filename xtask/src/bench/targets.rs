//! The performance targets the project has set itself, judged against one
//! run's figures.

use std::collections::BTreeMap;

use super::figures::{Figures, Metric};
use super::servers::{FOREIGN, LOCAL, MULTICORE, RAW, STD_THREADS, THREADS, TOKIO_CURRENT};

/// What a target compares the achieved figure with.
#[derive(Clone, Copy, Debug)]
enum Bound {
    /// The figure itself must be at most this.
    Ceiling(f64),
    /// The figure divided by the same figure of another server must be at
    /// most this.
    CeilingTimes(f64, &'static str),
    /// The figure divided by the same figure of another server must be at
    /// least this.
    FloorTimes(f64, &'static str),
}

/// One target: a server's metric within a bound.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    server: &'static str,
    metric: Metric,
    bound: Bound,
    /// Why the bound is what it is, where that is not obvious.
    note: &'static str,
}

/// How a target fared.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Met,
    /// Missed, by this many percent of the bound.
    Missed(f64),
    /// A server or figure the target needs was not measured.
    NotMeasured,
}

/// A target with what the run achieved.
#[derive(Clone, Debug)]
pub struct Judged {
    pub subject: String,
    pub required: String,
    pub achieved: String,
    pub verdict: Verdict,
    pub note: &'static str,
}

pub const TARGETS: [Target; 10] = [
    Target {
        server: LOCAL,
        metric: Metric::Syscalls,
        bound: Bound::Ceiling(3.5),
        note: "",
    },
    Target {
        server: LOCAL,
        metric: Metric::Futex,
        bound: Bound::Ceiling(0.0),
        note: "",
    },
    Target {
        server: LOCAL,
        metric: Metric::CpuPerRoundTrip,
        bound: Bound::CeilingTimes(1.15, RAW),
        note: "",
    },
    Target {
        server: LOCAL,
        metric: Metric::RoundTrips32,
        bound: Bound::FloorTimes(1.0, TOKIO_CURRENT),
        note: "",
    },
    Target {
        server: LOCAL,
        metric: Metric::Pump,
        bound: Bound::FloorTimes(1.0, TOKIO_CURRENT),
        note: "",
    },
    Target {
        server: LOCAL,
        metric: Metric::ConnectionRate,
        bound: Bound::FloorTimes(1.0, RAW),
        note: "",
    },
    Target {
        server: LOCAL,
        metric: Metric::Memory,
        bound: Bound::CeilingTimes(2.0, RAW),
        note: "",
    },
    Target {
        server: THREADS,
        metric: Metric::RoundTrips32,
        bound: Bound::FloorTimes(0.7, STD_THREADS),
        note: "",
    },
    Target {
        server: THREADS,
        metric: Metric::Pump,
        bound: Bound::FloorTimes(0.7, STD_THREADS),
        note: "",
    },
    Target {
        server: THREADS,
        metric: Metric::Futex,
        bound: Bound::Ceiling(4.0),
        note: "futex calls only where a thread really sleeps: per round trip the connection's thread sleeps in `recv` and in `write`, one wait and one wake each",
    },
];

/// The targets that one run's figures inform but cannot settle, each as a
/// sentence with the figures it rests on; `cpus` is how many CPUs the run
/// had.
pub fn readings(figures: &BTreeMap<&str, Figures>, cpus: usize) -> Vec<String> {
    let median = |server: &str, metric: Metric| {
        figures
            .get(server)
            .and_then(|figures| figures.get(&metric))
            .map(|sample| sample.median)
    };
    let shown = |server: &str, metric: Metric| {
        median(server, metric).map_or("not measured".to_string(), |value| metric.format(value))
    };
    let scaling = match (
        median(MULTICORE, Metric::RoundTrips32),
        median(LOCAL, Metric::RoundTrips32),
    ) {
        (Some(loops), Some(one)) if one > 0.0 => format!("{:.2} x", loops / one),
        _ => "not measured against".to_string(),
    };
    vec![
        format!(
            "Foreign executor, no futex call while the executor's thread is not asleep: \
             `{FOREIGN}` makes {} futex calls per round trip with 32 connections, against {} \
             with 1 connection, where the executor's thread sleeps on every round trip \
             (strace counts every thread together, so a sleep cannot be told from a needless \
             wake).",
            shown(FOREIGN, Metric::Futex32),
            shown(FOREIGN, Metric::Futex),
        ),
        format!(
            "Multi-core, round trips with 32 connections scale with the loops until the load \
             generator is the limit: `{MULTICORE}` (a loop per CPU) makes {} round trips per second, \
             {scaling} `{LOCAL}` (one loop). This run had {cpus} CPUs, shared by the server's \
             loops and the load generator, whose one thread needs about a CPU of its own: it \
             shows whether more loops still help when the client competes with them for the \
             CPUs, not how far loops scale, which needs more CPUs than the client uses.",
            shown(MULTICORE, Metric::RoundTrips32),
        ),
    ]
}

impl Target {
    /// Judges the target against the run's figures, by server name.
    pub fn judge(&self, figures: &BTreeMap<&str, Figures>) -> Judged {
        let value = |server: &str| {
            figures
                .get(server)
                .and_then(|figures| figures.get(&self.metric))
                .map(|sample| sample.median)
        };
        let subject = format!("`{}`: {}", self.server, self.metric.heading());
        let (required, achieved, verdict) = match self.bound {
            Bound::Ceiling(bound) => {
                let required = format!("<= {}", self.metric.format(bound));
                match value(self.server) {
                    Some(achieved) => (
                        required,
                        self.metric.format(achieved),
                        verdict_at_most(achieved, bound),
                    ),
                    None => (required, "-".to_string(), Verdict::NotMeasured),
                }
            }
            Bound::CeilingTimes(bound, base) | Bound::FloorTimes(bound, base) => {
                let at_most = matches!(self.bound, Bound::CeilingTimes(..));
                let required = format!(
                    "{} {bound:.2} x `{base}`",
                    if at_most { "<=" } else { ">=" }
                );
                match (value(self.server), value(base)) {
                    (Some(achieved), Some(base_value)) if base_value > 0.0 => {
                        let ratio = achieved / base_value;
                        let verdict = if at_most {
                            verdict_at_most(ratio, bound)
                        } else if ratio >= bound {
                            Verdict::Met
                        } else {
                            Verdict::Missed(100.0 * (bound - ratio) / bound)
                        };
                        (required, format!("{ratio:.2} x"), verdict)
                    }
                    _ => (required, "-".to_string(), Verdict::NotMeasured),
                }
            }
        };
        Judged {
            subject,
            required,
            achieved,
            verdict,
            note: self.note,
        }
    }
}

fn verdict_at_most(achieved: f64, bound: f64) -> Verdict {
    if achieved <= bound {
        Verdict::Met
    } else if bound > 0.0 {
        Verdict::Missed(100.0 * (achieved - bound) / bound)
    } else {
        Verdict::Missed(f64::INFINITY)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Met => f.write_str("met"),
            Verdict::Missed(percent) if percent.is_infinite() => f.write_str("missed"),
            Verdict::Missed(percent) => write!(f, "missed by {percent:.0}%"),
            Verdict::NotMeasured => f.write_str("not measured"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Sample;

    fn figures(pairs: &[(Metric, f64)]) -> Figures {
        pairs
            .iter()
            .map(|&(metric, value)| (metric, Sample::once(value)))
            .collect()
    }

    fn run(local: &[(Metric, f64)], raw: &[(Metric, f64)]) -> BTreeMap<&'static str, Figures> {
        BTreeMap::from([(LOCAL, figures(local)), (RAW, figures(raw))])
    }

    #[test]
    fn absolute_and_relative_bounds_are_judged() {
        let figures = run(
            &[
                (Metric::Syscalls, 7.0),
                (Metric::Futex, 0.0),
                (Metric::CpuPerRoundTrip, 3.0),
            ],
            &[(Metric::CpuPerRoundTrip, 3.0)],
        );
        let verdicts: Vec<Verdict> = TARGETS[..4]
            .iter()
            .map(|t| t.judge(&figures).verdict)
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Missed(100.0),
                Verdict::Met,
                Verdict::Met,
                Verdict::NotMeasured
            ]
        );
        let judged = TARGETS[0].judge(&figures);
        assert_eq!(
            (judged.required.as_str(), judged.achieved.as_str()),
            ("<= 3.50", "7.00")
        );
        assert_eq!(TARGETS[2].judge(&figures).achieved, "1.00 x");
    }

    #[test]
    fn a_shortfall_is_in_percent_of_the_bound() {
        let figures = run(
            &[(Metric::ConnectionRate, 75.0)],
            &[(Metric::ConnectionRate, 100.0)],
        );
        let judged = TARGETS[5].judge(&figures);
        assert_eq!(judged.verdict.to_string(), "missed by 25%");
        assert_eq!(judged.required, ">= 1.00 x `raw_echo`");
    }

    #[test]
    fn readings_give_the_figures_they_rest_on() {
        let figures = BTreeMap::from([
            (LOCAL, figures(&[(Metric::RoundTrips32, 50_000.0)])),
            (MULTICORE, figures(&[(Metric::RoundTrips32, 75_000.0)])),
            (FOREIGN, figures(&[(Metric::Futex, 4.0)])),
        ]);
        let readings = readings(&figures, 2);
        assert!(
            readings[0].contains(
                "not measured futex calls per round trip with 32 connections, against 4.00"
            ),
            "{}",
            readings[0]
        );
        assert!(
            readings[1].contains("75.0k round trips per second, 1.50 x `local_echo`"),
            "{}",
            readings[1]
        );
        assert!(readings[1].contains("This run had 2 CPUs"));
    }
}
