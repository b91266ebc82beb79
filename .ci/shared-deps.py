"""Checks that `cargo test --workspace` reuses the dependencies `cargo run` built.

Reads two streams of `cargo --message-format=json` (the binary's build, then the test
build) and fails when a crates.io dependency that both builds use was compiled twice
(with different features or settings), naming each one. Crates only tests use
(criterion, proptest, sqllogictest, ...) are expected to be new in the test build.
"""

import json
import sys


def artifacts(path):
    built = {}
    with open(path) as f:
        for line in f:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("reason") != "compiler-artifact":
                continue
            if msg["package_id"].startswith("path+"):
                continue
            if "custom-build" in msg["target"]["kind"]:
                continue
            key = (msg["package_id"], msg["target"]["name"])
            built.setdefault(key, set()).update(
                f.rsplit("/", 1)[-1] for f in msg["filenames"]
            )
    return built


def main():
    run, test = artifacts(sys.argv[1]), artifacts(sys.argv[2])
    twice = sorted(
        f"{pkg} ({target})"
        for (pkg, target), files in test.items()
        if (pkg, target) in run and not files & run[(pkg, target)]
    )
    if twice:
        print("the test build compiles again, with other features:", file=sys.stderr)
        for name in twice:
            print(f"  {name}", file=sys.stderr)
        print(
            "enable those features in crates/runlake-cli's [dependencies] too",
            file=sys.stderr,
        )
        sys.exit(1)
    shared = sum(1 for key in test if key in run)
    print(f"the test build reuses all {shared} dependencies of the binary's build")


main()
