//! The commands: each takes a request (made by `cli` from the arguments), owns its flow, and
//! returns a report that `output` renders as text for people or as JSON. A command uses the
//! core (config, plan, probe, nixgen, checks) and the infrastructure layer, never another
//! command's module.

pub mod diff;
pub mod doctor;
pub mod install;
pub mod libvirt;
pub mod persist;
pub mod plan;
pub mod regenerate;
pub mod verify;
