//! How a run goes beyond its scenario, targets and mode ([`Options`]), and the floor of bursts
//! that must get a 2xx ([`SuccessFloor`]).

use std::time::Duration;

use crate::error::RaceError;
use crate::wire::{REQUEST_TIMEOUT, Target};

/// The most bursts one run may fire.
pub const MAX_BURSTS: usize = 100_000;
/// The most single-packet connections per target.
pub const MAX_CONNECTIONS: usize = crate::limits::MAX_REQUESTS_PER_BURST;

/// How many bursts must have at least one 2xx for the run to count as having run as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SuccessFloor {
    /// At least this many bursts.
    Bursts(usize),
    /// At least this share of the bursts asked for, in percent (rounded up).
    Percent(f64),
}

impl Default for SuccessFloor {
    /// Every burst.
    fn default() -> Self {
        SuccessFloor::Percent(100.0)
    }
}

impl SuccessFloor {
    /// The floor for a run of `bursts` bursts.
    pub fn of(self, bursts: usize) -> usize {
        match self {
            SuccessFloor::Bursts(count) => count.min(bursts),
            SuccessFloor::Percent(percent) => {
                ((percent / 100.0 * bursts as f64).ceil() as usize).min(bursts)
            }
        }
    }
}

impl std::str::FromStr for SuccessFloor {
    type Err = String;

    /// `N` (bursts) or `P%` (of the bursts asked for).
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(percent) = text.strip_suffix('%') {
            let percent: f64 = percent
                .trim()
                .parse()
                .map_err(|_| format!("`{text}`: expected N or P%"))?;
            if !(0.0..=100.0).contains(&percent) {
                return Err(format!("`{text}`: a percentage is 0..=100"));
            }
            Ok(SuccessFloor::Percent(percent))
        } else {
            text.trim()
                .parse()
                .map(SuccessFloor::Bursts)
                .map_err(|_| format!("`{text}`: expected N or P%"))
        }
    }
}

/// How a run goes, beyond its scenario, targets and mode.
#[derive(Debug, Clone)]
pub struct Options {
    pub bursts: usize,
    /// Single-packet: connections per target, the burst's requests dealt over them.
    pub connections: usize,
    /// How long one request may take.
    pub timeout: Duration,
    /// Where setup, audit and final-state reads go (default: the primary target).
    pub read_target: Option<Target>,
    pub min_success: SuccessFloor,
}

impl Options {
    /// `bursts` bursts, one connection per target, the default timeout, reads on the primary,
    /// every burst must have a success.
    pub fn new(bursts: usize) -> Self {
        Options {
            bursts,
            connections: 1,
            timeout: REQUEST_TIMEOUT,
            read_target: None,
            min_success: SuccessFloor::default(),
        }
    }

    /// Refuses what no run may ask for (before anything is sent).
    pub fn check(&self) -> Result<(), RaceError> {
        if self.bursts == 0 || self.bursts > MAX_BURSTS {
            return Err(RaceError::Limit(format!(
                "--bursts must be 1..={MAX_BURSTS}, got {}",
                self.bursts
            )));
        }
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(RaceError::Limit(format!(
                "--connections must be 1..={MAX_CONNECTIONS}, got {}",
                self.connections
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_floors() {
        assert_eq!("3".parse::<SuccessFloor>().map(|f| f.of(10)), Ok(3));
        assert_eq!("30".parse::<SuccessFloor>().map(|f| f.of(10)), Ok(10));
        assert_eq!("95%".parse::<SuccessFloor>().map(|f| f.of(200)), Ok(190));
        assert_eq!("50%".parse::<SuccessFloor>().map(|f| f.of(3)), Ok(2));
        assert_eq!(SuccessFloor::default().of(7), 7);
        assert!("101%".parse::<SuccessFloor>().is_err());
        assert!("x".parse::<SuccessFloor>().is_err());
    }
}
