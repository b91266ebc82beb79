//! The one integration-test binary of runlake-functions (every DataFusion test binary is
//! a large link, so all suites live here as modules).

mod common;
mod kernels;
mod lists;
mod memory;
mod offset;
mod properties;
mod reference;
mod registry;
mod slt;
mod state_compat;
