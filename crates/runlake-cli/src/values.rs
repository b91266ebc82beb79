//! The command line's value parsers: clap runs them while it reads the arguments, so a
//! bad value is a usage error (exit code 2) at start-up that names the flag, e.g.
//! `error: invalid value '5x' for '--query-timeout <DURATION>': unknown time unit "x"`.

use std::time::Duration;

/// A duration in humantime's syntax: `30s`, `5m`, `12h`, `7d`, `1h 30m`, `250ms`, `0`.
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e} (expected a duration such as 30s, 5m, 12h, 7d or 1h30m)"))
}

/// A size in bytes, as bytesize reads it: `1048576`, `512MB` (10^6), `2GiB` (2^30).
pub fn size(text: &str) -> Result<usize, String> {
    let bytes: bytesize::ByteSize = text.trim().parse().map_err(|e| {
        format!(
            "{e} (expected a size such as 512MB or 2GiB: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        )
    })?;
    usize::try_from(bytes.as_u64())
        .map_err(|_| format!("{bytes} is more than this machine can address"))
}

/// `UTC`, `Z`, `+08:00`, `-0500`, `+08` -> seconds east of UTC.
pub fn offset(text: &str) -> Result<i32, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" {
        return Ok(0);
    }
    let bad = || "expected UTC or an offset such as +08:00 or -0500".to_string();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let digits = rest.replacen(':', "", 1);
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: i32 = digits[..2].parse().map_err(|_| bad())?;
    let m: i32 = if digits.len() == 4 {
        digits[2..].parse().map_err(|_| bad())?
    } else {
        0
    };
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}
