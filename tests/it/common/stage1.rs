//! The stage-1 tier's configuration-dependent half of the initrd, rendered from the evaluated
//! Nix: what blankroot.nix declares (`boot.initrd.systemd.services`, `boot.initrd.luks.devices`,
//! `fileSystems`, `networking.hostId`, `boot.zfs.*`), merged with NixOS's own stage-1 units
//! reproduced in tests/stage1/nixos-stage1.nix, and turned into unit files, crypttab, fstab and
//! hostid the way nixpkgs turns them (sources cited per function; read 2026-12-02). Nothing
//! here retypes a unit of blankroot's: every value comes from `nix-instantiate --eval`.
//!
//! The result is a directory that is packed as a cpio and appended to the base initrd that
//! tests/vm/guest/stage1-initrd.sh assembles in the guest (the kernel unpacks both, the second
//! over the first).

#![allow(dead_code)]

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::vm::root;

/// What the tier needs from the generated configuration, as the Nix evaluator reads it.
pub struct Evaluated {
    /// blankroot.nix evaluated with stub module arguments.
    pub module: Value,
    /// configuration.nix evaluated likewise (networking.hostName, system.stateVersion).
    pub configuration: Value,
}

fn nix_eval(expr: &str, args: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new("nix-instantiate");
    cmd.args(["--eval", "--strict", "--json", "-E", expr]);
    for (k, v) in args {
        cmd.args(["--arg", k, v]);
    }
    let out = cmd.output().expect("nix-instantiate (Debian package nix-bin)");
    assert!(out.status.success(), "nix-instantiate failed:\n{}\n{expr}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The stub module arguments plan, install and doctor evaluate generated files with.
const STUBS: &str = blankroot::nixgen::verify::STUB_ARGS;

impl Evaluated {
    /// Evaluates `dir/blankroot.nix` and `dir/configuration.nix` (without its imports).
    pub fn load(dir: &Path) -> Evaluated {
        let module = nix_eval(&format!("import {} {STUBS}", dir.join("blankroot.nix").display()), &[]);
        let configuration = nix_eval(
            &format!("removeAttrs (import {} {STUBS}) [ \"imports\" ]", dir.join("configuration.nix").display()),
            &[],
        );
        Evaluated { module, configuration }
    }
    pub fn at(&self, path: &[&str]) -> &Value {
        path.iter().fold(&self.module, |v, k| &v[*k])
    }
    pub fn pool(&self) -> String {
        let root = self.at(&["fileSystems", "/", "device"]).as_str().expect("fileSystems./.device");
        root.split('/').next().unwrap().to_string()
    }
    /// The file systems in NixOS's order (filesystems.nix `toposort fsBefore`: a file system
    /// comes after the one its mount point or device lies in), ties by mount point.
    pub fn file_systems(&self) -> Vec<(String, Value)> {
        let mut left: Vec<(String, Value)> = self
            .at(&["fileSystems"])
            .as_object()
            .expect("fileSystems")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        left.sort_by(|a, b| a.0.cmp(&b.0));
        // utils.nix fsBefore: a.mountPoint/ is a prefix of b.device/ or b.mountPoint/.
        let before = |a: &str, b: &(String, Value)| {
            let a = format!("{}/", a.trim_end_matches('/'));
            let dev = format!("{}/", b.1["device"].as_str().unwrap_or_default());
            let mp = format!("{}/", b.0.trim_end_matches('/'));
            a != mp && (dev.starts_with(&a) || mp.starts_with(&a))
        };
        let mut out = Vec::new();
        while !left.is_empty() {
            let i = (0..left.len())
                .find(|&i| !left.iter().enumerate().any(|(j, o)| j != i && before(&o.0, &left[i])))
                .expect("fileSystems form a cycle");
            out.push(left.remove(i));
        }
        out
    }
}

/// nixos/lib/utils.nix `pathsNeededForBoot` / `fsNeededForBoot`.
fn needed_for_boot(mount: &str, fs: &Value) -> bool {
    const PATHS: [&str; 9] =
        ["/", "/nix", "/nix/store", "/var", "/var/log", "/var/lib", "/var/lib/nixos", "/etc", "/usr"];
    fs["neededForBoot"].as_bool().unwrap_or(false) || PATHS.contains(&mount)
}

/// NixOS's `escapeSystemdPath` (= `systemd-escape --path`) for mount unit names.
pub fn escape_path(path: &str) -> String {
    blankroot::systemd::escape_path(path).expect("a mount point without `..`")
}

/// NixOS's module merge for option values (systemd-unit-options.nix `unitOption` and the attrs
/// types): attribute sets merge key by key, lists concatenate, anything else must be equal.
pub fn merge(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut m: Map<String, Value> = x.clone();
            for (k, v) in y {
                let merged = match m.get(k) {
                    Some(old) => merge(old, v),
                    None => v.clone(),
                };
                m.insert(k.clone(), merged);
            }
            Value::Object(m)
        }
        (Value::Array(x), Value::Array(y)) => Value::Array(x.iter().chain(y).cloned().collect()),
        (x, y) if x == y => x.clone(),
        (x, y) => panic!("conflicting definitions: {x} and {y}"),
    }
}

/// systemd-lib.nix `toOption`: true/false, numbers and strings as they are.
fn to_option(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// systemd-lib.nix `attrsToSection`: sorted keys, one line per list element.
fn attrs_to_section(attrs: &BTreeMap<String, Value>) -> String {
    let mut s = String::new();
    for (k, v) in attrs {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for x in items {
            s.push_str(&format!("{k}={}\n", to_option(x)));
        }
    }
    s
}

fn list(def: &Value, key: &str) -> Vec<String> {
    def[key].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn obj(def: &Value, key: &str) -> BTreeMap<String, Value> {
    def[key].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// The unit files, scripts and links of the overlay.
#[derive(Default)]
pub struct Units {
    /// Path inside the initrd -> (mode, content).
    pub files: BTreeMap<String, (u32, String)>,
    /// Path inside the initrd -> link target.
    pub links: BTreeMap<String, String>,
}

const UNIT_DIR: &str = "/etc/systemd/system";

impl Units {
    /// systemd-unit-options.nix `unitConfig`: the dependency options become [Unit] keys.
    fn unit_section(def: &Value) -> BTreeMap<String, Value> {
        let mut u = obj(def, "unitConfig");
        for (opt, key) in [
            ("requires", "Requires"),
            ("wants", "Wants"),
            ("upholds", "Upholds"),
            ("after", "After"),
            ("before", "Before"),
            ("bindsTo", "BindsTo"),
            ("partOf", "PartOf"),
            ("conflicts", "Conflicts"),
            ("requisite", "Requisite"),
            ("documentation", "Documentation"),
            ("onFailure", "OnFailure"),
            ("onSuccess", "OnSuccess"),
        ] {
            let l = list(def, opt);
            if !l.is_empty() {
                u.insert(key.into(), Value::String(l.join(" ")));
            }
        }
        if let Some(d) = def["description"].as_str().filter(|d| !d.is_empty()) {
            u.insert("Description".into(), Value::String(d.into()));
        }
        u
    }

    /// The .wants/.requires/.upholds links of systemd-lib.nix `generateUnits`.
    fn install_links(&mut self, unit: &str, def: &Value) {
        for (opt, dir) in [("wantedBy", "wants"), ("requiredBy", "requires"), ("upheldBy", "upholds")] {
            for t in list(def, opt) {
                self.links.insert(format!("{UNIT_DIR}/{t}.{dir}/{unit}"), format!("../{unit}"));
            }
        }
    }

    /// systemd-lib.nix `serviceToUnit` + `makeJobScript` (writeShellScriptBin: `#!bash`,
    /// `set -e`, the script; ExecStart with `scriptArgs`, i.e. a trailing space).
    /// `dropin`: the unit overrides one systemd ships (`<unit>.d/overrides.conf`).
    pub fn service(&mut self, name: &str, def: &Value, dropin: bool) {
        assert!(list(def, "path").is_empty(), "{name}: `path` would need store paths; not supported here");
        let unit = format!("{name}.service");
        let mut service = obj(def, "serviceConfig");
        for (field, exec, suffix) in [
            ("preStart", "ExecStartPre", "pre-start"),
            ("script", "ExecStart", "start"),
            ("postStart", "ExecStartPost", "post-start"),
        ] {
            let Some(text) = def[field].as_str().filter(|t| !t.is_empty()) else { continue };
            let script_name = format!("{name}-{suffix}").replace(['\\', '@'], "-");
            let path =
                format!("/nix/store/00000000000000000000000000000000-unit-script-{script_name}/bin/{script_name}");
            self.files.insert(path.clone(), (0o755, format!("#!/bin/bash\nset -e\n\n{text}\n")));
            let line =
                if exec == "ExecStart" { format!("{path} {}", def["scriptArgs"].as_str().unwrap_or("")) } else { path };
            service.insert(exec.into(), Value::String(line));
        }
        let mut text = format!("[Unit]\n{}\n[Service]\n", attrs_to_section(&Self::unit_section(def)));
        for (k, v) in obj(def, "environment") {
            if !v.is_null() {
                text.push_str(&format!("Environment={}\n", Value::String(format!("{k}={}", to_option(&v)))));
            }
        }
        text.push_str(&attrs_to_section(&service));
        let wanted = list(def, "wantedBy");
        if !wanted.is_empty() {
            text.push_str(&format!("\n[Install]\nWantedBy={}\n", wanted.join(" ")));
        }
        let path = if dropin { format!("{UNIT_DIR}/{unit}.d/overrides.conf") } else { format!("{UNIT_DIR}/{unit}") };
        self.files.insert(path, (0o644, text));
        self.install_links(&unit, def);
    }

    /// systemd-lib.nix `targetToUnit`, as a drop-in on the target systemd or a package ships.
    pub fn target(&mut self, name: &str, def: &Value) {
        let unit = format!("{name}.target");
        let text = format!("[Unit]\n{}\n", attrs_to_section(&Self::unit_section(def)));
        self.files.insert(format!("{UNIT_DIR}/{unit}.d/overrides.conf"), (0o644, text));
        self.install_links(&unit, def);
    }

    /// systemd-lib.nix `mountToUnit` (What/Where/Type/Options in [Mount]).
    pub fn mount(&mut self, def: &Value) {
        let where_ = def["where"].as_str().unwrap();
        let unit = format!("{}.mount", escape_path(where_));
        let mut m = BTreeMap::new();
        for (opt, key) in [("what", "What"), ("where", "Where"), ("type", "Type"), ("options", "Options")] {
            if let Some(v) = def[opt].as_str().filter(|v| !v.is_empty()) {
                m.insert(key.to_string(), Value::String(v.into()));
            }
        }
        let text = format!("[Unit]\n{}\n[Mount]\n{}", attrs_to_section(&Self::unit_section(def)), attrs_to_section(&m));
        self.files.insert(format!("{UNIT_DIR}/{unit}"), (0o644, text));
        self.install_links(&unit, def);
    }
}

/// luksroot.nix `stage1Crypttab`: `<name> <device> <keyFile or -> <opts>`, options in its
/// order (crypttabExtraOpts, discard, workqueues, header, keyfile-*, try-empty-password).
pub fn crypttab(devices: &Value) -> String {
    let mut s = String::new();
    for (name, d) in devices.as_object().expect("boot.initrd.luks.devices") {
        let mut opts = list(d, "crypttabExtraOpts");
        if d["allowDiscards"].as_bool() == Some(true) {
            opts.push("discard".into());
        }
        if d["bypassWorkqueues"].as_bool() == Some(true) {
            opts.extend(["no-read-workqueue".into(), "no-write-workqueue".into()]);
        }
        for (opt, key) in [("header", "header"), ("keyFileOffset", "keyfile-offset"), ("keyFileSize", "keyfile-size")] {
            if let Some(v) = d.get(opt).filter(|v| !v.is_null()) {
                opts.push(format!("{key}={}", to_option(v)));
            }
        }
        if let Some(v) = d.get("keyFileTimeout").filter(|v| !v.is_null()) {
            opts.push(format!("keyfile-timeout={}s", to_option(v)));
        }
        if d["tryEmptyPassphrase"].as_bool() == Some(true) {
            opts.push("try-empty-password=true".into());
        }
        let key = d["keyFile"].as_str().unwrap_or("-");
        s.push_str(&format!("{name} {} {key} {}\n", d["device"].as_str().expect("device"), opts.join(",")));
    }
    s
}

/// filesystems.nix `escape` for fstab fields.
fn fstab_escape(s: &str) -> String {
    s.replace(' ', "\\040").replace('\t', "\\011")
}

/// One initrd fstab entry: (device, mount point, type, options, pass).
pub struct FstabEntry {
    pub device: String,
    pub mount: String,
    pub fs_type: String,
    pub options: Vec<String>,
    pub pass: u8,
}

/// filesystems.nix `initrdFstab` (`makeFstabEntries` of the `fsNeededForBoot` file systems,
/// options: `x-initrd.mount` first, then the configured ones; `defaults` only when nothing is
/// added).
pub fn initrd_fstab(ev: &Evaluated) -> Vec<FstabEntry> {
    const SKIP_CHECK: [&str; 21] = [
        "none",
        "auto",
        "overlay",
        "iso9660",
        "bindfs",
        "udf",
        "btrfs",
        "zfs",
        "tmpfs",
        "bcachefs",
        "nfs",
        "nfs4",
        "nilfs2",
        "vboxsf",
        "squashfs",
        "glusterfs",
        "apfs",
        "9p",
        "cifs",
        "prl_fs",
        "vmhgfs",
    ];
    ev.file_systems()
        .into_iter()
        .filter(|(m, fs)| needed_for_boot(m, fs))
        .map(|(mount, fs)| {
            let mut options = vec!["x-initrd.mount".to_string()];
            options.extend(list(&fs, "options"));
            let fs_type = fs["fsType"].as_str().unwrap_or("auto").to_string();
            let bind = options.iter().any(|o| o == "bind");
            let pass = if bind || SKIP_CHECK.contains(&fs_type.as_str()) {
                0
            } else if mount == "/" {
                1
            } else {
                2
            };
            FstabEntry { device: fs["device"].as_str().expect("device").to_string(), mount, fs_type, options, pass }
        })
        .collect()
}

/// The initrd fstab exactly as NixOS writes it (for the record; systemd >= 254 reads it through
/// SYSTEMD_SYSROOT_FSTAB with root=fstab).
pub fn nixos_fstab_text(entries: &[FstabEntry]) -> String {
    entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} 0 {}\n",
                fstab_escape(&e.device),
                fstab_escape(&e.mount),
                e.fs_type,
                fstab_escape(&e.options.join(",")),
                e.pass
            )
        })
        .collect()
}

/// The same entries for systemd 252, which has neither root=fstab nor SYSTEMD_SYSROOT_FSTAB:
/// what systemd >= 254's fstab-generator does with them, spelled out in the initrd's own
/// /etc/fstab (shared/vm-testing.md, "A systemd stage 1 in the kit"): the mount point (and a
/// bind's source) under /sysroot, required by initrd-root-fs.target for /sysroot and by
/// initrd-fs.target for the rest, and ordered before it.
pub fn systemd252_fstab_text(entries: &[FstabEntry]) -> String {
    let sysroot = |p: &str| if p == "/" { "/sysroot".to_string() } else { format!("/sysroot{p}") };
    entries
        .iter()
        .map(|e| {
            let bind = e.options.iter().any(|o| o == "bind");
            let device = if bind { sysroot(&e.device) } else { e.device.clone() };
            let target = if e.mount == "/" { "initrd-root-fs.target" } else { "initrd-fs.target" };
            let mut opts: Vec<String> = e.options.iter().filter(|o| *o != "x-initrd.mount").cloned().collect();
            opts.push(format!("x-systemd.required-by={target}"));
            opts.push(format!("x-systemd.before={target}"));
            format!(
                "{} {} {} {} 0 {}\n",
                fstab_escape(&device),
                fstab_escape(&sysroot(&e.mount)),
                e.fs_type,
                fstab_escape(&opts.join(",")),
                e.pass
            )
        })
        .collect()
}

/// network-interfaces.nix `hostidFile`: the id's four bytes, reversed on little-endian.
pub fn hostid_bytes(id: &str) -> Vec<u8> {
    let v = u32::from_str_radix(id, 16).expect("networking.hostId is 8 hex digits");
    v.to_le_bytes().to_vec()
}

/// How a boot's rollback unit is shaped: as generated, or a counterfactual for case d.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Shape {
    AsGenerated,
    /// `requiredBy sysroot.mount`, no RemainAfterExit (the shape that runs twice).
    RequiredByNoRemain,
    /// Without the rollback unit (the benchmark's baseline).
    NoRollback,
    /// As blankroot 0.1.0 generated it: nixpkgs' import unit alone (not ordered after LUKS),
    /// no `tries=0`, no RemainAfterExit. Case b's counterfactual.
    Release010,
}

/// Renders the overlay for a boot into `dir` and returns the kernel command line's own part.
pub fn render_overlay(ev: &Evaluated, shape: Shape, dir: &Path) -> Units {
    let pool = ev.pool();
    let pool_mounts: Vec<String> = ev
        .file_systems()
        .iter()
        .filter(|(_, fs)| {
            fs["fsType"] == "zfs" && fs["device"].as_str().is_some_and(|d| d.split('/').next() == Some(&pool))
        })
        .map(|(m, _)| format!("{}.mount", escape_path(&format!("/sysroot{}", m.trim_end_matches('/')))))
        .collect();
    let force = ev.at(&["boot", "zfs", "forceImportRoot"]).as_bool().unwrap_or(true);
    let dev_nodes = ev.at(&["boot", "zfs", "devNodes"]).as_str().unwrap_or("/dev/disk/by-id").to_string();
    let mounts_arg = format!("[ {} ]", pool_mounts.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(" "));
    let nixos = nix_eval(
        &format!("import {}", root().join("tests/stage1/nixos-stage1.nix").display()),
        &[
            ("pool", &format!("\"{pool}\"")),
            ("devNodes", &format!("\"{dev_nodes}\"")),
            ("force", if force { "true" } else { "false" }),
            ("poolMounts", &mounts_arg),
        ],
    );
    let mut declared = ev.at(&["boot", "initrd", "systemd", "services"]).clone();
    let mut luks = ev.at(&["boot", "initrd", "luks", "devices"]).clone();
    if shape == Shape::Release010 {
        declared.as_object_mut().unwrap().remove(&format!("zfs-import-{pool}"));
        let rb = &mut declared["blankroot-rollback"]["serviceConfig"];
        rb.as_object_mut().unwrap().remove("RemainAfterExit");
        for d in luks.as_object_mut().unwrap().values_mut() {
            d.as_object_mut().unwrap().remove("crypttabExtraOpts");
        }
    }
    let services = merge(&nixos["services"], &declared);
    let mut units = Units::default();
    for (name, def) in services.as_object().unwrap() {
        if shape == Shape::NoRollback && name == "blankroot-rollback" {
            continue;
        }
        let mut def = def.clone();
        if shape == Shape::RequiredByNoRemain && name == "blankroot-rollback" {
            def["wantedBy"] = Value::Array(vec![]);
            def["requiredBy"] = serde_json::json!(["sysroot.mount"]);
            def["serviceConfig"].as_object_mut().unwrap().remove("RemainAfterExit");
        }
        units.service(name, &def, name == "initrd-switch-root");
    }
    for (name, def) in nixos["targets"].as_object().unwrap() {
        units.target(name, def);
    }
    for m in nixos["mounts"].as_array().unwrap() {
        units.mount(m);
    }
    let entries = initrd_fstab(ev);
    units.files.insert("/etc/crypttab".into(), (0o644, crypttab(&luks)));
    units.files.insert("/etc/fstab".into(), (0o644, systemd252_fstab_text(&entries)));
    units.files.insert("/etc/fstab.nixos".into(), (0o644, nixos_fstab_text(&entries)));
    let host = ev.configuration["networking"]["hostName"].as_str().unwrap_or("nixos");
    units.files.insert("/etc/hostname".into(), (0o644, format!("{host}\n")));
    units.files.insert("/etc/modules-load.d/nixos.conf".into(), (0o644, "zfs\n".into()));
    write_tree(&units, dir);
    let host_id = ev.at(&["networking", "hostId"]).as_str().expect("networking.hostId");
    std::fs::write(dir.join("etc/hostid"), hostid_bytes(host_id)).unwrap();
    units
}

fn write_tree(units: &Units, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (path, (mode, text)) in &units.files {
        let p = dir.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    for (path, target) in &units.links {
        let p = dir.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(target, &p).unwrap();
    }
}

/// The boot's initrd: the base cpio the guest assembled, then the overlay packed by `cpio`.
pub fn initrd(base: &Path, overlay: &Path, out: &Path) -> PathBuf {
    let packed = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0")
        .arg("sh")
        .arg(overlay)
        .output()
        .expect("cpio (Debian package cpio)");
    assert!(packed.status.success(), "cpio: {}", String::from_utf8_lossy(&packed.stderr));
    let mut bytes = std::fs::read(base).unwrap();
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
    bytes.extend_from_slice(&packed.stdout);
    std::fs::write(out, bytes).unwrap();
    out.to_path_buf()
}

/// The kernel command line of a stage-1 boot: NixOS's `init=<system>/init`. NixOS also passes
/// `root=fstab` (systemd >= 254 then takes the root from the initrd fstab); systemd 252 would
/// read it as a device named "fstab" (seen: "Can't open blockdev", a duplicate sysroot.mount),
/// so it is left out and the fstab above places the root.
pub fn cmdline(init: &str) -> String {
    format!("init={init} loglevel=4")
}
