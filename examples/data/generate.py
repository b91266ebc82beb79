#!/usr/bin/env python3
"""Deterministic sample data for runlake's quick start: predicted vs measured latency of
LLM-serving requests, as a latency predictor or simulator would produce them.

Writes predictions.csv beside this script (framework, model, hardware, phase, batch_size,
input_tokens, output_tokens, predicted_ms, actual_ms). The frameworks include the variant
names users actually find in their logs ("Deepspeed" and "DeepSpeed-MII"), which reports
merge through the framework_aliases table. Standard library only; same output every run.

Run: python3 examples/data/generate.py
"""
import csv
import math
import os
import random

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


def main():
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
                         round(predicted, 3), round(actual, 3)])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "predictions.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["framework", "model", "hardware", "phase", "batch_size", "input_tokens",
                    "output_tokens", "predicted_ms", "actual_ms"])
        w.writerows(rows)


if __name__ == "__main__":
    main()
