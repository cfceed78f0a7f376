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
    plan_by(name, true)
}

/// [`plan_for`] as a blankroot of this kind makes it: a static one keeps itself on the
/// installed system (the keep-blankroot step); a dynamic one, such as the test build, does not.
pub fn plan_by(name: &str, static_blankroot: bool) -> Plan {
    let c = config(name);
    let ids = Identities::fixed(7, c.host_id.as_deref());
    let t = Target { static_blankroot, ..target(&c.disk) };
    plan::build(&c, &t, &ids).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// blankroot as one static executable (scripts/build-static; made once per test process when
/// it is not there yet, or taken from `BLANKROOT_STATIC`).
pub fn static_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BLANKROOT_STATIC") {
            return PathBuf::from(p);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out =
            std::process::Command::new(root.join("scripts/build-static")).output().expect("run scripts/build-static");
        assert!(out.status.success(), "scripts/build-static failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        root.join(last.trim())
    })
    .clone()
}
