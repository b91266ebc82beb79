//! SQL-friendly column names: `Predicted Latency (ms)` -> `predicted_latency_ms`.

/// Turns any column name into lowercase snake_case made of ASCII letters, digits and `_`:
/// camelCase and spaces split into words, punctuation is dropped, `%` becomes `pct`, and a
/// leading digit gets a `_` prefix. An empty result becomes `column`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    let mut pending_sep = false;
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            // camelCase / PascalCase boundaries: aB, and ABc (the B starts a word).
            let boundary = c.is_ascii_uppercase()
                && prev.is_some_and(|p| {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
                });
            if (pending_sep || boundary) && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            pending_sep = false;
            out.push(c.to_ascii_lowercase());
        } else if c == '%' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push_str("pct");
            pending_sep = true;
        } else if c == '_' && out.is_empty() && i == 0 {
            // keep a leading underscore: provenance-like names stay distinguishable
            out.push('_');
        } else {
            pending_sep = true;
        }
    }
    while out.ends_with('_') && out.len() > 1 {
        out.pop();
    }
    if out.is_empty() || out == "_" {
        return "column".to_string();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Makes `names` unique after snake-casing: a repeat gets `_2`, `_3`, ...
pub fn unique_snake_case(names: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    names
        .iter()
        .map(|n| {
            let base = snake_case(n);
            let count = seen.entry(base.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                base
            } else {
                format!("{base}_{count}")
            }
        })
        .collect()
}

/// Whether a column holds counts (tokens, indexes, counts) and so is `BIGINT` when read
/// from text formats, where every other number is `DOUBLE`.
pub fn is_count_column(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "tokens",
        "index",
        "count",
        "step",
        "batch_id",
        "iter",
        "iteration",
        "n",
        "completed",
        "failed",
    ];
    const SUFFIXES: &[&str] = &["_tokens", "_index", "_count", "_idx", "_reqs", "_requests"];
    const PREFIXES: &[&str] = &["num_", "n_", "number_"];
    // Summary statistics of counts are not counts.
    const STATS: &[&str] = &[
        "mean_", "avg_", "median_", "std_", "stddev_", "var_", "mode_",
    ];
    if STATS.iter().any(|s| name.starts_with(s)) || name.contains("_per_") {
        return false;
    }
    EXACT.contains(&name)
        || SUFFIXES.iter().any(|s| name.ends_with(s))
        || PREFIXES.iter().any(|p| name.starts_with(p))
}
