//! `blankroot plan`: the config resolved, the machine probed (or the built-in example machine),
//! the plan built and its generated files evaluated. Changes nothing.

use crate::config::{self, Overrides};
use crate::error::Result;
use crate::infra::host::Host;
use crate::plan::{self, Identities, Plan};
use std::path::PathBuf;

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// blankroot.toml; without it, the defaults.
    pub config: Option<PathBuf>,
    pub overrides: Overrides,
    /// The built-in example machine instead of the one `host` is.
    pub example: bool,
}

/// Makes the plan: for the example machine, or for `host`, probed. The generated files are
/// evaluated by `nix-instantiate` on `host` where it has one.
pub fn run(host: &dyn Host, req: &Request) -> Result<Plan> {
    let config = config::load(req.config.as_deref(), &req.overrides)?;
    let facts = if req.example { crate::example::facts()? } else { crate::probe::probe(host)? };
    let target = plan::target::from_facts(&facts, &config.disk)?;
    let ids = Identities::for_config(&config)?;
    let plan = plan::build(&config, &target, &ids)?;
    crate::nixgen::verify::check(host, &plan)?;
    Ok(plan)
}
