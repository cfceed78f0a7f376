//! Doctor's checks of what an installed system keeps across the rollback: `/persist` mounted
//! from its dataset and needed for boot; the persisted directories (`/etc/nixos`,
//! `/var/lib/nixos` above all) binds of `/persist`; machine-id and the SSH host keys kept
//! there; the password hash files 0600 root.

use super::{Finding, Severity};
use crate::config::{Config, PasswordSource};
use crate::infra::host::Host;
use crate::infra::mounts::{self, Mount};

/// What blankroot.nix says about persistence, when it could be evaluated.
#[derive(Debug, Clone, Copy)]
pub struct Said<'a> {
    pub persist_needed: bool,
    pub machine_id: Option<&'a str>,
    pub host_keys: &'a [String],
}

/// Runs the persistence checks.
pub fn check(host: &dyn Host, config: &Config, m: Option<Said>, mountinfo: &[Mount]) -> Vec<Finding> {
    let mut out = persist(host, config, m, mountinfo);
    out.extend(hash_files(host, config));
    out.extend(kept_blankroot(host, config));
    out
}

/// blankroot's own executable in /persist (`[persist] blankroot`): there, root's, 0755, and
/// static (blankroot.nix links it onto PATH; a dynamic one would not run on NixOS).
fn kept_blankroot(host: &dyn Host, config: &Config) -> Option<Finding> {
    if !config.persist.blankroot {
        return None;
    }
    let path = crate::nixgen::KEPT_BLANKROOT;
    let fix = format!(
        "copy a static blankroot there: `install -D -m 0755 blankroot {path}` (`scripts/build-static` makes one; the flake's packages.static too), or set [persist] blankroot = false in blankroot.toml and `blankroot regenerate`"
    );
    let why =
        "blankroot.nix puts it on PATH as `blankroot`, for doctor, diff, persist and verify-rollback on this system";
    let bad = |what: String| Some(Finding::warning("blankroot-kept", what, why, fix.clone()));
    let Some(meta) = host.meta(path) else {
        return bad(format!("{path} is missing"));
    };
    if meta.is_dir || meta.is_link || meta.uid != 0 || meta.mode & 0o7777 != 0o755 {
        return bad(format!(
            "{path} is not an executable file of root's, mode 0755 (mode {:04o}, owner {})",
            meta.mode, meta.uid
        ));
    }
    let judged =
        host.read(path).map(|b| crate::infra::elf::is_whole(&b).and_then(|()| crate::infra::elf::is_static(&b)));
    match judged {
        Some(Ok(true)) => Some(Finding::ok("blankroot-kept", format!("{path}: a static blankroot, on PATH"))),
        Some(Ok(false)) => bad(format!("{path} needs a dynamic loader, which NixOS does not have at /lib64")),
        Some(Err(why)) => bad(format!("{path} is not an executable blankroot can run: {why}")),
        None => bad(format!("{path} cannot be read")),
    }
}

fn persist(host: &dyn Host, config: &Config, m: Option<Said>, mountinfo: &[Mount]) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(ds) = config.persist_dataset() else {
        out.push(Finding::error(
            "persist",
            "no dataset mounts at /persist in blankroot.toml",
            "everything kept across the rollback lives there",
            "add the persist dataset back to [[datasets]]",
        ));
        return out;
    };
    let dataset = config.full_name(ds);
    let at = host.machine_path("/persist");
    match mounts::at(mountinfo, &at) {
        Some(mt) if mt.source == dataset && mt.root == "/" => {
            out.push(Finding::ok("persist-mounted", format!("{dataset} is mounted at {at}")))
        }
        Some(mt) => out.push(Finding::error(
            "persist-mounted",
            format!("{at} shows {} ({}), not {dataset}", mt.source, mt.fstype),
            "what is written to /persist must land in the persistent dataset",
            format!("`umount {at}` and check fileSystems.\"/persist\""),
        )),
        None => out.push(Finding::error(
            "persist-mounted",
            format!("{dataset} is not mounted at {at}"),
            "password hashes, machine-id and the bind-mount sources live there",
            "check fileSystems.\"/persist\" in blankroot.nix and `journalctl -b -u persist.mount`",
        )),
    }
    out.push(persist_boot(host, m));
    out.extend(persisted_dirs(config, &dataset, mountinfo, host));
    out.extend(machine_id(host, config, m));
    out.extend(ssh_keys(host, config, m));
    out
}

/// `/persist` is needed for boot: blankroot.nix says so, or the booted system's fstab does.
fn persist_boot(host: &dyn Host, m: Option<Said>) -> Finding {
    let fstab_says = host.booted().then(|| {
        host.read_string("/etc/fstab").unwrap_or_default().lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"/persist") && f.get(3).is_some_and(|o| o.split(',').any(|o| o == "x-initrd.mount"))
        })
    });
    match m.map(|m| m.persist_needed).or(fstab_says) {
        Some(true) => Finding::ok("persist-boot", "/persist is needed for boot (mounted in stage 1)"),
        Some(false) => Finding::error(
            "persist-boot",
            "/persist is not marked neededForBoot",
            "stage 1 must mount it: the password hashes are read, machine-id linked and the binds made before the system starts",
            "set fileSystems.\"/persist\".neededForBoot = true; (blankroot.nix has it), then `nixos-rebuild boot`",
        ),
        None => Finding::info(
            "persist-boot",
            "cannot tell whether /persist is needed for boot (blankroot.nix not evaluated, and no booted /etc/fstab)",
        ),
    }
}

/// Each persisted directory a bind of /persist, and /etc/nixos, /var/lib/nixos kept anyway.
fn persisted_dirs(config: &Config, dataset: &str, mountinfo: &[Mount], host: &dyn Host) -> Vec<Finding> {
    let mut out = Vec::new();
    // Every persisted directory must be a bind of /persist<dir>; /etc/nixos and
    // /var/lib/nixos must survive in any case (on a dataset of their own, the config drops
    // them from the list: then the dataset holding them must not be the rolled-back root).
    let blank = config.full_name(config.root_dataset());
    let mut dirs: Vec<(&str, bool)> = config.persist.directories.iter().map(|d| (d.as_str(), false)).collect();
    for essential in ["/etc/nixos", "/var/lib/nixos"] {
        match dirs.iter_mut().find(|(d, _)| *d == essential) {
            Some(entry) => entry.1 = true,
            None => dirs.push((essential, true)),
        }
    }
    for (dir, essential) in dirs {
        let point = host.machine_path(dir);
        let listed = config.persist.directories.iter().any(|d| d == dir);
        let held = mounts::holding(mountinfo, &point);
        let finding = match held {
            Some(mt) if listed && mt.mount_point == point && mt.source == dataset && mt.root == dir => {
                Finding::ok("persisted", format!("{dir} is /persist{dir}"))
            }
            Some(mt) if !listed && mt.fstype == "zfs" && mt.source != blank => {
                Finding::ok("persisted", format!("{dir} is on the dataset {}", mt.source))
            }
            _ => Finding::problem(
                "persisted",
                if essential { Severity::Error } else { Severity::Warning },
                if listed {
                    format!("{dir} is not a bind of /persist{dir}")
                } else {
                    format!("{dir} is on the rolled-back root ({blank})")
                },
                match dir {
                    "/etc/nixos" => "the next boot erases the configuration itself",
                    "/var/lib/nixos" => "it holds the uid/gid map: without it users and groups get new ids",
                    _ => "what is written there is erased at the next boot",
                },
                format!("check fileSystems.\"{dir}\" in blankroot.nix, then `nixos-rebuild boot` and reboot"),
            ),
        };
        out.push(finding);
    }
    out
}

fn machine_id(host: &dyn Host, config: &Config, m: Option<Said>) -> Vec<Finding> {
    let kept = "/persist/etc/machine-id";
    if !config.persist.files.iter().any(|f| f == "/etc/machine-id") {
        // On a dataset of its own (a layout with /etc on one): nothing of blankroot's to check.
        return Vec::new();
    }
    if m.is_some_and(|m| m.machine_id != Some(kept)) {
        return vec![Finding::error(
            "machine-id",
            "environment.etc.\"machine-id\".source is not /persist/etc/machine-id in blankroot.nix",
            "a new machine id every boot breaks the journal's history, DHCP leases and more",
            "`sudo blankroot regenerate`, then `sudo nixos-rebuild boot`",
        )];
    }
    if host.read_string(kept).is_none_or(|t| t.trim().is_empty()) {
        return vec![Finding::error(
            "machine-id",
            format!("{kept} is missing or empty"),
            "/etc/machine-id links to it; systemd makes a new id every boot without it",
            "`systemd-machine-id-setup --print > /persist/etc/machine-id`",
        )];
    }
    if host.booted() && host.resolve("/etc/machine-id") != kept {
        return vec![Finding::error(
            "machine-id",
            "/etc/machine-id does not lead to /persist/etc/machine-id",
            "the machine id would not survive the rollback",
            "`nixos-rebuild boot` with blankroot.nix's environment.etc.\"machine-id\", then reboot",
        )];
    }
    vec![Finding::ok("machine-id", "/etc/machine-id is kept in /persist/etc/machine-id")]
}

fn ssh_keys(host: &dyn Host, config: &Config, m: Option<Said>) -> Vec<Finding> {
    if !config.persist.ssh_host_keys {
        return vec![Finding::warning(
            "ssh-host-keys",
            "SSH host keys are not kept ([persist] ssh_host_keys = false)",
            "sshd makes new host keys every boot, and every client warns of a changed host",
            "set ssh_host_keys = true in blankroot.toml and regenerate",
        )];
    }
    if let Some(bad) = m.and_then(|m| m.host_keys.iter().find(|k| !k.starts_with("/persist/"))) {
        return vec![Finding::error(
            "ssh-host-keys",
            format!("services.openssh.hostKeys has {bad}, outside /persist"),
            "that key is erased at every boot",
            "`sudo blankroot regenerate` (its hostKeys live in /persist/etc/ssh), then `sudo nixos-rebuild boot`",
        )];
    }
    let keys: Vec<String> =
        host.list("/persist/etc/ssh").unwrap_or_default().into_iter().filter(|n| n.starts_with("ssh_host_")).collect();
    if keys.is_empty() {
        vec![Finding::info(
            "ssh-host-keys",
            "no host keys in /persist/etc/ssh yet: sshd makes them there at its first start",
        )]
    } else {
        vec![Finding::ok("ssh-host-keys", format!("host keys in /persist/etc/ssh: {}", keys.join(", ")))]
    }
}

fn hash_files(host: &dyn Host, config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, _) in config.accounts().into_iter().filter(|(_, p)| !matches!(p, PasswordSource::Locked)) {
        let path = name.hash_path();
        match host.meta(&path) {
            None => out.push(Finding::error(
                "password-hash",
                format!("{path} is missing"),
                format!("{name} has no password and cannot log in (users.mutableUsers = false)"),
                format!("`mkpasswd -m yescrypt > {path}; chmod 600 {path}`"),
            )),
            Some(mt) if mt.mode & 0o777 != 0o600 || mt.uid != 0 || mt.gid != 0 || mt.is_link => {
                out.push(Finding::error(
                    "password-hash",
                    format!("{path} is mode {:04o}, owner {}:{}", mt.mode & 0o7777, mt.uid, mt.gid),
                    "a password hash readable by others can be cracked offline",
                    format!("`chown root:root {path}; chmod 600 {path}`"),
                ))
            }
            Some(_) => out.push(Finding::ok("password-hash", format!("{path}: 0600 root"))),
        }
    }
    out
}
