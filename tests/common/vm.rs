//! Driving the VM tier from Rust (tests/vm_e2e.rs, benches/install_vm.rs): the kit (built or
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
    /// A share folder with blankroot and the guest scripts, and raw test disks (serial, GiB).
    pub fn new(disks: &[(&'static str, u64)]) -> Vm {
        let mut dir = tempfile::Builder::new().prefix("blankroot-vm-").tempdir_in(std::env::temp_dir()).unwrap();
        if std::env::var_os("BLANKROOT_VM_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("keeping {}", dir.path().display());
        }
        let share = dir.path().join("share");
        std::fs::create_dir_all(share.join("out")).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_blankroot"), share.join("blankroot")).unwrap();
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
        std::fs::write(self.share().join("test.sh"), format!(". /share/{scenario}\n")).unwrap();
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

/// A step id as a console mark name (tests/vm/guest/common.sh `san`).
pub fn mark_name(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
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
