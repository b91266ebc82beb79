//! runlake's protobuf messages: the Flight SQL server's statement handles and tickets,
//! token payloads and Flight's session-option actions, and the lake scans in the plans
//! sent to a cluster (`proto/runlake/v1/*.proto`, compiled by protox at build time).

#![allow(missing_debug_implementations)]

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/runlake.v1.rs"));
}
