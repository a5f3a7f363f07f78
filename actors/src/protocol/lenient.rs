//! Lenient decoding of the loosely typed JSON that real clients send: ids as numbers or as
//! numeric strings, booleans as `true`/`1`/`"true"`.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

/// 2⁶³ as a float: the first whole number past `i64`'s range.
const I64_END: f64 = 9_223_372_036_854_775_808.0;

/// Reads an integer from a JSON number or a numeric string (`123`, `"123"`, `123.0`). A number
/// outside `i64`'s range (`99999999999999999999999`, `1e30`) is not an integer here: it is
/// refused, never clamped to `i64::MAX`.
pub fn int_from_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (-I64_END..I64_END).contains(f))
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads an `i32` (message ids, face ids, dice values) like [`int_from_value`]; out of range
/// is refused.
pub fn int32_from_value(value: &Value) -> Option<i32> {
    int_from_value(value).and_then(|n| i32::try_from(n).ok())
}

/// Reads a boolean from `true`/`false`, `1`/`0` or their string forms.
pub fn bool_from_value(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// serde helper: an `i64` field that also accepts a numeric string.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    int_from_value(&v).ok_or_else(|| de::Error::custom(format!("expected an integer, got {v}")))
}

/// serde helper: an `i32` field that also accepts a numeric string.
pub fn int32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = int(d)?;
    i32::try_from(n).map_err(|_| de::Error::custom(format!("{n} is out of range")))
}

/// serde helper: an optional `i64` field (absent or `null` → `None`) that also accepts a
/// numeric string. Use with `#[serde(default)]`.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    int_from_value(&v)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("expected an integer, got {v}")))
}

/// serde helper: an optional `i32` field, like [`opt_int`].
pub fn opt_int32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    match opt_int(d)? {
        None => Ok(None),
        Some(n) => i32::try_from(n)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("{n} is out of range"))),
    }
}

/// serde helper: a `bool` field that also accepts `1`/`0` and their string forms.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    bool_from_value(&v).ok_or_else(|| de::Error::custom(format!("expected a boolean, got {v}")))
}

/// serde helper: an optional string field where `null` means absent.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_come_as_numbers_or_numeric_strings() {
        assert_eq!(int_from_value(&json!(123)), Some(123));
        assert_eq!(int_from_value(&json!("123")), Some(123));
        assert_eq!(int_from_value(&json!(-1)), Some(-1));
        assert_eq!(int_from_value(&json!(12.0)), Some(12));
        assert_eq!(int_from_value(&json!(12.5)), None);
        assert_eq!(int_from_value(&json!("BindQQ")), None);
        assert_eq!(int_from_value(&json!(null)), None);
    }

    #[test]
    fn numbers_out_of_range_are_refused_not_clamped() {
        let huge: Value = serde_json::from_str("99999999999999999999999").expect("json");
        assert_eq!(int_from_value(&huge), None);
        assert_eq!(int_from_value(&json!(1e30)), None);
        assert_eq!(int_from_value(&json!(-1e30)), None);
        assert_eq!(int_from_value(&json!("99999999999999999999999")), None);
        assert_eq!(int_from_value(&json!(i64::MAX)), Some(i64::MAX));
        assert_eq!(int_from_value(&json!(i64::MIN)), Some(i64::MIN));
        assert_eq!(int_from_value(&json!(9.2e18)), Some(9_200_000_000_000_000_000));
        assert_eq!(int32_from_value(&json!(2_147_483_647)), Some(i32::MAX));
        assert_eq!(int32_from_value(&json!(2_147_483_648_i64)), None);
        assert_eq!(int32_from_value(&json!("-5")), Some(-5));
    }

    #[test]
    fn booleans_come_in_several_spellings() {
        assert_eq!(bool_from_value(&json!(true)), Some(true));
        assert_eq!(bool_from_value(&json!(0)), Some(false));
        assert_eq!(bool_from_value(&json!("true")), Some(true));
        assert_eq!(bool_from_value(&json!("yes")), None);
    }
}
