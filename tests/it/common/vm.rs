//! Driving the VM tier from Rust (tests/it/vm_e2e.rs, benches/install_vm.rs): the kit (built or
//! found in the cache once per process), a work folder with the share (blankroot binary and
//! every guest script of tests/vm/guest), raw test disks, and boots through tests/vm/run.sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kit directory, built (or found in the cache) once per test process.
pub fn kit() -> &'static str {
    static KIT: OnceLock<String> = OnceLock::new();
    KIT.get_or_init(|| {
        if let Ok(k) = std::env::var("BLANKROOT_VM_KIT") {
            return k;
        }
        let out = Command::new("bash").arg(root().join("tests/vm/kit.sh")).output().expect("run tests/vm/kit.sh");
        assert!(out.status.success(), "kit build failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().last().expect("kit.sh prints the kit dir").trim().to_string()
    })
}

pub struct Vm {
    pub dir: tempfile::TempDir,
    pub disks: Vec<(PathBuf, &'static str)>,
}

impl Vm {
    /// A share folder with blankroot (this build's, the one cargo made for the tests) and the
    /// guest scripts, and raw test disks (serial, GiB).
    pub fn new(disks: &[(&'static str, u64)]) -> Vm {
        Vm::with_blankroot(disks, Path::new(env!("CARGO_BIN_EXE_blankroot")))
    }
    /// Like [`Vm::new`], with another blankroot binary in the share (the static one).
    pub fn with_blankroot(disks: &[(&'static str, u64)], blankroot: &Path) -> Vm {
        let mut dir = tempfile::Builder::new().prefix("blankroot-vm-").tempdir_in(std::env::temp_dir()).unwrap();
        if std::env::var_os("BLANKROOT_VM_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("keeping {}", dir.path().display());
        }
        let share = dir.path().join("share");
        std::fs::create_dir_all(share.join("out")).unwrap();
        std::fs::copy(blankroot, share.join("blankroot")).unwrap();
        for entry in std::fs::read_dir(root().join("tests/vm/guest")).unwrap() {
            let src = entry.unwrap().path();
            std::fs::copy(&src, share.join(src.file_name().unwrap())).unwrap();
        }
        let mut v = Vm { dir, disks: Vec::new() };
        for (serial, gib) in disks {
            let p = v.dir.path().join(format!("{serial}.img"));
            std::fs::File::create(&p).unwrap().set_len(gib << 30).unwrap();
            v.disks.push((p, serial));
        }
        v
    }
    pub fn share(&self) -> PathBuf {
        self.dir.path().join("share")
    }
    /// A file the guest wrote under /share/out.
    pub fn out(&self, rel: &str) -> String {
        std::fs::read_to_string(self.share().join("out").join(rel)).unwrap_or_else(|e| panic!("out/{rel}: {e}"))
    }
    /// The image file of the disk with this serial.
    pub fn disk(&self, serial: &str) -> &Path {
        &self.disks.iter().find(|(_, s)| *s == serial).unwrap_or_else(|| panic!("no disk {serial}")).0
    }
    /// Boots the kit with `scenario` as the guest's test; returns (exit status, console log).
    pub fn boot(&self, scenario: &str, extra: &[String]) -> (i32, String) {
        self.boot_with(scenario, extra, || {})
    }
    /// Like [`Vm::boot`], calling `tick` every 100 ms while the guest runs. A boot that never
    /// reaches the guest's init (run.sh's exit 126: seen once under TCG, QEMU spinning with
    /// no output) is tried once more; nothing has run in the guest then.
    pub fn boot_with(&self, scenario: &str, extra: &[String], mut tick: impl FnMut()) -> (i32, String) {
        let (rc, log) = self.boot_once(scenario, extra, &mut tick);
        if rc != 126 {
            return (rc, log);
        }
        eprintln!("vm: the guest never reached init; booting it again");
        self.boot_once(scenario, extra, &mut tick)
    }

    fn boot_once(&self, scenario: &str, extra: &[String], tick: &mut impl FnMut()) -> (i32, String) {
        // Bash with pipefail, so a failing `sha256sum | cut` fails the scenario instead of
        // writing an empty digest; executable, so guest-init runs it by its #! line.
        let test = self.share().join("test.sh");
        std::fs::write(&test, format!("#!/bin/bash\nset -euo pipefail\n. /share/{scenario}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&test, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = self.dir.path().join(format!("{scenario}.log"));
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("tests/vm/run.sh"))
            .env("BLANKROOT_VM_KIT", kit())
            .arg("--share")
            .arg(self.share())
            .arg("--timeout")
            .arg("900")
            .arg("--log")
            .arg(&log);
        for (p, serial) in &self.disks {
            cmd.arg("--disk").arg(format!("{}:{serial}", p.display()));
        }
        cmd.args(extra);
        let mut child = cmd.spawn().expect("run tests/vm/run.sh");
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for tests/vm/run.sh") {
                break status;
            }
            tick();
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        // Lossy: a console can hold bytes that are not UTF-8 (systemd cuts unit names mid-character).
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        (status.code().unwrap_or(-1), text)
    }
}

/// The rollback unit's script (`zfs rollback -r …@blank`, loud when it fails), taken from the
/// generated blankroot.nix by the real Nix evaluator.
pub fn rollback_command(module: &Path) -> String {
    let expr = format!(
        "(import {} {}).boot.initrd.systemd.services.blankroot-rollback.script",
        module.display(),
        blankroot::nixgen::verify::STUB_ARGS
    );
    let out = Command::new("nix-instantiate").args(["--eval", "--json", "-E", &expr]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<String>(&out.stdout).unwrap()
}

/// A step id as a console mark name (tests/vm/guest/common.sh `mark_events`).
pub fn mark_name(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

/// A sha256 digest as the guest wrote it (a line of `sha256sum` output, or the host's answer):
/// exactly 64 lower-case hex characters, else the test fails here, so an empty or broken
/// digest on both sides can never compare equal.
pub fn digest(text: &str) -> String {
    let d = text.strip_suffix('\n').unwrap_or(text);
    assert!(
        d.len() == 64 && d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "not a sha256 digest: {text:?}"
    );
    d.to_string()
}

/// The last 60 lines of a console log, for failure messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A digest of a disk image's whole content, computed on the host in a moment however large
/// the (sparse) image: only the 1 MiB blocks that hold data are read (`SEEK_DATA`); a block of
/// zeros counts the same as a hole, so equal digests mean byte-identical disks.
pub fn disk_digest(path: &Path) -> String {
    use sha2::Digest;
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::AsRawFd;
    const BLOCK: u64 = 1 << 20;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let len = f.metadata().unwrap().len();
    let fd = f.as_raw_fd();
    let mut h = sha2::Sha256::new();
    h.update(len.to_le_bytes());
    let mut buf = vec![0u8; BLOCK as usize];
    let mut pos: u64 = 0;
    while pos < len {
        // SAFETY: lseek on a file descriptor we own; no memory is passed.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: no data after pos
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) } as u64;
        let mut block = data as u64 / BLOCK * BLOCK;
        while block < hole {
            let n = BLOCK.min(len - block) as usize;
            f.read_exact_at(&mut buf[..n], block).unwrap();
            if buf[..n].iter().any(|&b| b != 0) {
                h.update(block.to_le_bytes());
                h.update(&buf[..n]);
            }
            block += BLOCK;
        }
        pos = block;
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Answers the guest's requests for disk digests (tests/vm/guest/common.sh `host_digest`):
/// for each new file `out/digest-req/<name>` (the guest has synced), writes the digest of
/// `disk` to `out/digest/<name>`. Call it from [`Vm::boot_with`]'s tick.
pub fn answer_digest_requests(share: &Path, disk: &Path) {
    let req = share.join("out/digest-req");
    let Ok(entries) = std::fs::read_dir(&req) else { return };
    let done = share.join("out/digest");
    std::fs::create_dir_all(&done).unwrap();
    for e in entries.flatten() {
        let name = e.file_name();
        let dst = done.join(&name);
        if dst.exists() {
            continue;
        }
        let tmp = done.join(format!(".{}.tmp", name.to_string_lossy()));
        std::fs::write(&tmp, disk_digest(disk) + "\n").unwrap();
        std::fs::rename(&tmp, &dst).unwrap();
    }
}

/// The guest's serial console as a unix socket (run.sh `--console-socket`): what it printed so
/// far, and typing on it. Polled from [`Vm::boot_with`]'s tick; QEMU waits for this client
/// before it starts the guest, so connect early.
pub struct Console {
    path: PathBuf,
    stream: Option<std::os::unix::net::UnixStream>,
    /// Everything the guest printed since the connection.
    pub seen: String,
}

impl Console {
    pub fn new(path: PathBuf) -> Console {
        Console { path, stream: None, seen: String::new() }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Connects when the socket exists, then reads whatever the guest has printed.
    pub fn poll(&mut self) {
        use std::io::Read;
        if self.stream.is_none() {
            match std::os::unix::net::UnixStream::connect(&self.path) {
                Ok(s) => {
                    s.set_nonblocking(true).unwrap();
                    self.stream = Some(s);
                }
                Err(_) => return,
            }
        }
        let mut buf = [0u8; 65536];
        while let Some(s) = self.stream.as_mut() {
            match s.read(&mut buf) {
                Ok(0) => {
                    self.stream = None;
                }
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => break,
            }
        }
    }
    /// Types `text` and Enter (a carriage return, as a terminal sends it).
    pub fn type_line(&mut self, text: &str) {
        use std::io::Write;
        if let Some(s) = self.stream.as_mut() {
            s.set_nonblocking(false).unwrap();
            s.write_all(format!("{text}\r").as_bytes()).unwrap();
            s.set_nonblocking(true).unwrap();
        }
    }
}

/// The test config most VM scenarios use: the seed's defaults on disk01, a cheap PBKDF (test
/// runs only), one wheel user whose password comes from a file the guest writes.
pub fn write_config(share: &Path) {
    std::fs::write(
        share.join("cfg.toml"),
        "# The seed's defaults on the first test disk, with a cheap PBKDF for test runs only.\n\
         disk = \"/dev/disk/by-id/virtio-disk01\"\n\
         [luks]\nformat_options = [\"--pbkdf\", \"pbkdf2\", \"--pbkdf-force-iterations\", \"1000\"]\n\
         [[users]]\nname = \"admin\"\ngroups = [\"wheel\"]\npassword_file = \"/tmp/admin.pw\"\n",
    )
    .unwrap();
}

/// The test secrets of the guest scenarios (tests/vm/guest/common.sh): the LUKS passphrase and
/// the admin's password.
pub const SECRETS: [&str; 2] = ["vm-test-passphrase-Zq81", "admin-pw-Xk27"];

/// One row of `zfs get -Hp` / `zpool get -Hp`: name, property, value, source.
pub type Prop = (String, String, String, String);

pub fn props(text: &str) -> Vec<Prop> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4).then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string(), f[3].to_string()))
        })
        .collect()
}

/// The value and source `get` reported for `key` on `name`.
pub fn prop<'a>(all: &'a [Prop], name: &str, key: &str) -> (&'a str, &'a str) {
    all.iter()
        .find(|(n, k, _, _)| n == name && k == key)
        .map(|(_, _, v, s)| (v.as_str(), s.as_str()))
        .unwrap_or_else(|| panic!("{name} {key}"))
}

/// That `name` has `key` set to `want` by blankroot: the value matches and its source is
/// `local` (a default that happens to read the same, like xattr `on` on OpenZFS 2.3, fails).
pub fn assert_set_here(all: &[Prop], name: &str, key: &str, want: &str) {
    let (got, source) = prop(all, name, key);
    assert!(
        blankroot::zfsprops::set_here(key, want, got, source),
        "{name} {key}: got {got} (source {source}), planned {want} (source local)"
    );
}

/// The tools a plan hands a secret, sorted: the program of every command or check with a
/// secret on stdin, and `install`, which writes the files whose content is a password hash
/// (src/commands/install/exec.rs `write_file`). What tests/vm/guest/common.sh `secret_standins` must
/// have wrapped.
pub fn secret_tools(plan: &blankroot::plan::Plan) -> Vec<String> {
    use blankroot::plan::{Content, Stdin};
    let mut tools = std::collections::BTreeSet::new();
    for s in &plan.steps {
        let commands = s.commands.iter().chain(&s.revert).chain(&s.resume).map(|c| (&c.argv, &c.stdin));
        for (argv, stdin) in commands.chain(s.check.iter().map(|c| (&c.argv, &c.stdin))) {
            if matches!(stdin, Some(Stdin::Secret(_))) {
                tools.insert(argv[0].clone());
            }
        }
        if s.files.iter().any(|f| matches!(f.content, Content::Hash(_))) {
            tools.insert("install".to_string());
        }
    }
    tools.into_iter().collect()
}

/// One call a stand-in recorded (common.sh `secret_standins`): the tool, its arguments, and
/// the whole record (argv and environment, as the tool received them).
pub struct StandinCall {
    pub tool: String,
    pub args: Vec<String>,
    pub record: String,
}

pub fn standin_calls(log: &str) -> Vec<StandinCall> {
    let mut calls: Vec<StandinCall> = Vec::new();
    for line in log.lines() {
        if let Some(head) = line.strip_prefix("--- ") {
            let tool = head.split(' ').next().unwrap_or_default().to_string();
            calls.push(StandinCall { tool, args: Vec::new(), record: String::new() });
        }
        let call = calls.last_mut().expect("a stand-in record starts with `--- <tool>`");
        if let Some(args) = line.strip_prefix("argv:") {
            call.args = args.split(' ').filter(|a| !a.is_empty()).map(String::from).collect();
        }
        call.record.push_str(line);
        call.record.push('\n');
    }
    calls
}

/// What the stand-ins of install.sh logged (out/standins.log): they wrapped exactly the tools
/// the plan hands a secret; blankroot found them on PATH (luksFormat, open, the password
/// hash's `install` went through them); every record has its environment; none holds a test
/// secret; and their self-test saw a secret put in a stand-in's environment. Says what.
pub fn assert_standins_saw_no_secret(v: &Vm, plan: &blankroot::plan::Plan) -> String {
    let tools = secret_tools(plan);
    assert_eq!(v.out("standins.txt").lines().collect::<Vec<_>>(), tools, "the tools the guest wrapped");
    assert_eq!(v.out("standin-selftest.txt").trim(), "seen", "a stand-in must log a secret in its environment");
    let calls = standin_calls(&v.out("standins.log"));
    let called = |tool: &str, first: &str| {
        calls.iter().filter(|c| c.tool == tool && c.args.first().is_some_and(|a| a == first)).count()
    };
    assert_eq!(called("cryptsetup", "luksFormat"), 1, "blankroot must run cryptsetup through the stand-in");
    assert!(called("cryptsetup", "open") >= 1, "cryptsetup open through the stand-in");
    // The hash is written beside its path, then renamed over it (install::exec::write_file).
    let hash_new = "/mnt/persist/etc/nixos-secrets/passwords/.admin.blankroot-new";
    assert!(calls.iter().any(|c| c.tool == "install" && c.args.last().is_some_and(|a| a == hash_new)));
    for c in &calls {
        assert!(c.record.contains("\nenv: PATH=/tmp/standins:"), "a record without its environment: {}", c.record);
        assert!(!SECRETS.iter().any(|s| c.record.contains(s)), "a secret on the argv or environment of: {}", c.record);
    }
    format!("any of {} calls of {} (stand-ins on PATH)", calls.len(), tools.join(", "))
}

/// Whether a console log holds the mark `name` (a line `BLANKROOT-VM-MARK <name>`, then a
/// space, the end of the line or a carriage return: run.sh's rule).
pub fn has_mark(log: &str, name: &str) -> bool {
    let m = format!("BLANKROOT-VM-MARK {name}");
    log.lines().any(|l| l.strip_prefix(&m).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\r'])))
}

/// blankroot's JSON events (one per line; a line torn by a power cut is left out): (event,
/// step id, result) — result empty but for `step` events.
pub fn events(jsonl: &str) -> Vec<(String, String, String)> {
    jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("event"), s("id"), s("result"))
        })
        .collect()
}

/// One boot of the power-cut chain (tests/vm/guest/resume.sh): its name, exit status, console
/// log, and the events blankroot wrote in it (out/events/<name>.jsonl, written straight to the
/// share by blankroot, so complete up to the power cut).
pub struct ChainBoot {
    pub name: String,
    pub rc: i32,
    pub log: String,
    pub events: String,
}

impl ChainBoot {
    /// Why this boot, cut `delay` seconds after step `id` started, is not proven to have been
    /// cut inside that step; `None` when it is: QEMU was killed by run.sh (exit 137, no result
    /// line); the console has start-<id> but no done-<id>; blankroot was still running (no
    /// exited-<rc> mark, which the guest prints as soon as blankroot returns); and the events
    /// blankroot itself wrote have the step's start but not its end.
    pub fn not_inside(&self, id: &str) -> Option<String> {
        let m = mark_name(id);
        let ev = events(&self.events);
        let why = if self.rc != 137 || self.log.contains("BLANKROOT-VM-RESULT") {
            format!("QEMU was not killed by run.sh (exit {})", self.rc)
        } else if !has_mark(&self.log, &format!("start-{m}")) {
            format!("no start-{m} mark")
        } else if has_mark(&self.log, &format!("done-{m}")) {
            format!("done-{m} came first")
        } else if self.log.contains("BLANKROOT-VM-MARK exited-") {
            "blankroot had exited".to_string()
        } else if !ev.iter().any(|(e, i, _)| e == "start" && i == id) {
            "blankroot's events lack the step's start".to_string()
        } else if ev.iter().any(|(e, i, _)| e == "step" && i == id) {
            "blankroot's events have the step's end".to_string()
        } else {
            return None;
        };
        Some(why)
    }
}

/// Copies a (sparse) disk image, keeping its holes: cp reads only the data extents.
pub fn copy_disk(from: &Path, to: &Path) {
    let st = Command::new("cp").arg("--sparse=always").arg(from).arg(to).status().expect("run cp");
    assert!(st.success(), "cp {} {}: {st}", from.display(), to.display());
}

/// The power-cut chain (tests/it/vm_e2e.rs): numbered boots of resume.sh on one VM, each cut
/// somewhere or left to finish, and what each reported.
pub struct Chain<'a> {
    v: &'a Vm,
    /// Every boot so far, in order, with the attempts whose disk was put back.
    pub all: Vec<ChainBoot>,
    /// Indices into `all` of the boots whose effect on the disk stands.
    pub kept: Vec<usize>,
    /// The steps a power cut was proven to have landed inside.
    pub cut_inside: Vec<String>,
}

impl<'a> Chain<'a> {
    pub fn new(v: &'a Vm) -> Chain<'a> {
        Chain { v, all: Vec::new(), kept: Vec::new(), cut_inside: Vec::new() }
    }

    /// One boot of resume.sh, named `<n>-<label>`; `pause_after`: the step blankroot's test
    /// hook holds it after.
    pub fn boot(&mut self, label: &str, pause_after: &str, args: &[String]) -> &ChainBoot {
        let name = format!("{:02}-{}", self.all.len() + 1, mark_name(label));
        let share = self.v.share();
        std::fs::write(share.join("pause-after"), pause_after).unwrap();
        std::fs::write(share.join("boot-name"), &name).unwrap();
        let (rc, log) = self.v.boot("resume.sh", args);
        let events =
            std::fs::read_to_string(share.join("out/events").join(format!("{name}.jsonl"))).unwrap_or_default();
        self.all.push(ChainBoot { name, rc, log, events });
        self.all.last().unwrap()
    }

    /// Cuts the power exactly after step `id`: blankroot's hook holds it there, the host cuts on
    /// the step's done- mark.
    pub fn cut_after(&mut self, id: &str) {
        let mark = format!("done-{}", mark_name(id));
        let b = self.boot(&format!("after-{id}"), id, &["--kill-on-mark".into(), mark.clone()]);
        assert!(has_mark(&b.log, &mark), "{}: never reached {mark}:\n{}", b.name, tail(&b.log));
        assert!(!has_mark(&b.log, "complete"), "{}: the power cut at {mark} came too late", b.name);
        assert_eq!(b.rc, 137, "{}: the boot cut at {mark} must end by the cut:\n{}", b.name, tail(&b.log));
        assert!(!b.log.contains("BLANKROOT-VM-MARK exited-"), "{}: blankroot gave up:\n{}", b.name, tail(&b.log));
        println!("checked: power cut right after {id} (blankroot held there, still running)");
        self.kept.push(self.all.len() - 1);
    }

    /// Cuts the power `secs` seconds after step `id` started, and proves the cut landed inside
    /// the step ([`ChainBoot::not_inside`]). A cut that did not is undone (disk01 put back as it
    /// was before that boot) and tried again with half the delay, twice at most.
    pub fn cut_during(&mut self, id: &str, secs: f64) {
        let disk = self.v.disk("disk01").to_path_buf();
        let saved = disk.with_extension("before-cut");
        let mark = format!("start-{}", mark_name(id));
        let mut delay = secs;
        for attempt in 1..=3 {
            copy_disk(&disk, &saved);
            let args = ["--kill-after-mark".to_string(), format!("{mark}:{delay}")];
            let b = self.boot(&format!("during-{id}-try{attempt}"), "", &args);
            match b.not_inside(id) {
                None => {
                    println!(
                        "checked: cut inside {id}, {delay} s after {mark} (try {attempt}): no done- mark, QEMU killed by run.sh, blankroot still running (no exited- mark), its own events end inside the step"
                    );
                    self.kept.push(self.all.len() - 1);
                    self.cut_inside.push(id.to_string());
                    std::fs::remove_file(&saved).unwrap();
                    return;
                }
                Some(why) => {
                    eprintln!(
                        "{}: the cut {delay} s into {id} did not land inside it ({why}); disk01 put back",
                        b.name
                    );
                    copy_disk(&saved, &disk);
                    delay /= 2.0;
                }
            }
        }
        panic!("no power cut landed inside {id} in 3 tries (last delay {} s)", delay * 2.0);
    }

    /// The boot that completes the install.
    pub fn finish(&mut self) {
        let b = self.boot("final", "", &[]);
        assert_eq!(b.rc, 0, "the final resume failed:\n{}", tail(&b.log));
        assert!(has_mark(&b.log, "complete") && has_mark(&b.log, "exited-0"), "{}", tail(&b.log));
        self.kept.push(self.all.len() - 1);
    }

    /// Across the boots that stand, each destructive step with a check reported `done` at most
    /// once: nothing was made again. A step no cut landed inside was done exactly once; one a
    /// cut landed inside may have been done in no boot at all (its command had finished when
    /// the power went, and the next boot found it done), but never twice: the cut boot has no
    /// `done` for it (proven), so a second one would be a re-creation. And no boot refused for
    /// want of --wipe. Returns, per such step, the boot that did it (or "none").
    pub fn assert_nothing_recreated(&self, plan: &blankroot::plan::Plan) -> Vec<(String, String)> {
        let guarded: Vec<&str> =
            plan.steps.iter().filter(|s| s.destructive && !s.check.is_empty()).map(|s| s.id.as_str()).collect();
        for id in ["partition", "format-esp", "luks-format", "pool-create"] {
            assert!(guarded.contains(&id), "{id} is no longer destructive with a check: {guarded:?}");
        }
        let mut by = Vec::new();
        for id in guarded {
            let done: Vec<&str> = self
                .kept
                .iter()
                .map(|&i| &self.all[i])
                .flat_map(|b| events(&b.events).into_iter().map(move |e| (b.name.as_str(), e)))
                .filter(|(_, (e, i, r))| e == "step" && i == id && r == "done")
                .map(|(name, _)| name)
                .collect();
            let cut = self.cut_inside.iter().any(|c| c == id);
            let ok = if cut { done.len() <= 1 } else { done.len() == 1 };
            assert!(ok, "{id} (cut inside: {cut}) done in {done:?}: made again, or never made");
            by.push((id.to_string(), done.first().copied().unwrap_or("none").to_string()));
        }
        for b in &self.all {
            assert!(!b.log.contains("--wipe"), "{}: a boot asked for --wipe:\n{}", b.name, tail(&b.log));
        }
        let stderr = std::fs::read_to_string(self.v.share().join("out/install.stderr")).unwrap_or_default();
        assert!(!stderr.contains("--wipe"), "blankroot asked for --wipe: {stderr}");
        by
    }
}
