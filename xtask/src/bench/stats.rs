//! A figure measured over several rounds: its median and its spread.

/// The median of some rounds, with the lowest and highest round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

impl Sample {
    /// The median and range of `rounds` (at least one).
    pub fn of(rounds: &[f64]) -> Sample {
        assert!(!rounds.is_empty(), "a sample needs at least one round");
        let mut sorted = rounds.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 0 {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Sample {
            median,
            low: sorted[0],
            high: sorted[sorted.len() - 1],
        }
    }

    /// A figure taken once (a count, not a timing): no spread.
    pub fn once(value: f64) -> Sample {
        Sample::of(&[value])
    }

    /// The largest distance from the median to a round, in percent of the
    /// median.
    pub fn spread_percent(&self) -> f64 {
        if self.median == 0.0 {
            return 0.0;
        }
        let distance = (self.high - self.median).max(self.median - self.low);
        100.0 * distance / self.median.abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_of_rounds() {
        let sample = Sample::of(&[10.0, 12.0, 9.0, 11.0, 30.0]);
        assert_eq!(sample.median, 11.0);
        assert_eq!((sample.low, sample.high), (9.0, 30.0));
        assert!((sample.spread_percent() - 100.0 * 19.0 / 11.0).abs() < 1e-9);
        assert_eq!(Sample::of(&[1.0, 3.0]).median, 2.0);
        assert_eq!(Sample::once(4.0).spread_percent(), 0.0);
    }
}
