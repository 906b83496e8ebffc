//! Time points as EOS.IO writes them: seconds (`TimePointSec`, transaction expiration) and
//! milliseconds (`TimePoint`, block timestamps) since the Unix epoch, in JSON as
//! `YYYY-MM-DDTHH:MM:SS` and `YYYY-MM-DDTHH:MM:SS.mmm` (UTC, no zone suffix).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const SEC: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
const MS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]");

/// Seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimePointSec(pub u32);

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimePoint(pub u64);

/// CPU time the calling thread has used, in nanoseconds (0 where the platform has no
/// per-thread clock). Stage counters take it around their work so that time a thread
/// spent preempted or blocked is not counted as busy.
pub fn thread_cpu_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec, which outlives the call.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    0
}

/// Adds to `counter` the calling thread's CPU time since `started` (a [`thread_cpu_ns`]
/// reading taken before the work).
pub fn add_cpu_since(counter: &std::sync::atomic::AtomicU64, started: u64) {
    counter.fetch_add(thread_cpu_ns().saturating_sub(started), std::sync::atomic::Ordering::Relaxed);
}

/// A time string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad time {0:?}: expected YYYY-MM-DDTHH:MM:SS[.mmm] (UTC)")]
pub struct TimeError(String);

fn parse_utc(s: &str) -> Result<OffsetDateTime, TimeError> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    PrimitiveDateTime::parse(s, MS)
        .or_else(|_| PrimitiveDateTime::parse(s, SEC))
        .map(|p| p.assume_utc())
        .map_err(|_| TimeError(s.to_string()))
}

impl TimePointSec {
    /// The current time.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc().unix_timestamp() as u32)
    }
}

impl TimePoint {
    /// The current time.
    pub fn now() -> Self {
        Self((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64)
    }
    /// Whole seconds.
    pub fn sec(self) -> TimePointSec {
        TimePointSec((self.0 / 1000) as u32)
    }
}

impl fmt::Display for TimePointSec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = OffsetDateTime::from_unix_timestamp(i64::from(self.0)).map_err(|_| fmt::Error)?;
        f.write_str(&t.format(SEC).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Display for TimePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .map_err(|_| fmt::Error)?;
        f.write_str(&t.format(MS).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for TimePointSec {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, TimeError> {
        let t = parse_utc(s)?;
        u32::try_from(t.unix_timestamp()).map(Self).map_err(|_| TimeError(s.to_string()))
    }
}

impl FromStr for TimePoint {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, TimeError> {
        let t = parse_utc(s)?;
        u64::try_from(t.unix_timestamp_nanos() / 1_000_000).map(Self).map_err(|_| TimeError(s.to_string()))
    }
}

macro_rules! time_serde {
    ($t:ty, $inner:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    // Display fails past year 9999; report it rather than panic in serde_json.
                    let mut text = String::new();
                    std::fmt::Write::write_fmt(&mut text, format_args!("{self}")).map_err(|_| {
                        serde::ser::Error::custom(format!("time {} has no text form", self.0))
                    })?;
                    s.serialize_str(&text)
                } else {
                    self.0.serialize(s)
                }
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
                } else {
                    <$inner>::deserialize(d).map(Self)
                }
            }
        }
    };
}
time_serde!(TimePointSec, u32);
time_serde!(TimePoint, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eos_style_text() {
        let t: TimePointSec = "2018-06-08T08:08:08".parse().unwrap();
        assert_eq!(t.0, 1528445288);
        assert_eq!(t.to_string(), "2018-06-08T08:08:08");
        let m: TimePoint = "2019-12-22T19:32:23.500".parse().unwrap();
        assert_eq!(m.to_string(), "2019-12-22T19:32:23.500");
        assert_eq!(m.0 % 1000, 500);
        assert!("yesterday".parse::<TimePointSec>().is_err());
    }
}
