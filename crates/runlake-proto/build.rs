//! Compiles proto/ with protox (pure Rust: no `protoc` needed) and prost-build.

fn main() {
    let files = ["runlake/v1/flight.proto", "runlake/v1/session.proto"];
    for f in files {
        println!("cargo:rerun-if-changed=proto/{f}");
    }
    let fds = protox::compile(files, ["proto"]).expect("the protos compile");
    prost_build::Config::new()
        .btree_map(["."])
        .compile_fds(fds)
        .expect("prost-build generates the Rust types");
}
