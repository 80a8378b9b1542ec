//! Typed reads from a [`Json`] tree that name the path of what is wrong
//! (`items[2].scores.click: is a string ("x"), expected a number`), for the
//! hand-written readers of requests, log lines and blob metadata.

use std::collections::BTreeMap;

use crate::error::{RequestError, RequestErrorKind};
use crate::json::Json;

/// `path.key`, or `key` at the top.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// `path[i]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn field_name(path: &str, top: &'static str) -> String {
    if path.is_empty() { top.to_string() } else { path.to_string() }
}

/// The error for a value of the wrong JSON type.
pub fn wrong_type(path: &str, v: &Json, expected: &str) -> RequestError {
    let found = match v {
        Json::Str(s) if s.chars().count() <= 40 => format!("a string ({})", Json::Str(s.clone())),
        Json::Num(x) => format!("the number {x}"),
        Json::Bool(b) => format!("{b}"),
        v => v.kind().to_string(),
    };
    RequestError::new(RequestErrorKind::Malformed, field_name(path, "request"), format!("is {found}, expected {expected}"))
}

/// An object's entries, after checking it has only `allowed` keys.
pub fn object<'a>(v: &'a Json, path: &str, allowed: &[&str]) -> Result<&'a [(String, Json)], RequestError> {
    let Json::Obj(entries) = v else { return Err(wrong_type(path, v, "an object")) };
    if let Some((k, _)) = entries.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(RequestError::new(RequestErrorKind::Unknown, join(path, k), format!("unknown field, expected one of {}", allowed.join(", "))));
    }
    Ok(entries)
}

/// A key that must be present.
pub fn required<'a>(v: &'a Json, path: &str, key: &str) -> Result<&'a Json, RequestError> {
    v.get(key).ok_or_else(|| RequestError::new(RequestErrorKind::Missing, join(path, key), "is missing"))
}

/// A key that may be absent or null.
pub fn optional<'a>(v: &'a Json, key: &str) -> Option<&'a Json> {
    v.get(key).filter(|x| !x.is_null())
}

pub fn number(v: &Json, path: &str) -> Result<f64, RequestError> {
    match v {
        Json::Num(x) => Ok(*x),
        v => Err(wrong_type(path, v, "a number")),
    }
}

/// A finite number that f32 holds.
pub fn finite_f32(v: &Json, path: &str) -> Result<f32, RequestError> {
    let x = number(v, path)?;
    if !x.is_finite() || x.abs() > f32::MAX as f64 {
        return Err(RequestError::new(RequestErrorKind::NotFinite, path, format!("is {x}, expected a finite number")));
    }
    Ok(x as f32)
}

/// An integer in `lo..=hi`, from an integral number (JS sends integers as floats).
pub fn integer(v: &Json, path: &str, lo: f64, hi: f64) -> Result<f64, RequestError> {
    let x = number(v, path)?;
    if x.fract() != 0.0 || !(lo..=hi).contains(&x) {
        return Err(RequestError::new(RequestErrorKind::Malformed, path, format!("is {x}, expected an integer from {lo} to {hi}")));
    }
    Ok(x)
}

pub fn boolean(v: &Json, path: &str) -> Result<bool, RequestError> {
    match v {
        Json::Bool(b) => Ok(*b),
        v => Err(wrong_type(path, v, "true or false")),
    }
}

pub fn string(v: &Json, path: &str) -> Result<String, RequestError> {
    match v {
        Json::Str(s) => Ok(s.clone()),
        v => Err(wrong_type(path, v, "a string")),
    }
}

pub fn array<'a>(v: &'a Json, path: &str) -> Result<&'a [Json], RequestError> {
    match v {
        Json::Arr(a) => Ok(a),
        v => Err(wrong_type(path, v, "an array")),
    }
}

/// An array read element by element, each error naming its index.
pub fn array_of<T>(v: &Json, path: &str, each: impl Fn(&Json, &str) -> Result<T, RequestError>) -> Result<Vec<T>, RequestError> {
    array(v, path)?.iter().enumerate().map(|(i, x)| each(x, &index(path, i))).collect()
}

/// `{name: number | null}`; null (NaN after `JSON.stringify`) is kept as
/// `None` for the schema checks to name, as is a number beyond f32.
pub fn number_map(v: &Json, path: &str) -> Result<BTreeMap<String, Option<f64>>, RequestError> {
    let Json::Obj(entries) = v else { return Err(wrong_type(path, v, "an object of numbers")) };
    // Inserted one by one: `collect` into a BTreeMap sorts first, which
    // instantiates a stable sort (4 KB of wasm) for nothing.
    let mut out = BTreeMap::new();
    for (k, x) in entries {
        let x = match x {
            Json::Null => None,
            x => Some(number(x, &join(path, k))?),
        };
        out.insert(k.clone(), x);
    }
    Ok(out)
}

/// An optional `number_map`: absent or null reads as empty.
pub fn number_map_or_empty(v: &Json, path: &str, key: &str) -> Result<BTreeMap<String, Option<f64>>, RequestError> {
    optional(v, key).map_or(Ok(BTreeMap::new()), |x| number_map(x, &join(path, key)))
}

/// Parses JSON text, reporting a syntax error at the top-level field `what`.
pub fn parse(text: &str, what: &str) -> Result<Json, RequestError> {
    Json::parse(text).map_err(|e| RequestError::new(RequestErrorKind::Malformed, what, format!("not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_path_and_what_was_found() {
        let v = Json::parse(r#"{"a": {"b": "x"}, "n": [1, 2.5]}"#).unwrap();
        let a = required(&v, "", "a").unwrap();
        let e = number(required(a, "a", "b").unwrap(), "a.b").unwrap_err();
        assert_eq!(e.to_string(), "a.b: is a string (\"x\"), expected a number");
        let e = array_of(required(&v, "", "n").unwrap(), "n", |x, p| integer(x, p, 0.0, 9.0)).unwrap_err();
        assert_eq!(e.to_string(), "n[1]: is 2.5, expected an integer from 0 to 9");
        assert_eq!(object(&v, "", &["a"]).unwrap_err().to_string(), "n: unknown field, expected one of a");
        assert_eq!(required(&v, "", "z").unwrap_err().kind(), RequestErrorKind::Missing);
        assert_eq!(finite_f32(&Json::Num(1e39), "x").unwrap_err().kind(), RequestErrorKind::NotFinite);
    }
}
