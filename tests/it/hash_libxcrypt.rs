//! blankroot's yescrypt against the system's libxcrypt, the library NixOS's login, su and
//! passwd check hashes with:
//!
//! - hashes from `blankroot::hash::hash_password` are reproduced bit for bit by libxcrypt's
//!   `crypt()` (called through Python's ctypes on `libcrypt.so.1`; Python's own `crypt` module
//!   is deprecated and gone in 3.13);
//! - hashes from `mkpasswd -m yescrypt` (Debian/Ubuntu package `whois`) verify with
//!   `blankroot::hash::verify`, and wrong passwords do not.
//!
//! Needs `python3` and `mkpasswd` on PATH and libxcrypt's `libcrypt.so.1`; the tests fail, and
//! say why, when one is missing. Passwords travel on stdin, never in argv.

use blankroot::hash::{check_hash_text, hash_password, verify};
use blankroot::infra::secret::Secret;
use std::io::Write;
use std::process::{Command, Stdio};

/// Passwords a person might really type: unicode, spaces (also at the ends), quotes, shell
/// and crypt(5) metacharacters, a long one. No newline (mkpasswd --stdin reads one line) and
/// no NUL (C strings).
fn passwords() -> Vec<String> {
    vec![
        "hello".to_string(),
        "pässwörd ✓ 密码 🔑".to_string(),
        "  spaces inside and around  ".to_string(),
        r#"quotes ' " ` and \ backslash $y$ $(id) ; | & : * !"#.to_string(),
        "ab".repeat(100),
        "tab\there".to_string(),
    ]
}

/// A password that differs from `pw` by as little as possible.
fn near_miss(pw: &str) -> String {
    let mut wrong = pw.to_string();
    let last = wrong.pop();
    wrong.push(if last == Some('x') { 'y' } else { 'x' });
    wrong
}

fn run_with_stdin(cmd: &mut Command, input: &[u8], what: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}; install it (CI: apt-get install whois python3)"));
    child.stdin.take().expect("stdin piped").write_all(input).unwrap_or_else(|e| panic!("writing to {what}: {e}"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    assert!(out.status.success(), "{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{what} printed non-UTF-8: {e}"))
}

/// libxcrypt's `crypt(password, setting)`, via ctypes. Password and setting go on stdin,
/// separated by a NUL. A failed crypt prints nothing (NULL) or a `*` failure token.
const LIBXCRYPT_CRYPT: &str = r#"
import ctypes, ctypes.util, sys
names = ["libcrypt.so.1", ctypes.util.find_library("crypt")]
lib = None
for name in names:
    if name:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            pass
if lib is None:
    sys.exit("libxcrypt (libcrypt.so.1) not found")
lib.crypt.restype = ctypes.c_char_p
lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
password, setting = sys.stdin.buffer.read().split(b"\0")
out = lib.crypt(password, setting)
sys.stdout.buffer.write(out or b"")
"#;

fn libxcrypt_crypt(password: &str, setting: &str) -> String {
    let mut input = password.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(setting.as_bytes());
    run_with_stdin(Command::new("python3").args(["-c", LIBXCRYPT_CRYPT]), &input, "python3 (ctypes on libcrypt.so.1)")
}

fn mkpasswd_yescrypt(password: &str) -> String {
    let out = run_with_stdin(
        Command::new("mkpasswd").args(["--method=yescrypt", "--stdin"]),
        format!("{password}\n").as_bytes(),
        "mkpasswd (package whois)",
    );
    out.strip_suffix('\n').unwrap_or_else(|| panic!("mkpasswd output has no trailing newline: {out:?}")).to_string()
}

#[test]
fn libxcrypt_is_present_and_does_yescrypt() {
    // Known answer: libxcrypt must recompute a hash mkpasswd made earlier from "hello".
    let h = "$y$j9T$gQS8Rpmh1JMk3jM4ilJXU/$SJzNkbW7Uv/uF8BLrtuRfOF0Qbsccn5O39t9spanmCD";
    assert_eq!(libxcrypt_crypt("hello", h), h);
    assert_ne!(libxcrypt_crypt("hellO", h), h);
}

/// Runs `check` for every password, in parallel: unoptimized yescrypt takes 1-2 s per hash.
/// A failure in any thread fails the test with that thread's message.
fn for_each_password(check: impl Fn(&str) + Sync) {
    let pws = passwords();
    std::thread::scope(|s| {
        for pw in &pws {
            let check = &check;
            s.spawn(move || check(pw));
        }
    });
}

#[test]
fn blankroot_hashes_verify_with_libxcrypt() {
    for_each_password(|pw| {
        let h = hash_password(&Secret::new(pw.to_string())).expect("hash_password");
        assert!(h.starts_with("$y$j9T$"), "{h}");
        assert_eq!(libxcrypt_crypt(pw, &h), h, "libxcrypt does not reproduce blankroot's hash of {pw:?}");
        let wrong = near_miss(pw);
        assert_ne!(libxcrypt_crypt(&wrong, &h), h, "libxcrypt accepts {wrong:?} for {pw:?}");
        // The hash blankroot wrote also passes blankroot's own checks.
        assert_eq!(check_hash_text(&format!("{h}\n")).as_deref(), Ok(h.as_str()));
    });
}

#[test]
fn mkpasswd_hashes_verify_with_blankroot() {
    for_each_password(|pw| {
        let h = mkpasswd_yescrypt(pw);
        assert!(verify(pw, &h), "blankroot rejects mkpasswd's hash of {pw:?}: {h}");
        let wrong = near_miss(pw);
        assert!(!verify(&wrong, &h), "blankroot accepts {wrong:?} for {pw:?}");
        // A file holding mkpasswd's output (with its newline) is accepted as is.
        assert_eq!(check_hash_text(&format!("{h}\n")).as_deref(), Ok(h.as_str()));
    });
}

#[test]
fn blankroot_and_mkpasswd_write_the_same_format() {
    let ours = hash_password(&Secret::new("same format".into())).expect("hash_password");
    let theirs = mkpasswd_yescrypt("same format");
    let shape = |h: &str| -> Vec<usize> { h.split('$').map(str::len).collect() };
    // ["", "y", "j9T", salt (22), hash (43)]
    assert_eq!(shape(&ours), vec![0, 1, 3, 22, 43], "{ours}");
    assert_eq!(shape(&theirs), shape(&ours), "mkpasswd {theirs} vs blankroot {ours}");
    assert_eq!(ours.split('$').nth(2), theirs.split('$').nth(2), "cost params differ");
    // Each verifies with the other implementation.
    assert!(verify("same format", &theirs));
    assert_eq!(libxcrypt_crypt("same format", &ours), ours);
}
