//! The rollback on an installed system: what blankroot.nix says (the rollback unit, the pool
//! import waiting for LUKS, the passphrase asked for until it is right) and what this boot did
//! (@blank there, little written since, the journal, the failure marker the unit leaves).

use super::{FRESH_UPTIME, FRESH_WRITTEN, Module};
use crate::checks::Finding;
use crate::config::{Config, Initrd};
use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::runner::Cmd;
use crate::infra::shell::quote_argv;
use crate::infra::size::human;
use crate::nixgen::{ROLLBACK_FAILED_MARKER, ROLLBACK_UNIT};

const FIX: &str = "`sudo blankroot regenerate` (rewrites blankroot.nix from blankroot.toml; the old one is kept as blankroot.nix.old), then `sudo nixos-rebuild boot` and reboot";

pub(super) fn rollback_config(config: &Config, m: &Module) -> Vec<Finding> {
    let root = config.full_name(config.root_dataset());
    let rollback = crate::nixgen::rollback_command(config);
    let import = crate::systemd::zfs_import_unit(&config.pool.name);
    if !m.systemd {
        if m.post_resume.contains(&rollback) {
            return vec![Finding::ok(
                "rollback-config",
                format!("scripted stage 1 runs `{rollback}` in postResumeCommands"),
            )];
        }
        return vec![Finding::error(
            "rollback-config",
            format!("scripted stage 1, but postResumeCommands does not run `{rollback}`"),
            "nothing rolls the root back (NixOS imports the root pool in postResumeCommands since 24.11; postDeviceCommands runs before that)",
            FIX,
        )];
    }
    let Some(u) = &m.unit else {
        return vec![Finding::error(
            "rollback-config",
            format!("stage 1 is systemd but blankroot.nix has no {ROLLBACK_UNIT} unit"),
            "nothing rolls the root back: every boot keeps what the last one wrote",
            FIX,
        )];
    };
    let mut wrong = Vec::new();
    if !u.script.contains(&rollback) {
        wrong.push(format!("its script does not run `{rollback}`"));
    }
    if !u.after.contains(&import) {
        wrong.push(format!("it is not ordered after {import} (the pool may not be imported yet)"));
    }
    if !u.before.iter().any(|b| b == "sysroot.mount") {
        wrong.push("it is not ordered before sysroot.mount (root may be mounted before it is rolled back)".into());
    }
    if !u.wanted_by.iter().any(|w| w == "initrd.target") {
        wrong.push("nothing pulls it in (wantedBy initrd.target)".into());
    }
    if u.unit_config.get("DefaultDependencies").and_then(|v| v.as_str()) != Some("no") {
        wrong.push("it keeps the default dependencies, which order it after sysroot.mount's targets".into());
    }
    if u.service_config.get("RemainAfterExit").and_then(serde_json::Value::as_bool) != Some(true) {
        wrong.push(
            "it lacks serviceConfig.RemainAfterExit = true: the switch-root transaction (initrd-nixos-activation has RequiresMountsFor=/sysroot/run) pulls in sysroot.mount and what it requires again, and starts the exited oneshot a second time, with the root already mounted"
                .into(),
        );
    }
    if wrong.is_empty() {
        return vec![Finding::ok(
            "rollback-config",
            format!("systemd stage 1 runs `{rollback}` after {import}, before sysroot.mount, once per boot"),
        )];
    }
    vec![Finding::error(
        "rollback-config",
        format!("the {ROLLBACK_UNIT} unit is wrong: {}", wrong.join("; ")),
        format!("the root ({root}) must be rolled back once, after the pool is imported and before it is mounted"),
        FIX,
    )]
}

/// systemd stage 1 only: the pool import waits for LUKS, and a mistyped passphrase is asked
/// for again.
pub(super) fn luks_before_import(config: &Config, m: &Module) -> Vec<Finding> {
    if !m.systemd {
        return Vec::new();
    }
    let import = crate::systemd::zfs_import_unit(&config.pool.name);
    let attr = format!("boot.initrd.systemd.services.\"zfs-import-{}\"", config.pool.name);
    let has = |list: Option<&Vec<String>>| list.is_some_and(|l| l.iter().any(|x| x == "cryptsetup.target"));
    let (after, wants) = (has(m.import_unit.as_ref().map(|u| &u.after)), has(m.import_unit.as_ref().map(|u| &u.wants)));
    let mut out = vec![if after && wants {
        Finding::ok("import-after-luks", format!("{import} waits for cryptsetup.target (after and wants)"))
    } else {
        let missing: Vec<&str> =
            [("after", after), ("wants", wants)].iter().filter(|(_, ok)| !ok).map(|(k, _)| *k).collect();
        Finding::error(
            "import-after-luks",
            format!("{attr} lacks cryptsetup.target in {}", missing.join(" and ")),
            format!(
                "the pool lies on LUKS, but nixpkgs orders {import} only after systemd-ask-password-console and lets it wait 60 s for the pool's devices: a passphrase typed later ends the boot in emergency mode (NixOS/nixpkgs#250003)"
            ),
            FIX,
        )
    }];
    let name = &config.luks.name;
    let cryptsetup = crate::systemd::cryptsetup_unit(name);
    out.push(if m.luks_opts.as_ref().is_some_and(|o| o.iter().any(|x| x == "tries=0")) {
        Finding::ok("luks-tries", format!("{cryptsetup} asks for the passphrase until it is right (tries=0)"))
    } else {
        Finding::error(
            "luks-tries",
            format!("boot.initrd.luks.devices.{name} has no \"tries=0\" in crypttabExtraOpts"),
            format!(
                "{cryptsetup} then gives up after 3 wrong passphrases (systemd-cryptsetup's default): the device fails and the boot ends in emergency mode"
            ),
            FIX,
        )
    });
    out
}

/// The procedure that gives the running system an empty root with a new @blank, without
/// reinstalling, as argv lists: a new empty dataset beside the root (the root's properties),
/// its @blank, the two renames (ZFS renames a mounted legacy-mountpoint dataset; `-u` leaves
/// it mounted), then `reboot` (the next boot mounts the new dataset by name and rolls it back
/// to its @blank) and the old root's removal. Fails when `<root>.blank@blank` would be longer
/// than ZFS allows.
pub fn blank_fix_commands(config: &Config) -> Result<Vec<Vec<String>>> {
    let ds = config.root_dataset();
    let root = config.full_name(ds);
    let (blank, old) = (format!("{root}.blank"), format!("{root}.old"));
    let snapshot = crate::config::Snapshot::of(blank.as_str()).to_string();
    if snapshot.len() >= crate::config::rules::ZFS_MAX_NAME_LEN {
        return Err(Error::input(format!(
            "cannot restore an empty root beside {root}: {snapshot} would be {} characters long; ZFS allows {}",
            snapshot.len(),
            crate::config::rules::ZFS_MAX_NAME_LEN - 1
        ))
        .hint(format!(
            "boot the installer, import the pool, destroy and re-create {root} empty (`zfs destroy -r`, `zfs create` with its properties), then `zfs snapshot {root}@blank`"
        )));
    }
    let mut props: Vec<(String, String)> =
        vec![("canmount".into(), "noauto".into()), ("mountpoint".into(), "legacy".into())];
    for (k, v) in &ds.properties {
        match props.iter_mut().find(|(pk, _)| pk == k) {
            Some(slot) => slot.1 = v.clone(),
            None => props.push((k.clone(), v.clone())),
        }
    }
    let mut create = vec!["zfs".to_string(), "create".into()];
    for (k, v) in props {
        create.extend(["-o".into(), format!("{k}={v}")]);
    }
    create.push(blank.clone());
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    Ok(vec![
        create,
        argv(&["zfs", "snapshot", &snapshot]),
        argv(&["zfs", "rename", "-u", &root, &old]),
        argv(&["zfs", "rename", "-u", &blank, &root]),
        argv(&["reboot"]),
        argv(&["zfs", "destroy", "-r", &old]),
    ])
}

/// [`blank_fix_commands`] for people: the commands, the reboot, the clean-up.
fn blank_fix(config: &Config) -> String {
    let cmds = match blank_fix_commands(config) {
        Ok(c) => c,
        Err(e) => return format!("{} ({})", e.message, e.hint.unwrap_or_default()),
    };
    let root = config.full_name(config.root_dataset());
    let reboot = cmds.iter().position(|c| c == &["reboot"]).unwrap_or(cmds.len());
    let now: Vec<String> = cmds.iter().take(reboot).map(|c| quote_argv(c)).collect();
    let later: Vec<String> = cmds.iter().skip(reboot + 1).map(|c| quote_argv(c)).collect();
    format!(
        "give the root a new empty dataset with its @blank, without reinstalling: `{}`; reboot (the next boot mounts the new {root} and rolls it back to its @blank); then `{}` once nothing in the old root is still needed",
        now.join(" && "),
        later.join(" && ")
    )
}

/// Whether the root's @blank exists, and the findings about it and this boot's rollback.
pub(super) fn rollback_ran(host: &dyn Host, config: &Config) -> (bool, Vec<Finding>) {
    let root = config.full_name(config.root_dataset());
    let snap = crate::config::Snapshot::of(root.as_str()).to_string();
    if !crate::probe::snapshot_exists(host, &snap) {
        return (
            false,
            vec![Finding::error(
                "blank-snapshot",
                format!("{snap} does not exist"),
                "the rollback has nothing to return to: every boot keeps what the last one wrote",
                blank_fix(config),
            )],
        );
    }
    let mut out = vec![Finding::ok("blank-snapshot", format!("{snap} exists"))];
    let written = host
        .run(&Cmd::new(["zfs", "get", "-Hp", "-o", "value", "written@blank", &root]))
        .ok()
        .filter(|o| o.success())
        .and_then(|o| o.stdout_str().trim().parse::<u64>().ok());
    let uptime =
        host.read_string("/proc/uptime").and_then(|t| t.split_whitespace().next().and_then(|u| u.parse::<f64>().ok()));
    match written {
        None => out.push(Finding::warning(
            "rollback-ran",
            format!("cannot read written@blank of {root}"),
            "it tells whether the last boot rolled the root back",
            format!("`zfs get written@blank {root}`"),
        )),
        Some(w) if w <= FRESH_WRITTEN => {
            out.push(Finding::ok("rollback-ran", format!("{} written to {root} since @blank", human(w))))
        }
        Some(w) if host.booted() && uptime.is_some_and(|u| u < FRESH_UPTIME) => out.push(Finding::error(
            "rollback-ran",
            format!("{} written to {root} since @blank, {:.0} s after boot", human(w), uptime.unwrap_or_default()),
            "right after a boot the root should be nearly empty: the rollback did not run this boot",
            "check the rollback unit (`journalctl -b -u blankroot-rollback`), `blankroot verify-rollback arm`, then reboot",
        )),
        Some(w) => out.push(Finding::info(
            "rollback-ran",
            format!("{} written to {root} since @blank; the next boot erases it (`blankroot diff` shows what)", human(w)),
        )),
    }
    out.extend(journal(host, config));
    (true, out)
}

fn journal(host: &dyn Host, config: &Config) -> Option<Finding> {
    if !host.booted() || config.initrd != Initrd::Systemd {
        return None;
    }
    let unit = format!("{ROLLBACK_UNIT}.service");
    let j = host.run(&Cmd::new(["journalctl", "-b", "-o", "cat", "--no-pager", "-u", &unit])).ok()?;
    if !j.success() {
        return None;
    }
    let text = j.stdout_str();
    Some(if text.lines().any(|l| l.starts_with("Finished ") || l.contains("Deactivated successfully")) {
        Finding::ok("rollback-journal", format!("this boot's journal shows {unit} finished"))
    } else {
        Finding::info("rollback-journal", format!("this boot's journal has no record of {unit}"))
    })
}

/// The marker the systemd stage-1 rollback leaves in /run when it fails (read under the
/// examined root: `--root DIR` reads DIR/run).
pub(super) fn rollback_failed(host: &dyn Host, config: &Config, blank_exists: bool) -> Option<Finding> {
    let Some(text) = host.read_string(ROLLBACK_FAILED_MARKER) else {
        return (host.booted() && config.initrd == Initrd::Systemd).then(|| {
            Finding::ok("rollback-failed", format!("no {ROLLBACK_FAILED_MARKER}: this boot's rollback did not fail"))
        });
    };
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty)");
    let root = config.full_name(config.root_dataset());
    let fix = if blank_exists {
        format!(
            "see why in `journalctl -b -u {ROLLBACK_UNIT}`, fix that, then reboot (until then every boot keeps what the last one wrote)"
        )
    } else {
        blank_fix(config)
    };
    Some(Finding::error(
        "rollback-failed",
        format!("this boot's rollback failed ({ROLLBACK_FAILED_MARKER}: {first})"),
        format!("{root} holds what earlier boots wrote: this boot erased nothing"),
        fix,
    ))
}
