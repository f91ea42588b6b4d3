//! How the file writes the values whose type is not the value's own: durations as seconds or
//! milliseconds, an interval where 0 means "off". Each is a `#[serde(with = "…")]` module, so a
//! typed section names the form once, on its field, for reading and for `check`'s printout.
//!
//! Bounds are checked before deserialization (`keys.rs`); these only convert.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// A duration in (fractional) seconds: `timeout_secs = 2.5`.
pub(super) mod secs {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// A duration in whole seconds: `every_secs = 3600`.
pub(super) mod whole_secs {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// A duration in milliseconds: `delay_ms = 500`.
pub(super) mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// An interval in whole seconds where 0 turns the thing off: `stats_interval_secs = 0`.
pub(super) mod interval_secs {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.map_or(0, |d| d.as_secs()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let secs = u64::deserialize(deserializer)?;
        Ok((secs > 0).then(|| Duration::from_secs(secs)))
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize, Serialize)]
    struct Forms {
        #[serde(with = "secs")]
        a: Duration,
        #[serde(with = "millis")]
        b: Duration,
        #[serde(with = "interval_secs")]
        c: Option<Duration>,
        #[serde(with = "whole_secs")]
        d: Duration,
    }

    #[test]
    fn durations_read_and_print_in_the_units_the_file_uses() {
        let forms: Forms = toml::from_str("a = 2.5\nb = 500\nc = 0\nd = 60\n").unwrap();
        assert_eq!(
            forms,
            Forms {
                a: Duration::from_millis(2500),
                b: Duration::from_millis(500),
                c: None,
                d: Duration::from_secs(60),
            }
        );
        let forms: Forms = toml::from_str("a = 3\nb = 0\nc = 5\nd = 0\n").unwrap();
        assert_eq!(forms.a, Duration::from_secs(3), "an integer is seconds too");
        assert_eq!(forms.c, Some(Duration::from_secs(5)));
        let text = toml::to_string(&forms).unwrap();
        assert_eq!(text, "a = 3.0\nb = 0\nc = 5\nd = 0\n");
    }
}
