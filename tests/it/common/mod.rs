//! Shared test inputs: the representative configs (tests/fixtures/configs) and an example
//! target, planned with fixed identities so output is reproducible.
#![allow(dead_code)]

pub mod config_check;
pub mod doctor;
pub mod host_devices;
pub mod stage1;
pub mod stage1_tier;
pub mod vm;

use blankroot::config::{self, Config, Overrides};
use blankroot::plan::{self, Identities, Plan, Target, TargetDisk};
use std::path::PathBuf;

pub const CONFIGS: [&str; 4] = ["seed-defaults", "scripted-two-users", "custom-datasets", "hostile-strings"];

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

pub fn config(name: &str) -> Config {
    let path = fixture(&format!("configs/{name}.toml"));
    config::load(Some(&path), &Overrides::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An empty 20 GiB virtio disk with a serial, on a UEFI machine.
pub fn target(disk: &str) -> Target {
    Target {
        firmware: "uefi".into(),
        disk: TargetDisk {
            path: disk.into(),
            device: "/dev/vda".into(),
            size_bytes: 20 << 30,
            model: None,
            serial: Some("disk01".into()),
            by_id: vec!["virtio-disk01".into()],
            contents: vec![],
            holders: vec![],
        },
        missing_tools: vec![],
        nixos_release: Some("25.11".into()),
        static_blankroot: true,
    }
}

pub fn plan_for(name: &str) -> Plan {
    let c = config(name);
    let ids = Identities::fixed(7, c.host_id.as_deref());
    plan::build(&c, &target(&c.disk), &ids).unwrap_or_else(|e| panic!("{name}: {e}"))
}
