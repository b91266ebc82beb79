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
/// [`as_f64`] reads back as numbers). Numbers are the correctly rounded doubles
/// (serde_json's `float_roundtrip`); an object with the same key twice is an error at
/// the second one (which value a tool meant is unknowable).
pub fn parse_json(text: &str) -> Result<Value, JsonError> {
    let e = match serde_json::from_str::<Strict>(text) {
        Ok(v) => return Ok(v.0),
        Err(e) => e,
    };
    let (fixed, quoted) = quote_special_floats(text);
    if quoted.is_empty() {
        return Err(JsonError::new(&e, 0));
    }
    match serde_json::from_str::<Strict>(&fixed) {
        Ok(v) => Ok(v.0),
        Err(e) => {
            // The error is in the text with the tokens quoted: its column, less the two
            // quotes added for each token before it on its line, is the file's.
            let line_start = fixed
                .split_inclusive('\n')
                .take(e.line().saturating_sub(1))
                .map(str::len)
                .sum::<usize>();
            let at = line_start + e.column().saturating_sub(1);
            let before = quoted
                .iter()
                .filter(|&&q| q >= line_start && q < at)
                .count();
            Err(JsonError::new(&e, 2 * before))
        }
    }
}

/// A JSON parse error: what, and where (1-based line and column in bytes, as serde_json
/// counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    line: usize,
    column: usize,
    message: String,
}

impl JsonError {
    fn new(e: &serde_json::Error, shift: usize) -> Self {
        let text = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        Self {
            line: e.line(),
            column: e.column().saturating_sub(shift).max(1),
            message: text.strip_suffix(&position).unwrap_or(&text).to_string(),
        }
    }

    pub fn line(&self) -> usize {
        self.line
    }

    pub fn column(&self) -> usize {
        self.column
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for JsonError {}

/// A JSON value whose objects have no key twice (serde_json's own `Value` keeps the
/// last one).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde::de::Error;
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // Checked before its value is read: the error's position is the key's.
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "the key '{key}' appears twice in one object"
                )));
            }
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Rewrites bare `NaN` / `Infinity` / `-Infinity` tokens outside strings as strings, and
/// says where in the new text each quoted token starts.
fn quote_special_floats(text: &str) -> (String, Vec<usize>) {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut start, mut next) = (0, 0);
    let mut quoted = Vec::new();
    for i in outside_strings(bytes) {
        if i < next {
            continue;
        }
        if let Some(token) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| bytes[i..].starts_with(t.as_bytes()))
        {
            out.push_str(&text[start..i]);
            quoted.push(out.len());
            out.push('"');
            out.push_str(token);
            out.push('"');
            next = i + token.len();
            start = next;
        }
    }
    if quoted.is_empty() {
        return (text.to_string(), quoted);
    }
    out.push_str(&text[start..]);
    (out, quoted)
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

/// Why text is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotANumber {
    /// It is not written as a number.
    Text,
    /// A finite number too large for a double (`1e400`): refused, never stored as an
    /// infinity (JSON readers refuse it the same way).
    OutOfRange,
}

impl NotANumber {
    /// `not a number: '…'` or `number out of range: '…'`, for a bad-row message.
    pub fn describe(self, text: &str) -> String {
        let text: String = text.chars().take(40).collect();
        match self {
            NotANumber::Text => format!("not a number: '{text}'"),
            NotANumber::OutOfRange => {
                format!("number out of range (more than a 64-bit float holds): '{text}'")
            }
        }
    }
}

/// Parses a number written as text (correctly rounded: Rust's `f64` parser). `Ok(None)`
/// for the null spellings, `NaN` for `NaN`, infinities for `inf` / `Infinity`; `Err`
/// when the text is not a number or is a finite number out of a double's range.
pub fn parse_number(s: &str) -> Result<Option<f64>, NotANumber> {
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && let Ok(f) = s.parse::<f64>()
    {
        // The common case. Text that starts with a digit and parses holds only digits,
        // '.', exponent and sign characters; anything else goes through the rules below.
        return if f.is_finite() {
            Ok(Some(f))
        } else {
            Err(NotANumber::OutOfRange)
        };
    }
    if s.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() && !matches!(b.to_ascii_lowercase(), b'n' | b'i'))
    {
        // Plain text (a name): no NULL spelling, NaN or infinity starts this way.
        return Err(NotANumber::Text);
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
        return Err(NotANumber::Text);
    }
    // Reject things Rust accepts but people do not mean as numbers.
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return Err(NotANumber::Text);
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Some(f)),
        Ok(_) => Err(NotANumber::OutOfRange),
        Err(_) => Err(NotANumber::Text),
    }
}

/// What a JSON parse error says, without its position.
fn json_error_text(e: &JsonError) -> String {
    e.message.clone()
}

/// `line L, column C: invalid JSON: …` for a JSON parse error of a text that starts on
/// line `first_line` of its file.
pub fn json_error_at(e: &JsonError, first_line: u64) -> String {
    format!(
        "line {}, column {}: invalid JSON: {}",
        first_line + (e.line() as u64).max(1) - 1,
        e.column(),
        json_error_text(e)
    )
}

/// `invalid JSON at column C: …`, the reason of a bad line of a JSON-lines file.
pub fn json_line_error(e: &JsonError) -> String {
    format!(
        "invalid JSON at column {}: {}",
        e.column(),
        json_error_text(e)
    )
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
