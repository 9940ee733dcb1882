//! Scalar value types of the configuration and the serde helpers that read
//! them the way Go's `yaml.v2` does.
//!
//! Owns [`PromDuration`] (Prometheus duration syntax), [`ByteSize`]
//! (`units.Base2Bytes`: `10MB`, `1GiB`) and the lenient string readers: Go
//! reads `replacement: 9100` into a string field, serde would refuse it.
//! Knows nothing of scrape configs or relabeling.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use pharos_model::duration::{format_duration, parse_duration};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written in Prometheus syntax (`15s`, `1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    pub fn from_secs(s: u64) -> PromDuration {
        PromDuration(Duration::from_secs(s))
    }
    pub fn from_millis(ms: u64) -> PromDuration {
        PromDuration(Duration::from_millis(ms))
    }
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl From<Duration> for PromDuration {
    fn from(d: Duration) -> Self {
        PromDuration(d)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = lenient_string(d)?;
        parse_duration(&s)
            .map(PromDuration)
            .map_err(de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A byte count in `units.Base2Bytes` syntax: `512KB`, `10MiB`; all units are powers of 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const BYTE_UNITS: [(&str, u32); 7] = [
    ("B", 0),
    ("K", 1),
    ("M", 2),
    ("G", 3),
    ("T", 4),
    ("P", 5),
    ("E", 6),
];

impl ByteSize {
    /// Parses `0`, `1024`, `512KB`, `10MiB`, `1GB` (all base 2, as Prometheus does).
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let err = || format!("invalid byte size {s:?}");
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(err());
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        if unit.is_empty() {
            return Ok(ByteSize(n));
        }
        let base = unit
            .strip_suffix("iB")
            .or_else(|| unit.strip_suffix('B'))
            .unwrap_or(unit);
        let base = if base.is_empty() { "B" } else { base };
        let pow = BYTE_UNITS
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(base))
            .map(|(_, p)| *p)
            .ok_or_else(err)?;
        1024u64
            .checked_pow(pow)
            .and_then(|m| n.checked_mul(m))
            .map(ByteSize)
            .ok_or_else(err)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.0;
        if n == 0 {
            return f.write_str("0B");
        }
        let mut unit = 0;
        while n & 1023 == 0 && unit < BYTE_UNITS.len() - 1 {
            n /= 1024;
            unit += 1;
        }
        match unit {
            0 => write!(f, "{n}B"),
            u => write!(f, "{n}{}iB", BYTE_UNITS[u].0),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = lenient_string(d)?;
        ByteSize::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

struct ScalarString;

impl Visitor<'_> for ScalarString {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

/// A string field that also takes a number or a boolean, as Go's YAML does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Str(pub String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarString).map(Str)
    }
}

/// Reads a scalar as a string.
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(ScalarString)
}

/// Reads an optional scalar as a string.
pub fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Str>::deserialize(d)?.map(|s| s.0))
}

/// Reads a list of scalars as strings; `null` is the empty list.
pub fn lenient_string_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<Str>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.0)
        .collect())
}

/// Reads a map of scalars as strings; `null` is the empty map.
pub fn lenient_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, Str>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// Reads `map[string][]string` (scrape `params`).
pub fn lenient_params<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    Ok(
        Option::<BTreeMap<String, Option<Vec<Str>>>>::deserialize(d)?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default().into_iter().map(|s| s.0).collect()))
            .collect(),
    )
}

/// Reads a `null` as the type's default (Go leaves a nil slice).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(ByteSize::parse("0").unwrap(), ByteSize(0));
        assert_eq!(ByteSize::parse("100").unwrap(), ByteSize(100));
        assert_eq!(ByteSize::parse("10MB").unwrap(), ByteSize(10 << 20));
        assert_eq!(ByteSize::parse("10MiB").unwrap(), ByteSize(10 << 20));
        assert_eq!(ByteSize::parse("1KB").unwrap(), ByteSize(1024));
        assert_eq!(ByteSize::parse("3B").unwrap(), ByteSize(3));
        assert!(ByteSize::parse("10XB").is_err());
        assert!(ByteSize::parse("MB").is_err());
        assert_eq!(ByteSize(10 << 20).to_string(), "10MiB");
    }

    #[test]
    fn durations_and_lenient_strings() {
        #[derive(Deserialize)]
        struct T {
            d: PromDuration,
            #[serde(deserialize_with = "lenient_string")]
            s: String,
            #[serde(deserialize_with = "lenient_string_map")]
            m: BTreeMap<String, String>,
        }
        let t: T = serde_yaml::from_str("d: 1m30s\ns: 9100\nm: {a: 1, b: true, c: x}").unwrap();
        assert_eq!(t.d, PromDuration::from_secs(90));
        assert_eq!(t.s, "9100");
        assert_eq!(t.m["a"], "1");
        assert_eq!(t.m["b"], "true");
        assert!(serde_yaml::from_str::<PromDuration>("1.5s").is_err());
    }
}
