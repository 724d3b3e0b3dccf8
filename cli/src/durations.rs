//! Durations in the config: every `*_secs` and `*_ms` key takes a number in
//! its unit (`cache_ttl_secs = 60`, `read_timeout_ms = 500`), as always, or a
//! duration with its unit (`"10s"`, `"250ms"`, `"2m"`, `"1h 30m"`).

use serde::de::{Deserializer, Error, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// The unit a bare number is in.
pub trait Unit {
    const NAME: &'static str;
    fn duration(n: u64) -> Duration;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds;

impl Unit for Seconds {
    const NAME: &'static str = "seconds";
    fn duration(n: u64) -> Duration {
        Duration::from_secs(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis;

impl Unit for Millis {
    const NAME: &'static str = "milliseconds";
    fn duration(n: u64) -> Duration {
        Duration::from_millis(n)
    }
}

/// A duration read from a key in unit `U`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length<U> {
    pub duration: Duration,
    unit: PhantomData<U>,
}

/// A `*_secs` key.
pub type Secs = Length<Seconds>;
/// A `*_ms` key.
pub type Ms = Length<Millis>;

impl<U> Length<U> {
    fn new(duration: Duration) -> Self {
        Length {
            duration,
            unit: PhantomData,
        }
    }
}

impl<U: Unit> Length<U> {
    /// Whole seconds, for settings kept as seconds; a fraction is refused.
    pub fn whole_secs(&self) -> Result<i64, String> {
        if self.duration.subsec_nanos() != 0 {
            return Err(format!(
                "`{}` is not a whole number of seconds",
                humantime::format_duration(self.duration)
            ));
        }
        i64::try_from(self.duration.as_secs()).map_err(|_| "too long".to_string())
    }
}

struct LengthVisitor<U>(PhantomData<U>);

impl<U: Unit> Visitor<'_> for LengthVisitor<U> {
    type Value = Length<U>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a number of {} or a duration like \"10s\", \"250ms\" or \"2m\"",
            U::NAME
        )
    }

    fn visit_u64<E: Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Length::new(U::duration(n)))
    }

    fn visit_i64<E: Error>(self, n: i64) -> Result<Self::Value, E> {
        u64::try_from(n)
            .map(|n| Length::new(U::duration(n)))
            .map_err(|_| E::custom(format!("`{n}`: a duration cannot be negative")))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
        let text = text.trim();
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Length::new(U::duration(n)));
        }
        humantime::parse_duration(text)
            .map(Length::new)
            .map_err(|e| {
                E::custom(format!(
                    "`{text}` is not a duration ({e}): write it like \"10s\", \"250ms\" \
                     or \"2m\", or as a number of {}",
                    U::NAME
                ))
            })
    }
}

impl<'de, U: Unit> serde::Deserialize<'de> for Length<U> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LengthVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Keys {
        a_secs: Secs,
        b_ms: Ms,
    }

    fn read(text: &str) -> Result<Keys, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_are_in_the_keys_unit_and_strings_carry_their_own() {
        let k = read("a_secs = 10\nb_ms = 250\n").unwrap();
        assert_eq!(k.a_secs.duration, Duration::from_secs(10));
        assert_eq!(k.b_ms.duration, Duration::from_millis(250));
        let k = read("a_secs = \"2m\"\nb_ms = \"1s 500ms\"\n").unwrap();
        assert_eq!(k.a_secs.duration, Duration::from_secs(120));
        assert_eq!(k.b_ms.duration, Duration::from_millis(1500));
        let k = read("a_secs = \"10s\"\nb_ms = \"250ms\"\n").unwrap();
        assert_eq!(k.a_secs.duration, Duration::from_secs(10));
        assert_eq!(k.a_secs.whole_secs(), Ok(10));
        assert_eq!(k.b_ms.duration, Duration::from_millis(250));
        let err = read("a_secs = \"soon\"\nb_ms = 1\n").unwrap_err();
        assert!(err.contains("`soon` is not a duration"), "{err}");
        let err = read("a_secs = -1\nb_ms = 1\n").unwrap_err();
        assert!(err.contains("cannot be negative"), "{err}");
        let k = read("a_secs = \"1500ms\"\nb_ms = 1\n").unwrap();
        assert!(k.a_secs.whole_secs().is_err());
    }
}
