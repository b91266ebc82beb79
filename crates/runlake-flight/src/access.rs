//! Who may run what: the one role check of the server, a function of the statement's
//! [`Effect`] (read from its logical plan) and the caller's role. Every entry point
//! (statements, prepared statements, updates, tickets) plans through it.

use runlake_engine::sql::Effect;

use crate::auth::{Principal, Role};
use crate::error::{Error, Result};

/// Session options any user may `SET`: display and time zone settings, none of which
/// raises what a query may use.
pub const SETTABLE_BY_ANYONE: &[&str] = &[
    "datafusion.execution.time_zone",
    "datafusion.explain.format",
    "datafusion.explain.logical_plan_only",
    "datafusion.explain.physical_plan_only",
    "datafusion.explain.show_schema",
    "datafusion.explain.show_sizes",
    "datafusion.explain.show_statistics",
];

/// Fails unless `principal` may run a statement with `effect`.
pub fn authorize(principal: &Principal, effect: &Effect) -> Result<()> {
    match effect {
        Effect::Read => Ok(()),
        Effect::Write(what) => principal.require(Role::Write, &format!("run {what}")),
        Effect::Drop(what) => principal.require(Role::Admin, &format!("run {what}")),
        Effect::Set(name) => {
            if name.starts_with("datafusion.runtime.") {
                return Err(Error::PermissionDenied(format!(
                    "SET {name}: the server's memory, spill and cache settings are the \
                     operator's (runlake serve --memory-limit, --query-memory-limit, --spill-dir)"
                )));
            }
            if SETTABLE_BY_ANYONE.contains(&name.as_str()) {
                return Ok(());
            }
            principal
                .require(Role::Admin, &format!("SET {name}"))
                .map_err(|e| {
                    Error::PermissionDenied(format!(
                        "{e}; any user may set {}",
                        SETTABLE_BY_ANYONE.join(", ")
                    ))
                })
        }
        Effect::Export => Err(Error::PermissionDenied(
            "COPY ... TO is not available over Flight SQL: the server writes only to its \
             lake. Fetch the result and write it on the client"
                .into(),
        )),
        Effect::Unsupported(why) => Err(Error::InvalidArgument(why.clone())),
    }
}
