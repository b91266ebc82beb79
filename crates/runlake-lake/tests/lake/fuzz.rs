//! Mutation fuzzing of every reader family (delimited text, JSON documents, JSON lines,
//! MLPerf text, OTLP) over real tool outputs (`fuzz/`, provenance in `fuzz/SOURCES.md`).
//!
//! Each seed is mutated a fixed number of times (`RUNLAKE_FUZZ_ITERATIONS`, default 1500)
//! by a seeded generator, so a run is reproducible and bounded by its count, not by a
//! clock. Every mutant is read, detected, parsed and typed, once as detected and once
//! forced to the seed's own format: no panic, no hang (a watchdog names the mutant that
//! stops making progress), and one mutant in 25 goes through a full ingest into an
//! empty lake, where a refusal must leave the lake without a table.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use runlake_ingest::{Format, InputLimits, Options, Source};
use runlake_lake::{IngestOptions, Lake};

/// (seed file, its format).
const SEEDS: &[(&str, &str)] = &[
    ("llama3-8b_c100_profile_export_genai_perf.csv", "csv"),
    ("upstream_run1_profile_export_aiperf.csv", "csv"),
    ("vllm0.25.1_sweep_run0.json", "vllm-bench"),
    ("brayniac_build5606_rtx4090.json", "llama-bench"),
    ("sglang_agg_n100_in512_out128_c32.jsonl", "sglang-bench"),
    (
        "v4.1_NVIDIA_H200x8_llama2-70b-99_Offline_mlperf_log_summary.txt",
        "mlperf",
    ),
    ("vllm_collector_spans.jsonl", "otlp"),
];

/// Bytes that matter to the readers' grammars, spliced in by the mutator.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b",",
    b"\n",
    b"\r\n",
    b"\t",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"-",
    b"e",
    b".",
    b"1e400",
    b"-1e400",
    b"NaN",
    b"null",
    b"true",
    b"\\u0000",
    b"\\ud800",
    b"\xff\xfe",
    b"99999999999999999999999",
    b"-9223372036854775809",
    b"0x10",
    b"\"\":\"\"",
    b"{\"a\":1,\"a\":2}",
    b"[[[[[[[[",
    b"]]]]]]]]",
    b":::MLLOG ",
    b"Result is : VALID",
];

/// xorshift64*: a small seeded generator, so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `seed`; returns the mutant and what was done.
fn mutate(seed: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut out = seed.to_vec();
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
                done.push(format!("flip@{i}"));
            }
            1 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
                done.push(format!("delete@{at}..{end}"));
            }
            2 => {
                let end = (at + rng.below(256)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
                done.push(format!("copy@{at}..{end}->{to}"));
            }
            3 | 4 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
                done.push(format!("insert@{at}:{}", String::from_utf8_lossy(token)));
            }
            5 => {
                out.truncate(at);
                done.push(format!("truncate@{at}"));
            }
            _ => {
                // Replace a digit run's neighbour with a digit, lengthening numbers.
                let i = at.min(out.len().saturating_sub(1));
                if let Some(b) = out.get_mut(i) {
                    *b = b'0' + rng.below(10) as u8;
                }
                done.push(format!("digit@{i}"));
            }
        }
    }
    (out, done.join(" "))
}

/// Reads, parses and types `bytes` as `format` (or as detected); an error is fine.
fn parse(name: &str, bytes: Vec<u8>, format: Option<Format>) {
    let Ok(source) = Source::from_bytes(name.to_string(), bytes, &InputLimits::default()) else {
        return;
    };
    let options = Options {
        format,
        table: Some("fuzz".into()),
        ..Default::default()
    };
    if let Ok(parsed) = runlake_ingest::parse(&source, &options) {
        let _ = parsed.finish(&HashMap::new(), 0, &source);
    }
}

/// Ingests `bytes` into an empty lake: a refusal must leave the lake without a table.
fn ingest_commits_nothing_when_refused(
    runtime: &tokio::runtime::Runtime,
    name: &str,
    bytes: Vec<u8>,
) {
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap(), HashMap::new()).unwrap();
        let Ok(source) = Source::from_bytes(name.to_string(), bytes, &InputLimits::default())
        else {
            return;
        };
        if lake
            .ingest(&source, &IngestOptions::default())
            .await
            .is_err()
        {
            let tables = lake.table_names().await.unwrap();
            assert!(
                tables.is_empty(),
                "{name}: a refused ingest left {tables:?}"
            );
        }
    });
}

#[test]
fn every_reader_survives_mutated_real_files() {
    let iterations: usize = std::env::var("RUNLAKE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lake/fuzz");
    let (progress, watch) = mpsc::channel::<String>();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (n, (file, format)) in SEEDS.iter().enumerate() {
            let seed = std::fs::read(dir.join(file)).unwrap();
            let own = Format::from_name(format).expect("a known format");
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
            for i in 0..iterations {
                let (mutant, edits) = mutate(&seed, &mut rng);
                let what = format!("{file} mutant {i} ({edits})");
                progress.send(what.clone()).unwrap();
                let outcome = std::panic::catch_unwind(|| {
                    parse(file, mutant.clone(), None);
                    parse(file, mutant.clone(), Some(own));
                    if i % 25 == 0 {
                        ingest_commits_nothing_when_refused(&runtime, file, mutant.clone());
                    }
                });
                if outcome.is_err() {
                    let saved = std::env::temp_dir().join(format!("runlake-fuzz-{n}-{i}"));
                    let _ = std::fs::write(&saved, &mutant);
                    panic!(
                        "{what} panicked; the mutant is saved as {}",
                        saved.display()
                    );
                }
            }
        }
    });
    // A mutant that makes no progress for this long is a hang, whatever the machine.
    let mut last = String::from("the first mutant");
    loop {
        match watch.recv_timeout(Duration::from_secs(300)) {
            Ok(what) => last = what,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no progress after {last}: a hang"),
        }
    }
    worker.join().expect("no reader panicked");
}
