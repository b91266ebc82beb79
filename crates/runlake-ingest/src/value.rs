//! One parsed value (`Cell`), and the lenient JSON reader that run logs need: bare
//! `Infinity`, `-Infinity` and `NaN` (Python's `json.dumps`), numbers written as strings.

use serde_json::Value;

/// A value on its way into an Arrow column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(String),
    /// Microseconds since the Unix epoch, UTC.
    Ts(i64),
    FloatList(Vec<Option<f64>>),
    IntList(Vec<Option<i64>>),
    /// JSON text (nested objects, mixed lists).
    Json(String),
}

impl Cell {
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Cell::Null, Cell::Float)
    }
}

impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Cell::Null, Cell::Int)
    }
}

impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Self {
        v.map_or(Cell::Null, Cell::Str)
    }
}

/// Parses JSON text, accepting the non-standard tokens `NaN`, `Infinity` and `-Infinity`
/// outside strings (they become the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, which
/// [`as_f64`] reads back as numbers).
pub fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(e) => {
            let fixed = quote_special_floats(text);
            if fixed.len() == text.len() {
                return Err(e);
            }
            serde_json::from_str(&fixed).map_err(|_| e)
        }
    }
}

/// Rewrites bare `NaN` / `Infinity` / `-Infinity` tokens outside strings as strings.
fn quote_special_floats(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut start, mut next) = (0, 0);
    for i in outside_strings(bytes) {
        if i < next {
            continue;
        }
        if let Some(token) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| bytes[i..].starts_with(t.as_bytes()))
        {
            out.push_str(&text[start..i]);
            out.push('"');
            out.push_str(token);
            out.push('"');
            next = i + token.len();
            start = next;
        }
    }
    if start == 0 {
        return text.to_string();
    }
    out.push_str(&text[start..]);
    out
}

/// The positions of the bytes of JSON text outside string literals (and their quotes).
pub(crate) fn outside_strings(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let (mut i, mut in_string) = (0, false);
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let (at, b) = (i, bytes[i]);
            if in_string {
                i += if b == b'\\' { 2 } else { 1 };
                in_string = b != b'"';
                continue;
            }
            i += 1;
            if b == b'"' {
                in_string = true;
                continue;
            }
            return Some(at);
        }
        None
    })
}

/// Reads a number from JSON: a number, or a string holding one (`"550"`, `"1.250"`,
/// `"NaN"`, `"Infinity"`, `"inf"`). `None` for null, empty strings and `NA`.
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number(s).ok().flatten(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Reads an integer from JSON: an integral number or a string holding one.
pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        // Exact first: nanosecond timestamps do not survive a trip through f64.
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| match parse_number(s) {
                Ok(Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
                _ => None,
            }),
        _ => None,
    }
}

pub fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "1" => Some(true),
            "false" | "f" | "no" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// Whether a text field means "no value": empty, `NA`, `N/A`, `null`, `None`.
pub fn is_null_text(s: &str) -> bool {
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return false; // the common case: a number
    }
    let t = s.trim();
    t.is_empty()
        || t.eq_ignore_ascii_case("na")
        || t.eq_ignore_ascii_case("n/a")
        || t.eq_ignore_ascii_case("null")
        || t.eq_ignore_ascii_case("none")
}

/// Text that is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotANumber;

/// Parses a number written as text. `Ok(None)` for the null spellings, `NaN` for `NaN`,
/// infinities for `inf` / `Infinity`; `Err` when the text is not a number.
pub fn parse_number(s: &str) -> Result<Option<f64>, NotANumber> {
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && let Ok(f) = s.parse::<f64>()
    {
        // The common case. Text that starts with a digit and parses holds only digits,
        // '.', exponent and sign characters; anything else goes through the rules below.
        return Ok(Some(f));
    }
    if s.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() && !matches!(b.to_ascii_lowercase(), b'n' | b'i'))
    {
        // Plain text (a name): no NULL spelling, NaN or infinity starts this way.
        return Err(NotANumber);
    }
    if is_null_text(s) {
        return Ok(None);
    }
    let t = s.trim();
    if t.bytes()
        .any(|b| b.is_ascii_alphabetic() && !matches!(b, b'e' | b'E'))
    {
        let special = |names: &[&str]| names.iter().any(|n| t.eq_ignore_ascii_case(n));
        if special(&["nan"]) {
            return Ok(Some(f64::NAN));
        }
        if special(&["inf", "+inf", "infinity", "+infinity"]) {
            return Ok(Some(f64::INFINITY));
        }
        if special(&["-inf", "-infinity"]) {
            return Ok(Some(f64::NEG_INFINITY));
        }
        return Err(NotANumber);
    }
    // Reject things Rust accepts but people do not mean as numbers.
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return Err(NotANumber);
    }
    t.parse::<f64>().map(Some).map_err(|_| NotANumber)
}

/// A JSON value as a cell, guessing the type (lists of numbers become number lists).
pub fn json_cell(v: &Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => match s.as_str() {
            "NaN" => Cell::Float(f64::NAN),
            "Infinity" => Cell::Float(f64::INFINITY),
            "-Infinity" => Cell::Float(f64::NEG_INFINITY),
            _ => Cell::Str(s.clone()),
        },
        Value::Array(items) => {
            if items.iter().all(|i| i.is_i64() || i.is_null()) && items.iter().any(Value::is_i64) {
                Cell::IntList(items.iter().map(Value::as_i64).collect())
            } else if items.iter().all(|i| i.is_number() || i.is_null()) && !items.is_empty() {
                Cell::FloatList(items.iter().map(Value::as_f64).collect())
            } else {
                Cell::Json(v.to_string())
            }
        }
        Value::Object(_) => Cell::Json(v.to_string()),
    }
}

/// Seconds (as in the file) to milliseconds.
pub fn s_to_ms(v: Option<f64>) -> Option<f64> {
    v.map(|s| s * 1000.0)
}

/// Nanoseconds to milliseconds.
pub fn ns_to_ms(v: Option<f64>) -> Option<f64> {
    v.map(|ns| ns / 1e6)
}

/// Epoch seconds (float) to microseconds.
pub fn epoch_s_to_us(v: Option<f64>) -> Option<i64> {
    v.filter(|s| s.is_finite())
        .map(|s| (s * 1e6).round() as i64)
}

/// A short, stable hash (16 hex digits of SHA-256) of the text.
pub fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}
