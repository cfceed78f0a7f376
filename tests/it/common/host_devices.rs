//! The guard of the tests that run plan commands with the real tools on image files
//! (tests/it/real_disk_tools.rs, tests/it/resume_record.rs): the plan names real devices, and the
//! machines that run these tests have a `/dev/vda` of their own, so a command an argument of
//! which still names a device of this host is never spawned.

use std::path::{Component, Path, PathBuf};

/// Device paths a command here may name although they are devices: harmless ones only (the
/// plan's `dd if=/dev/zero` clears its own record).
pub const ALLOWED: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/urandom", "/proc/self/fd/0"];

/// `path` made absolute (against the working directory) and without `.`, `..` or doubled
/// slashes, by its text alone.
fn lexical(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap().join(path) };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Where `path` leads through symlinks, also when its end does not exist (a dangling link to
/// `/dev/vda9` leads there).
fn resolved(path: &Path, depth: u32) -> PathBuf {
    if let Ok(c) = path.canonicalize() {
        return c;
    }
    if let (true, Ok(target)) = (depth < 40, std::fs::read_link(path)) {
        return resolved(&lexical(&path.parent().unwrap_or(Path::new("/")).join(target)), depth + 1);
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => resolved(parent, depth + 1).join(name),
        _ => path.to_path_buf(),
    }
}

fn names_device(arg: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    if arg.is_empty() || ALLOWED.contains(&arg) {
        return false;
    }
    let under_dev = |p: &Path| p.starts_with("/dev");
    let path = lexical(Path::new(arg));
    let device =
        std::fs::metadata(arg).is_ok_and(|m| m.file_type().is_block_device() || m.file_type().is_char_device());
    arg.starts_with("/dev/") || under_dev(&path) || under_dev(&resolved(&path, 0)) || device
}

/// The arguments of `argv` that still name a device of this host: one that is or starts with
/// `/dev/` (also spelled `//dev/…` or `/tmp/../dev/…`), leads there through symlinks, or is a
/// block or character device; an option's value after `=` (`--key-file=/dev/sda`, dd's
/// `of=/dev/sda`) counts too. [`ALLOWED`] paths are not counted.
pub fn host_devices(argv: &[String]) -> Vec<String> {
    argv.iter()
        .filter(|a| names_device(a) || a.split_once('=').is_some_and(|(_, v)| names_device(v)))
        .cloned()
        .collect()
}

pub fn guard(argv: &[String]) -> Result<(), String> {
    let bad = host_devices(argv);
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "refusing to run {argv:?}: {bad:?} still name a device of this host (the swap to image files missed them)"
    ))
}

/// Runs `argv` with `stdin`, never when [`guard`] refuses it (the test fails instead), and
/// returns what it left: the one way the image-file tests start a real tool.
pub fn run_guarded(argv: &[String], stdin: Option<&[u8]>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if let Err(e) = guard(argv) {
        panic!("{e}");
    }
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}
