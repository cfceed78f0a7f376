//! Doctor's checks of a system blankroot installed: the rollback is configured (for the
//! systemd stage 1: after the pool import, before sysroot.mount, once; the import waits for
//! LUKS; the passphrase is asked for until it is right) and ran (@blank exists, little written
//! since, no failure marker in /run; those checks are in `rollback`); `networking.hostId` =
//! `/etc/hostid` = the pool's host id; `/persist` mounted and needed for boot; `/etc/nixos`,
//! `/var/lib/nixos`, machine-id and the SSH host keys kept in it; password hash files 0600
//! root; no `postDeviceCommands` rollback under systemd.
//!
//! What the configuration says is read by evaluating `/etc/nixos/blankroot.nix` with
//! `nix-instantiate` (stub module arguments, only the options looked at are forced); what the
//! machine does, from mountinfo, /etc, `zfs`/`zpool`/`zdb` and this boot's journal. What is kept
//! across the rollback is checked in `persisted`.

mod rollback;

pub use rollback::blank_fix_commands;

use super::Finding;
use crate::config::{Config, Initrd};
use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::runner::Cmd;
use crate::nixgen::escape;
use serde::Deserialize;

/// Up to this much written to the root since @blank counts as "just rolled back".
const FRESH_WRITTEN: u64 = 64 << 20;
/// A boot younger than this should still look freshly rolled back.
const FRESH_UPTIME: f64 = 900.0;

/// What blankroot.nix says, as `nix-instantiate --eval` reports it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Module {
    systemd: bool,
    unit: Option<Unit>,
    /// `boot.initrd.systemd.services."zfs-import-<pool>"`: what blankroot adds to nixpkgs' unit.
    import_unit: Option<Unit>,
    /// `crypttabExtraOpts` of the LUKS device.
    luks_opts: Option<Vec<String>>,
    post_resume: String,
    post_device: String,
    persist_needed: bool,
    host_id: Option<String>,
    machine_id: Option<String>,
    host_keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unit {
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    before: Vec<String>,
    #[serde(default)]
    wants: Vec<String>,
    #[serde(default)]
    wanted_by: Vec<String>,
    #[serde(default)]
    script: String,
    #[serde(default)]
    unit_config: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    service_config: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The expression that evaluates a NixOS module's text with stub arguments and picks out what
/// doctor checks (read from stdin, so it works on any root and over any runner).
fn module_expr(text: &str, config: &Config) -> String {
    let unit = escape::string(crate::nixgen::ROLLBACK_UNIT);
    let import = escape::string(&format!("zfs-import-{}", config.pool.name));
    let luks = escape::string(&config.luks.name);
    let stubs = crate::nixgen::verify::STUB_ARGS;
    format!(
        r#"let m = ({text}
) {stubs};
  i = m.boot.initrd or {{}};
in {{
  systemd = i.systemd.enable or false;
  unit = i.systemd.services.{unit} or null;
  importUnit = i.systemd.services.{import} or null;
  luksOpts = i.luks.devices.{luks}.crypttabExtraOpts or null;
  postResume = i.postResumeCommands or "";
  postDevice = i.postDeviceCommands or "";
  persistNeeded = m.fileSystems."/persist".neededForBoot or false;
  hostId = m.networking.hostId or null;
  machineId = m.environment.etc."machine-id".source or null;
  hostKeys = map (k: k.path) (m.services.openssh.hostKeys or []);
}}"#
    )
}

fn evaluate(host: &dyn Host, text: &str, config: &Config) -> std::result::Result<Module, String> {
    let cmd = Cmd::new(["nix-instantiate", "--eval", "--strict", "--json", "-"])
        .stdin(module_expr(text, config).into_bytes());
    // `output`, not `run`: a failed evaluation's stderr is the finding's cause.
    let out = host.output(&cmd).map_err(|e| e.message)?;
    if !out.success() {
        return Err(crate::nixgen::verify::nix_stderr(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// The layout of the examined installation: its `/etc/nixos/blankroot.toml`. Without one
/// (or with one that cannot be read or parsed) there is nothing to check against: an error
/// naming the file (and the position of a parse error), not a finding.
pub(crate) fn load_config(host: &dyn Host) -> Result<Config> {
    const TOML: &str = "/etc/nixos/blankroot.toml";
    let shown = host.machine_path(TOML);
    let Some(bytes) = host.read(TOML) else {
        if host.exists(TOML) {
            return Err(Error::input(format!("cannot read {shown}"))
                .hint("run doctor as root, and check that it is a file blankroot wrote"));
        }
        return Err(Error::input(format!(
            "no {shown}: this is not a system blankroot installed, or /etc/nixos is not mounted from /persist"
        ))
        .hint(
            "on a blankroot system, check `findmnt /etc/nixos` (it is a bind of /persist/etc/nixos); with --root, give the directory the installation is mounted at; on the installer, `blankroot doctor --mode live`",
        ));
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::input(format!("{shown} is not UTF-8 text"))
            .caused_by(e)
            .hint("restore the blankroot.toml blankroot wrote")
    })?;
    crate::config::parse_str(&shown, &text, &Default::default())
}

/// Runs the installed-system checks. An installation without a readable blankroot.toml is
/// an error.
pub fn check(host: &dyn Host) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let config = load_config(host)?;
    out.push(Finding::ok(
        "config",
        format!(
            "/etc/nixos/blankroot.toml: pool {}, root {}, {} stage 1",
            config.pool.name,
            config.full_name(config.root_dataset()),
            match config.initrd {
                Initrd::Systemd => "systemd",
                Initrd::Scripted => "scripted",
            }
        ),
    ));
    let mountinfo = host.mounts();
    let module = match host.read_string("/etc/nixos/blankroot.nix") {
        None => {
            out.push(Finding::error(
                "rollback-config",
                "no /etc/nixos/blankroot.nix",
                "it holds the rollback, the file systems and the persistence of this layout",
                "regenerate it from blankroot.toml with blankroot, then `nixos-rebuild boot`",
            ));
            None
        }
        Some(t) => match evaluate(host, &t, &config) {
            Ok(m) => Some(m),
            Err(why) => {
                out.push(Finding::warning(
                    "rollback-config",
                    format!("cannot evaluate /etc/nixos/blankroot.nix: {why}"),
                    "what the configuration says about the rollback and /persist cannot be checked",
                    "run doctor where nix-instantiate works (it does on NixOS); `nix-instantiate --parse /etc/nixos/blankroot.nix` shows syntax errors",
                ));
                None
            }
        },
    };
    if let Some(m) = &module {
        out.extend(rollback::rollback_config(&config, m));
        out.extend(rollback::luks_before_import(&config, m));
    }
    out.extend(post_device_commands(host, &config, module.as_ref()));
    let (blank_exists, ran) = rollback::rollback_ran(host, &config);
    out.extend(ran);
    out.extend(rollback::rollback_failed(host, &config, blank_exists));
    out.extend(hostid(host, &config, module.as_ref()));
    out.extend(super::persisted::check(
        host,
        &config,
        module.as_ref().map(|m| super::persisted::Said {
            persist_needed: m.persist_needed,
            machine_id: m.machine_id.as_deref(),
            host_keys: &m.host_keys,
        }),
        &mountinfo,
    ));
    Ok(out)
}

/// `boot.initrd.postDeviceCommands` under the systemd stage 1 is an error (NixOS's
/// systemd/initrd.nix asserts it is empty): in blankroot.nix, or anywhere in /etc/nixos.
fn post_device_commands(host: &dyn Host, config: &Config, m: Option<&Module>) -> Vec<Finding> {
    let systemd = m.map_or(config.initrd == Initrd::Systemd, |m| m.systemd);
    if !systemd {
        return Vec::new();
    }
    let mut files: Vec<String> = Vec::new();
    if m.is_some_and(|m| !m.post_device.trim().is_empty()) {
        files.push("blankroot.nix".into());
    }
    for name in host.list("/etc/nixos").unwrap_or_default() {
        if !name.ends_with(".nix") || name == "blankroot.nix" {
            continue;
        }
        let text = host.read_string(&format!("/etc/nixos/{name}")).unwrap_or_default();
        let code: String = text.lines().map(|l| l.split('#').next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
        if code.contains("postDeviceCommands") {
            files.push(name);
        }
    }
    if files.is_empty() {
        return vec![Finding::ok("post-device", "no boot.initrd.postDeviceCommands under the systemd stage 1")];
    }
    vec![Finding::error(
        "post-device",
        format!("boot.initrd.postDeviceCommands is set ({}) while stage 1 is systemd", files.join(", ")),
        "systemd stage 1 never runs it: NixOS refuses to build such a system (an assertion in nixos/modules/system/boot/systemd/initrd.nix), so a rollback put there (as the usual blog guides do) never happens",
        "remove it: blankroot.nix rolls back in boot.initrd.systemd.services.blankroot-rollback",
    )]
}

/// `/etc/hostid` (4 bytes, native byte order) as NixOS writes networking.hostId.
fn etc_hostid(bytes: &[u8]) -> Option<String> {
    let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(format!("{:08x}", u32::from_ne_bytes(b)))
}

/// The host id in the pool's labels (`zdb -l` on its first device, from `zpool status -P -L`).
fn pool_hostid(host: &dyn Host, pool: &str) -> Option<String> {
    let status = host.run(&Cmd::new(["zpool", "status", "-P", "-L", pool])).ok().filter(|o| o.success())?;
    let dev = crate::probe::pools::parse_status(&status.stdout_str()).into_iter().find(|d| d.pool == pool)?.path;
    let label = host.run(&Cmd::new(["zdb", "-l", &dev])).ok().filter(|o| o.success())?;
    let text = label.stdout_str();
    let dec = text.lines().find_map(|l| l.trim().strip_prefix("hostid: "))?.trim().parse::<u64>().ok()?;
    Some(format!("{dec:08x}"))
}

fn hostid(host: &dyn Host, config: &Config, m: Option<&Module>) -> Vec<Finding> {
    let fix = "the pool was imported elsewhere or the id changed: set networking.hostId (blankroot.toml host_id) to the pool's, `nixos-rebuild boot`, reboot; or import once with `zpool import -f` and export cleanly";
    let Some(want) = config.host_id.clone() else {
        return vec![Finding::error(
            "hostid",
            "blankroot.toml has no host_id",
            "the pool is imported without force only under the host id it was created with",
            "set host_id to the pool's host id (`zdb -l` on its device shows it)",
        )];
    };
    let mut seen = vec![format!("blankroot.toml {want}")];
    let mut bad = Vec::new();
    if let Some(n) = m.and_then(|m| m.host_id.clone()) {
        seen.push(format!("networking.hostId {n}"));
        if n != want {
            bad.push(format!("networking.hostId is {n}"));
        }
    }
    match host.read("/etc/hostid").and_then(|b| etc_hostid(&b)) {
        Some(e) => {
            seen.push(format!("/etc/hostid {e}"));
            if e != want {
                bad.push(format!("/etc/hostid holds {e}"));
            }
        }
        None if host.booted() => bad.push("/etc/hostid is missing (NixOS writes it from networking.hostId)".into()),
        None => {}
    }
    match pool_hostid(host, &config.pool.name) {
        Some(p) => {
            seen.push(format!("the pool's label {p}"));
            if p != want {
                bad.push(format!("the pool {} was last imported under {p}", config.pool.name));
            }
        }
        None => bad.push(format!("cannot read the host id of pool {} (`zdb -l` on its device)", config.pool.name)),
    }
    if bad.is_empty() {
        vec![Finding::ok("hostid", format!("one host id everywhere: {}", seen.join(", ")))]
    } else {
        vec![Finding::error(
            "hostid",
            format!("host ids disagree with blankroot.toml's {want}: {}", bad.join("; ")),
            "a pool last imported under another host id is refused at boot (\"pool was previously in use from another system\") unless forced",
            fix,
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ids() {
        assert_eq!(etc_hostid(&[0xcd, 0xab, 0x34, 0x12]), Some("1234abcd".into()));
        assert_eq!(etc_hostid(&[1, 2]), None);
    }
}
