#!/usr/bin/env python3
"""Deterministic sample data for runlake's quick start, one file per report kind:

- predictions.csv: predicted vs measured latency of LLM-serving requests per framework, as a
  latency predictor or simulator would produce them (framework, model, hardware, phase
  prefill/decode, batch_size, input_tokens, output_tokens, predicted_ms, actual_ms, key,
  predictor). The frameworks include the variant names users actually find in their logs
  ("Deepspeed" and "DeepSpeed-MII"), which reports merge through framework_aliases.
- scheduler_profiling_chunk_2048.jsonl.gz: a per-scheduler-step log (the vLLM-fork
  "scheduler profiling" format) with chunk-size, context and cache-hit lists per step.
- pipeline_traces.json.gz: OTLP/JSON traces of a serving pipeline, one trace per query
  with a span per component (tokenize, queue, prefill, decode, detokenize).
- bench_baseline.json, bench_current.json: `vllm bench serve --save-result
  --save-detailed --append-result` files, one run per model and request rate, labelled
  baseline and current; the current Qwen runs carry a deliberate TTFT regression.

Standard library only; byte-identical output every run.

Run: python3 examples/data/generate.py
"""
import csv
import gzip
import json
import math
import os
import random
import statistics

# framework -> (multiplicative bias of the predictor, relative noise, fixed overhead ms)
FRAMEWORKS = {
    "vLLM": (1.02, 0.06, 1.5),
    "SGLang": (0.98, 0.07, 1.0),
    "TensorRT-LLM": (0.88, 0.05, 0.5),
    "Deepspeed": (1.10, 0.14, 4.0),
    "DeepSpeed-MII": (1.08, 0.12, 3.0),
    "llama.cpp": (1.25, 0.30, 8.0),
}
MODELS = [("Llama-3.1-8B-Instruct", 1.0), ("Qwen2.5-14B-Instruct", 1.7), ("Mistral-7B-Instruct-v0.3", 0.9)]
HARDWARE = ["A100-80GB", "H100-80GB"]


HERE = os.path.dirname(os.path.abspath(__file__))


def predictions():
    rng = random.Random(20261122)
    rows = []
    for framework, (bias, noise, overhead) in FRAMEWORKS.items():
        for i in range(600):
            model, size = MODELS[i % len(MODELS)]
            hardware = HARDWARE[(i // 3) % len(HARDWARE)]
            speed = 1.0 if hardware == "H100-80GB" else 1.6
            batch = rng.choice([1, 2, 4, 8, 16, 32, 64])
            phase = "prefill" if i % 2 == 0 else "decode"
            input_tokens = rng.randint(64, 4096)
            output_tokens = rng.randint(16, 1024)
            if phase == "prefill":
                actual = speed * size * (0.012 * input_tokens + 0.4 * batch) + overhead
            else:
                actual = speed * size * (6.0 + 0.35 * batch + 0.0009 * input_tokens) + overhead
            actual *= math.exp(rng.gauss(0.0, 0.08))  # run-to-run jitter of the measurement
            predicted = actual * bias * math.exp(rng.gauss(0.0, noise))
            rows.append([framework, model, hardware, phase, batch, input_tokens, output_tokens,
                         round(predicted, 3), round(actual, 3), f"req-{i // 2:04d}",
                         "demo-predictor"])
    with open(os.path.join(HERE, "predictions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["framework", "model", "hardware", "phase", "batch_size", "input_tokens",
                    "output_tokens", "predicted_ms", "actual_ms", "key", "predictor"])
        w.writerows(rows)


def scheduler_steps():
    """A chunked-prefill scheduler with a 2048-token budget: most steps fill the budget
    with decodes plus prefill chunks; the model run time grows with the prefill share, the
    context lengths, the spread of the chunk sizes, and falls with prefix-cache hits."""
    rng = random.Random(7)
    t = 1764000000.0
    lines = []
    for step in range(1500):
        running = rng.randint(4, 48)
        decodes = rng.randint(max(1, running // 2), running)
        prefills = running - decodes
        budget = 2048 if rng.random() < 0.75 else rng.choice([512, 1024, 1536])
        left = max(budget - decodes, 0)
        chunks = [1] * decodes
        for k in range(prefills):
            if left <= 0:
                break
            c = left if k == prefills - 1 else rng.randint(1, left)
            chunks.append(c)
            left -= c
        computed = [rng.randint(16, 6000) for _ in chunks]
        cached = [rng.randint(0, c // 2) if rng.random() < 0.4 else 0 for c in computed]
        scheduled = sum(chunks)
        prefill_tokens = sum(c for c in chunks if c > 1)
        spread = statistics.pstdev(chunks) if len(chunks) > 1 else 0.0
        hit = sum(cached) / max(sum(computed), 1)
        model_run = (4.0 + 0.011 * prefill_tokens + 0.09 * len(chunks)
                     + 0.0004 * sum(computed) / max(len(chunks), 1) * len(chunks) / 8
                     + 0.004 * spread - 6.0 * hit)
        model_run *= math.exp(rng.gauss(0.0, 0.05))
        if rng.random() < 0.02:
            model_run *= rng.uniform(2.0, 3.5)  # a stall: the outliers the report counts
        schedule = 0.15 + 0.004 * running + abs(rng.gauss(0.0, 0.03))
        t += (schedule + model_run) / 1000.0 + 0.0005
        lines.append(json.dumps({
            "batch_id": step,
            "timestamp": round(t, 6),
            "schedule_duration_ms": round(schedule, 4),
            "model_run_duration_ms": round(model_run, 4),
            "total_step_duration_ms": round(schedule + model_run + 0.3, 4),
            "num_prefill_reqs": sum(1 for c in chunks if c > 1),
            "num_decode_reqs": decodes,
            "total_scheduled_tokens": scheduled,
            "chunk_sizes": chunks,
            "all_computed_tokens": computed,
            "all_cached_tokens": cached,
            "num_waiting_reqs": rng.randint(0, 30),
            "num_running_reqs": len(chunks),
            "kv_cache_usage": round(min(0.99, sum(computed) / 400000), 4),
        }))
    data = ("\n".join(lines) + "\n").encode()
    with open(os.path.join(HERE, "scheduler_profiling_chunk_2048.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def pipeline_traces():
    rng = random.Random(11)
    spans = []
    t0 = 1764003600 * 10**9
    for q in range(240):
        trace_id = f"{rng.getrandbits(128):032x}"
        root_id = f"{rng.getrandbits(64):016x}"
        start = t0 + q * 250_000_000 + rng.randint(0, 200_000_000)
        input_tokens = rng.randint(128, 4096)
        output_tokens = rng.randint(16, 512)
        parts = [
            ("tokenize", 0.6 + input_tokens * 0.0004 + abs(rng.gauss(0, 0.1))),
            ("queue", rng.expovariate(1 / 25.0)),
            ("prefill", 8.0 + input_tokens * 0.021 * math.exp(rng.gauss(0, 0.1))),
            ("decode", output_tokens * 11.5 * math.exp(rng.gauss(0, 0.08))),
            ("detokenize", 0.3 + output_tokens * 0.002),
        ]
        if rng.random() < 0.03:
            parts[1] = ("queue", rng.uniform(800, 2500))  # a burst: the tail P99 shows
        cursor = start
        children = []
        for name, ms in parts:
            end = cursor + int(ms * 1e6)
            children.append(span(trace_id, f"{rng.getrandbits(64):016x}", root_id, name,
                                 cursor, end, [("pipeline.component", name)]))
            cursor = end
        spans.append(span(trace_id, root_id, "", "llm_request", start, cursor, [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "meta-llama/Llama-3.1-8B-Instruct"),
            ("gen_ai.usage.input_tokens", input_tokens),
            ("gen_ai.usage.output_tokens", output_tokens),
            ("query.id", f"q{q:04d}"),
        ]))
        spans.extend(children)
    doc = {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", "vllm-serving")]},
        "scopeSpans": [{"scope": {"name": "demo.pipeline"}, "spans": spans}],
    }]}
    data = json.dumps(doc, separators=(",", ":")).encode()
    with open(os.path.join(HERE, "pipeline_traces.json.gz"), "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def attr(key, value):
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def span(trace_id, span_id, parent, name, start, end, attrs):
    out = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 2,
           "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
           "attributes": [attr(k, v) for k, v in attrs], "status": {"code": 1}}
    if parent:
        out["parentSpanId"] = parent
    return out


def benchmark_runs():
    """Two vLLM `--append-result` files: per model and request rate, one run labelled
    baseline and one labelled current. Current Qwen runs are ~18% slower to first token."""
    rng = random.Random(3)
    models = [("meta-llama/Llama-3.1-8B-Instruct", 1.0, 17.2), ("Qwen/Qwen2.5-14B-Instruct", 1.7, 29.8)]
    for label, day in (("baseline", "20261101"), ("current", "20261120")):
        objects = []
        for m, (model, size, memory_gb) in enumerate(models):
            for r, rate in enumerate((4.0, "inf")):
                slow = 1.18 if (label == "current" and "Qwen" in model) else 1.0
                n = 48
                inputs = [rng.randint(128, 1024) for _ in range(n)]
                outputs = [rng.randint(24, 128) for _ in range(n)]
                load = 1.0 if rate == 4.0 else 2.2
                ttfts = [slow * size * load * (0.02 + i_ * 0.00004) * math.exp(rng.gauss(0, 0.12))
                         for i_ in inputs]
                itls = [[size * load * 0.011 * math.exp(rng.gauss(0, 0.06)) for _ in range(o - 1)]
                        for o in outputs]
                e2e = [t + sum(g) for t, g in zip(ttfts, itls)]
                duration = max(e2e) + (n / rate if rate != "inf" else 0.5)
                ms = lambda xs: [x * 1000 for x in xs]  # noqa: E731
                tpots = [sum(g) / len(g) for g in itls]
                obj = {
                    "date": f"{day}-{9 + m:02d}{10 * r:02d}00",
                    "backend": "vllm", "label": label, "model_id": model,
                    "tokenizer_id": model, "num_prompts": n, "request_rate": rate,
                    "burstiness": 1.0, "max_concurrency": None, "framework": "vLLM",
                    "hardware": "H100-80GB", "peak_gpu_memory_gb": round(memory_gb * (1.04 if slow > 1 else 1.0), 2),
                    "duration": round(duration, 4), "completed": n, "failed": 0,
                    "total_input_tokens": sum(inputs), "total_output_tokens": sum(outputs),
                    "request_throughput": round(n / duration, 4),
                    "output_throughput": round(sum(outputs) / duration, 4),
                    "mean_ttft_ms": round(statistics.mean(ms(ttfts)), 4),
                    "median_ttft_ms": round(statistics.median(ms(ttfts)), 4),
                    "p99_ttft_ms": round(sorted(ms(ttfts))[int(0.99 * (n - 1))], 4),
                    "mean_tpot_ms": round(statistics.mean(ms(tpots)), 4),
                    "median_tpot_ms": round(statistics.median(ms(tpots)), 4),
                    "mean_e2el_ms": round(statistics.mean(ms(e2e)), 4),
                    "input_lens": inputs, "output_lens": outputs,
                    "ttfts": [round(x, 6) for x in ttfts],
                    "itls": [[round(x, 5) for x in g] for g in itls],
                    "generated_texts": [""] * n, "errors": [""] * n,
                }
                objects.append(json.dumps(obj))
        with open(os.path.join(HERE, f"bench_{label}.json"), "w") as f:
            f.write("\n".join(objects) + "\n")


def main():
    predictions()
    scheduler_steps()
    pipeline_traces()
    benchmark_runs()


if __name__ == "__main__":
    main()
