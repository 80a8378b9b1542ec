//! A small JSON reader and writer for the few documents the core reads:
//! safetensors headers, blob metadata, rank requests and log lines.
//!
//! The wasm ranker used serde_json with serde_path_to_error for these, and
//! their monomorphised deserialisers were half of the module's code and most
//! of its cold-start compile time. A tree plus hand-written readers
//! ([`crate::read`]) gives the same path-naming errors in a few KB, and both
//! targets share it, so the importer and the worker reject a line alike.

use std::fmt::{self, Write as _};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// A parsed JSON value. Objects keep their order; duplicate keys are refused.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// Where and why a text is not JSON.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{problem} at byte {offset}")]
pub struct JsonError {
    pub offset: usize,
    pub problem: &'static str,
}

impl Json {
    /// Parses one JSON value; whitespace may surround it, nothing else.
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        let mut p = Parser { b: text.as_bytes(), i: 0 };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.b.len() {
            return Err(p.fail("trailing characters after the value"));
        }
        Ok(v)
    }

    /// `"null"`, `"a boolean"`, …: what a type error says was found.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Num(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }

    /// The value of `key` in an object; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(x) => Some(*x),
            _ => None,
        }
    }

    /// A non-negative integral number below 2^53.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_f64().filter(|x| x.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(x)).map(|x| x as u64)
    }
}

/// `v["key"]` is the key's value, or null when absent, as in serde_json.
impl std::ops::Index<&str> for Json {
    type Output = Json;
    fn index(&self, key: &str) -> &Json {
        static NULL: Json = Json::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

/// Compact JSON text. Non-finite numbers, which JSON cannot hold, are written as null.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(x) if x.is_finite() => write!(f, "{x}"),
            Json::Num(_) => f.write_str("null"),
            Json::Str(s) => write_str(f, s),
            Json::Arr(a) => {
                f.write_char('[')?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(']')
            }
            Json::Obj(m) => {
                f.write_char('{')?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_str(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_str(f: &mut fmt::Formatter, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn fail(&self, problem: &'static str) -> JsonError {
        JsonError { offset: self.i, problem }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.b.get(self.i) == Some(&c);
        self.i += hit as usize;
        hit
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.fail("nesting deeper than 64 levels"));
        }
        self.ws();
        match self.b.get(self.i) {
            None => Err(self.fail("unexpected end of text")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => {
                for (word, v) in [("null", Json::Null), ("true", Json::Bool(true)), ("false", Json::Bool(false))] {
                    if self.b[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(self.fail("expected a value"))
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.i += 1;
        let mut out = Vec::new();
        if self.eat(b']') {
            return Ok(Json::Arr(out));
        }
        loop {
            out.push(self.value(depth + 1)?);
            if self.eat(b']') {
                return Ok(Json::Arr(out));
            }
            if !self.eat(b',') {
                return Err(self.fail("expected ',' or ']'"));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.i += 1;
        let mut out: Vec<(String, Json)> = Vec::new();
        if self.eat(b'}') {
            return Ok(Json::Obj(out));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.fail("expected a key string"));
            }
            let at = self.i;
            let key = self.string()?;
            if out.iter().any(|(k, _)| *k == key) {
                return Err(JsonError { offset: at, problem: "duplicate key" });
            }
            if !self.eat(b':') {
                return Err(self.fail("expected ':'"));
            }
            out.push((key, self.value(depth + 1)?));
            if self.eat(b'}') {
                return Ok(Json::Obj(out));
            }
            if !self.eat(b',') {
                return Err(self.fail("expected ',' or '}'"));
            }
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.b.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i > from
        };
        self.i += (self.b[self.i] == b'-') as usize;
        let int_start = self.i;
        if !digits(self) || (self.b[int_start] == b'0' && self.i - int_start > 1) {
            return Err(JsonError { offset: start, problem: "malformed number" });
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(JsonError { offset: start, problem: "malformed number" });
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(JsonError { offset: start, problem: "malformed number" });
            }
        }
        // The grammar above is a subset of what f64's parser takes.
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.fail("malformed number"))?;
        text.parse().map(Json::Num).map_err(|_| JsonError { offset: start, problem: "malformed number" })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self.b.get(self.i..self.i + 4).ok_or_else(|| self.fail("unexpected end of text"))?;
        let h = std::str::from_utf8(h).ok().and_then(|h| u32::from_str_radix(h, 16).ok()).ok_or_else(|| self.fail("malformed \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let run = self.i;
            while self.b.get(self.i).is_some_and(|&c| c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            // The input is a &str and the run stops only at ASCII bytes, so it is whole characters.
            out.push_str(std::str::from_utf8(&self.b[run..self.i]).map_err(|_| self.fail("invalid UTF-8"))?);
            match self.b.get(self.i) {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self.b.get(self.i).ok_or_else(|| self.fail("unterminated string"))?;
                    self.i += 1;
                    match c {
                        b'"' | b'\\' | b'/' => out.push(c as char),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.fail("unknown escape")),
                    }
                }
                Some(_) => return Err(self.fail("control character in string")),
            }
        }
    }

    /// After `\u`: one code point, from a surrogate pair if need be.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !self.b[self.i..].starts_with(b"\\u") {
                return Err(self.fail("lone surrogate in \\u escape"));
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.fail("lone surrogate in \\u escape"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.fail("lone surrogate in \\u escape"))
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Num(x) if x.fract() == 0.0 && x.abs() < 9e15 => s.serialize_i64(*x as i64),
            Json::Num(x) => s.serialize_f64(*x),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Json::Obj(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// For native code that builds provenance with `serde_json::json!`.
#[cfg(not(target_arch = "wasm32"))]
impl From<serde_json::Value> for Json {
    fn from(v: serde_json::Value) -> Json {
        use serde_json::Value as V;
        match v {
            V::Null => Json::Null,
            V::Bool(b) => Json::Bool(b),
            V::Number(n) => n.as_f64().map_or(Json::Null, Json::Num),
            V::String(s) => Json::Str(s),
            V::Array(a) => Json::Arr(a.into_iter().map(Json::from).collect()),
            V::Object(m) => Json::Obj(m.into_iter().map(|(k, v)| (k, Json::from(v))).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        let text = r#"{"a":[1,-2.5,3e2,true,false,null],"b":"x\"\\\n\u00e9\ud83d\ude00","c":{}}"#;
        let v = Json::parse(text).unwrap();
        assert_eq!(v.get("a"), Some(&Json::Arr(vec![Json::Num(1.0), Json::Num(-2.5), Json::Num(300.0), Json::Bool(true), Json::Bool(false), Json::Null])));
        assert_eq!(v.get("b"), Some(&Json::Str("x\"\\\né😀".into())));
        assert_eq!(Json::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn refuses_what_json_does_not_allow() {
        for (text, problem) in [
            ("", "unexpected end of text"),
            ("{\"a\":1,\"a\":2}", "duplicate key"),
            ("[1,]", "expected a value"),
            ("01", "malformed number"),
            ("1.", "malformed number"),
            ("-", "malformed number"),
            ("\"\\x\"", "unknown escape"),
            ("\"\\ud800\"", "lone surrogate in \\u escape"),
            ("\"a", "unterminated string"),
            ("\"\t\"", "control character in string"),
            ("{1:2}", "expected a key string"),
            ("[1] x", "trailing characters after the value"),
            ("NaN", "expected a value"),
        ] {
            assert_eq!(Json::parse(text).unwrap_err().problem, problem, "{text}");
        }
        let deep = "[".repeat(100);
        assert_eq!(Json::parse(&deep).unwrap_err().problem, "nesting deeper than 64 levels");
    }

    #[test]
    fn agrees_with_serde_json_on_numbers() {
        for text in ["0", "-0", "1e-7", "0.1", "123456789012345678", "1.7976931348623157e308", "5e-324", "2.5E+3"] {
            let ours = match Json::parse(text).unwrap() {
                Json::Num(x) => x,
                v => panic!("{v:?}"),
            };
            assert_eq!(ours, serde_json::from_str::<f64>(text).unwrap(), "{text}");
        }
    }
}
