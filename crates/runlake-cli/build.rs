//! Link flags of the `runlake` binary.
//!
//! On Linux with glibc the binary's relative relocations are packed (`DT_RELR`): it has
//! about 333,000 of them (vtables and static tables of pointers), 8 MB of `RELA`
//! entries the loader read at every start. Packed they are 90 KB, and `runlake --version`
//! starts in 7.9 ms instead of 8.7 ms (`SELECT 1` on a lake: 12.6 against 14.1 ms),
//! which every CLI call and every cold `runlake sql` pays. GNU ld 2.38 (lld 15) writes
//! the packed form and glibc 2.36 reads it; on an older toolchain build with
//! `RUNLAKE_PACK_RELOCS=0` to link as before.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let wanted = std::env::var("RUNLAKE_PACK_RELOCS").map_or(true, |v| v != "0");
    if os == "linux" && env == "gnu" && wanted {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUNLAKE_PACK_RELOCS");
}
