//! What the bench measures of each server: the metrics, how each is shown,
//! and which way is better.

use std::collections::BTreeMap;

use super::stats::Sample;

/// One measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    RoundTripsOneCpu,
    RoundTripsTwoCpus,
    RoundTrips32,
    Pump,
    ConnectionRate,
    Memory,
    CpuPerRoundTrip,
    Syscalls,
    Futex,
    Syscalls32,
    Futex32,
}

/// How a metric's values read.
#[derive(Clone, Copy)]
enum Unit {
    PerSecond,
    MibPerSecond,
    Kib,
    Microseconds,
    Count,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::RoundTripsOneCpu,
        Metric::RoundTripsTwoCpus,
        Metric::RoundTrips32,
        Metric::Pump,
        Metric::ConnectionRate,
        Metric::Memory,
        Metric::CpuPerRoundTrip,
        Metric::Syscalls,
        Metric::Futex,
        Metric::Syscalls32,
        Metric::Futex32,
    ];

    /// The speeds: timed over rounds, higher is better.
    pub const SPEEDS: [Metric; 5] = [
        Metric::RoundTripsOneCpu,
        Metric::RoundTripsTwoCpus,
        Metric::RoundTrips32,
        Metric::Pump,
        Metric::ConnectionRate,
    ];

    /// The costs: lower is better.
    pub const COSTS: [Metric; 6] = [
        Metric::Memory,
        Metric::CpuPerRoundTrip,
        Metric::Syscalls,
        Metric::Futex,
        Metric::Syscalls32,
        Metric::Futex32,
    ];

    /// A short column heading.
    pub fn heading(self) -> &'static str {
        match self {
            Metric::RoundTripsOneCpu => "rt/s 1 CPU",
            Metric::RoundTripsTwoCpus => "rt/s 2 CPUs",
            Metric::RoundTrips32 => "rt/s c=32",
            Metric::Pump => "pump MiB/s",
            Metric::ConnectionRate => "conn/s",
            Metric::Memory => "KiB/conn",
            Metric::CpuPerRoundTrip => "CPU us/rt",
            Metric::Syscalls => "syscalls/rt",
            Metric::Futex => "futex/rt",
            Metric::Syscalls32 => "syscalls/rt c=32",
            Metric::Futex32 => "futex/rt c=32",
        }
    }

    /// What the metric is, in a sentence fragment.
    pub fn description(self) -> &'static str {
        match self {
            Metric::RoundTripsOneCpu => {
                "one-byte round trips per second on 1 connection, client and server on the same CPU"
            }
            Metric::RoundTripsTwoCpus => {
                "one-byte round trips per second on 1 connection, client and server each on a CPU of its own"
            }
            Metric::RoundTrips32 => {
                "one-byte round trips per second, summed over 32 connections each with one byte in flight"
            }
            Metric::Pump => {
                "MiB per second echoed on 1 connection with 256 KiB in flight, every byte checked"
            }
            Metric::ConnectionRate => {
                "connections per second, one after another: connect, echo one byte, close"
            }
            Metric::Memory => {
                "server resident memory per idle connection (each has echoed one byte)"
            }
            Metric::CpuPerRoundTrip => {
                "server CPU time (user + system) per round trip, during the 1-CPU round trips"
            }
            Metric::Syscalls => {
                "server system calls per round trip on 1 connection (strace -c -f), the client pausing before each so that the server waits for every byte"
            }
            Metric::Futex => "server futex calls per round trip on 1 connection, paced as above",
            Metric::Syscalls32 => {
                "server system calls per round trip with 32 connections, unpaced: a busy server"
            }
            Metric::Futex32 => "server futex calls per round trip with 32 connections, unpaced",
        }
    }

    pub fn higher_is_better(self) -> bool {
        Metric::SPEEDS.contains(&self)
    }

    fn unit(self) -> Unit {
        match self {
            Metric::RoundTripsOneCpu
            | Metric::RoundTripsTwoCpus
            | Metric::RoundTrips32
            | Metric::ConnectionRate => Unit::PerSecond,
            Metric::Pump => Unit::MibPerSecond,
            Metric::Memory => Unit::Kib,
            Metric::CpuPerRoundTrip => Unit::Microseconds,
            Metric::Syscalls | Metric::Futex | Metric::Syscalls32 | Metric::Futex32 => Unit::Count,
        }
    }

    /// A value of this metric, as the tables show it.
    pub fn format(self, value: f64) -> String {
        match self.unit() {
            Unit::PerSecond if value >= 1e6 => format!("{:.2}M", value / 1e6),
            Unit::PerSecond if value >= 1e4 => format!("{:.1}k", value / 1e3),
            Unit::PerSecond | Unit::MibPerSecond => format!("{value:.0}"),
            Unit::Kib => format!("{value:.1}"),
            Unit::Microseconds | Unit::Count => format!("{value:.2}"),
        }
    }

    /// A sample of this metric with its spread, when it has one.
    pub fn format_sample(self, sample: &Sample) -> String {
        let value = self.format(sample.median);
        if sample.low == sample.high {
            value
        } else {
            format!("{value} ±{:.0}%", sample.spread_percent())
        }
    }
}

/// One server's figures, by metric.
pub type Figures = BTreeMap<Metric, Sample>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_a_speed_or_a_cost() {
        for metric in Metric::ALL {
            let speed = Metric::SPEEDS.contains(&metric);
            assert_ne!(speed, Metric::COSTS.contains(&metric), "{metric:?}");
            assert_eq!(speed, metric.higher_is_better());
        }
        assert_eq!(
            Metric::SPEEDS.len() + Metric::COSTS.len(),
            Metric::ALL.len()
        );
    }

    #[test]
    fn values_read_in_their_units() {
        assert_eq!(Metric::RoundTrips32.format(123_456.0), "123.5k");
        assert_eq!(Metric::ConnectionRate.format(2_500_000.0), "2.50M");
        assert_eq!(Metric::ConnectionRate.format(9_999.4), "9999");
        assert_eq!(Metric::Pump.format(1234.4), "1234");
        assert_eq!(Metric::Futex.format(2.0), "2.00");
        let sample = Sample::of(&[90.0, 100.0, 105.0]);
        assert_eq!(Metric::Pump.format_sample(&sample), "100 ±10%");
        assert_eq!(Metric::Syscalls.format_sample(&Sample::once(3.0)), "3.00");
    }
}
