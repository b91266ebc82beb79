//! Compiles the repository's top-level `proto/` with protox (pure Rust: no `protoc`
//! needed) and prost-build.

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let files = [
        "runlake/v1/flight.proto",
        "runlake/v1/session.proto",
        "runlake/v1/cluster.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={root}/{f}");
    }
    let fds = protox::compile(files, [root]).expect("the protos compile");
    prost_build::Config::new()
        .btree_map(["."])
        .compile_fds(fds)
        .expect("prost-build generates the Rust types");
}
