//! Benchmark: `blankroot diff` classifying and grouping a synthetic 1,000,000-line
//! `zfs diff -FHt` file (about 64 MB), against the shell pipelines users run today, on the same
//! file in the same run: the bare filter `grep -v -F -f <persisted list>` and the grouping
//! pipeline `grep -v -F -f <list> | cut -f4 | cut -d/ -f2-3 | sort | uniq -c | sort -rn`.
//! Prints wall times (median of 5), their ratios and peak memory (GNU time's %M: the largest
//! process of a pipeline); asserts nothing. Targets: the grouped report at least as fast as
//! the bare grep (which does less, and wrongly: -F matches substrings anywhere in a line), and
//! under 20 MB peak memory.
//!
//! Before timing, each command runs once and must do its job: exit 0, and the counts the
//! generator knows (blankroot's lines, persisted, noise, erased files and directories; the
//! lines grep keeps; the grouping pipeline's counts adding up to them). Every timed run must
//! exit 0 too (pipelines under `pipefail`). Otherwise the benchmark fails (exit 1).
//!
//! Run: `cargo bench --bench diff` (needs GNU time, `/usr/bin/time`).

use std::io::Write;
use std::process::{Command, Stdio};

/// What the generated file holds, counted as it is written: the oracle the first runs are
/// checked against.
#[derive(Default, Debug)]
struct Expected {
    bytes: u64,
    lines: u64,
    persisted: u64,
    noise: u64,
    erased_files: u64,
    erased_dirs: u64,
    /// Lines `grep -v -F -f <PERSISTED>` keeps: those containing none of them anywhere.
    grep_kept: u64,
}

/// The persisted list of the seed's layout, as users keep it for grep (and blankroot's
/// defaults for an empty blankroot.toml).
const PERSISTED: [&str; 4] = ["/etc/nixos", "/var/lib/nixos", "/var/log", "/etc/machine-id"];

impl Expected {
    /// Counts one line of `dir` (the generator's directories lie below no mount point, so the
    /// directory alone decides: persisted, blankroot's default noise, or erased).
    fn count(&mut self, dir: &str, is_dir: bool, line: &str) {
        let below = |p: &str| dir == p || dir.starts_with(&format!("{p}/"));
        self.lines += 1;
        self.bytes += line.len() as u64;
        if PERSISTED.iter().any(|p| below(p)) {
            self.persisted += 1;
        } else if ["/tmp", "/etc/static"].iter().any(|p| below(p)) {
            self.noise += 1;
        } else if is_dir {
            self.erased_dirs += 1;
        } else {
            self.erased_files += 1;
        }
        if !PERSISTED.iter().any(|p| line.contains(p)) {
            self.grep_kept += 1;
        }
    }
}

/// The lines, made like real `zfs diff -FHt` output of a busy root: entries come in runs per
/// directory (zfs walks objects in allocation order), ~1/8 directories, some renames and link
/// changes, and some persisted and noise paths the filters must drop.
fn synthetic(path: &std::path::Path, lines: usize) -> Expected {
    let dirs = [
        "/root/.cache/mozilla/firefox/profile.default/cache2/entries",
        "/root/.cache/pip/http/v2",
        "/var/lib/docker/overlay2/4f1c3e0a9b/diff/usr/lib/python3/dist-packages",
        "/var/lib/systemd/coredump",
        "/var/cache/man/cat1",
        "/etc/nixos",
        "/var/log/journal/0f2b4c",
        "/tmp/nix-build-linux-6.6.drv-0/source/drivers/net",
        "/etc/static",
        "/root/src/project/target/release/deps",
        "/var/lib/containers/storage/overlay/l",
        "/usr/share/fonts/truetype",
        "/srv/app/data/uploads/2026/12",
        "/var/lib/postgresql/15/main/base/16384",
    ];
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut want = Expected::default();
    let mut i = 0;
    while i < lines {
        let dir = dirs[(rnd() % dirs.len() as u64) as usize];
        let run = 1 + (rnd() % 64) as usize;
        for _ in 0..run.min(lines - i) {
            let r = rnd();
            let name = if i % 97 == 0 { format!("with\\0040space\\0040{i}.txt") } else { format!("f{:07x}.dat", i) };
            let t = format!("{:10}.{:09}", 1_764_600_000 + i / 100, r % 1_000_000_000);
            let is_dir = matches!(r % 16, 2 | 3);
            let line = match r % 16 {
                0 => format!("{t}\tR\tF\t{dir}/{name}\t{dir}/{name}.new\n"),
                1 => format!("{t}\tM\tF\t{dir}/{name}\t(+1)\n"),
                2 | 3 => format!("{t}\t+\t/\t{dir}/d{i}\n"),
                4 | 5 => format!("{t}\tM\tF\t{dir}/{name}\n"),
                6 => format!("{t}\t-\tF\t{dir}/{name}\n"),
                7 => format!("{t}\t+\t@\t{dir}/{name}\n"),
                _ => format!("{t}\t+\tF\t{dir}/{name}\n"),
            };
            want.count(dir, is_dir, &line);
            f.write_all(line.as_bytes()).unwrap();
            i += 1;
        }
    }
    f.flush().unwrap();
    want
}

/// Fails the benchmark (exit 1): what it was about to time does not do its job.
fn fail(what: &str, why: &str) -> ! {
    eprintln!("error: the benchmark's first run of `{what}` is wrong, so it is not timed\n  caused by: {why}");
    std::process::exit(1)
}

/// Runs `bash -o pipefail -c script` once; its stdout, or the benchmark fails.
fn run_once(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .output()
        .unwrap_or_else(|e| fail(script, &format!("bash: {e}")));
    if !out.status.success() {
        fail(script, &format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).unwrap_or_else(|e| fail(script, &e.to_string()))
}

/// Runs each case once and checks its output against the generator's counts.
fn check_outputs(cases: &[(&str, String)], want: &Expected) {
    let json: serde_json::Value = serde_json::from_str(&run_once(&cases[0].1))
        .unwrap_or_else(|e| fail(&cases[0].1, &format!("not a JSON report: {e}")));
    let got: Vec<u64> = ["lines", "persisted", "noise", "erased_files", "erased_dirs", "unreadable"]
        .iter()
        .map(|k| json[k].as_u64().unwrap_or_else(|| fail(&cases[0].1, &format!("no count {k:?} in {json}"))))
        .collect();
    let expect = [want.lines, want.persisted, want.noise, want.erased_files, want.erased_dirs, 0];
    if got != expect {
        fail(
            &cases[0].1,
            &format!("lines, persisted, noise, erased files, dirs, unreadable: {got:?}, the file has {expect:?}"),
        );
    }
    let text = run_once(&cases[1].1);
    let all = format!("In all: {} files and {} directories", want.erased_files, want.erased_dirs);
    if !text.contains(&all) {
        fail(&cases[1].1, &format!("no {all:?} in its report:\n{text}"));
    }
    let kept = run_once(&cases[2].1).lines().count() as u64;
    if kept != want.grep_kept {
        fail(&cases[2].1, &format!("kept {kept} lines, the file has {} without a persisted path", want.grep_kept));
    }
    let grouped = run_once(&cases[3].1);
    let sum: u64 =
        grouped.lines().map(|l| l.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)).sum();
    if sum != want.grep_kept {
        fail(&cases[3].1, &format!("its groups count {sum} lines, grep keeps {}", want.grep_kept));
    }
    println!(
        "checked: blankroot counts {} lines: {} persisted, {} noise, {} files and {} directories erased; grep keeps {} lines and the pipeline groups them all",
        want.lines, want.persisted, want.noise, want.erased_files, want.erased_dirs, want.grep_kept
    );
}

/// Runs `bash -o pipefail -c script` under GNU time `runs` times, its stdout into a pipe that
/// is drained (so that nothing short-cuts writing to /dev/null); returns (median seconds, max
/// KiB). A run that fails fails the benchmark.
fn measure(script: &str, runs: usize) -> (f64, u64) {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "BENCH %e %M", "bash", "-o", "pipefail", "-c", &format!("{script} | cat > /dev/null")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run /usr/bin/time (Debian package `time`)");
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            eprintln!("error: a timed run of `{script}` failed ({})\n  caused by: {}", out.status, err.trim());
            std::process::exit(1);
        }
        let line = err.lines().find(|l| l.starts_with("BENCH ")).unwrap_or_else(|| panic!("{script}: {err}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        times.push(f[1].parse::<f64>().unwrap());
        peak = peak.max(f[2].parse::<u64>().unwrap());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], peak)
}

/// Peak memory of the first command of a pipeline is what `cat` and `sh` add nothing to; for
/// one command, its own.
fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("a benchmark: run it with `cargo bench --bench diff`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.zdiff");
    let lines = 1_000_000;
    let want = synthetic(&input, lines);
    let list = dir.path().join("persisted.list");
    std::fs::write(&list, PERSISTED.join("\n") + "\n").unwrap();
    let cfg = dir.path().join("blankroot.toml");
    std::fs::write(&cfg, "").unwrap();
    let bin = env!("CARGO_BIN_EXE_blankroot");
    let (i, l, c) = (input.display(), list.display(), cfg.display());
    println!(
        "blankroot diff vs shell pipelines on {lines} lines of `zfs diff -FHt` ({:.1} MB), median of 5 runs, peak RSS by GNU time",
        want.bytes as f64 / 1e6
    );
    let cases = [
        ("blankroot diff (grouped, JSON)", format!("{bin} diff --input {i} --config {c} --format json")),
        ("blankroot diff (grouped, text)", format!("{bin} diff --input {i} --config {c}")),
        ("grep -v -F -f list (bare filter)", format!("grep -v -F -f {l} {i}")),
        (
            "grep | cut | cut | sort | uniq -c | sort -rn",
            format!("grep -v -F -f {l} {i} | cut -f4 | cut -d/ -f2-3 | sort | uniq -c | sort -rn"),
        ),
    ];
    check_outputs(&cases, &want);
    let results: Vec<(&str, f64, u64)> = cases
        .iter()
        .map(|(name, script)| {
            let (t, kib) = measure(script, 5);
            (*name, t, kib)
        })
        .collect();
    let grep = results[2].1;
    for (name, t, kib) in &results {
        println!("  {name:<46} {t:>6.3} s  {:>5.2}x the bare grep  peak {:>6.1} MB", t / grep, *kib as f64 / 1024.0);
    }
    let (b, p) = (results[0], results[3]);
    println!(
        "blankroot's grouped report: {:.2}x the bare grep's time (target at most 1), {:.2}x the grouping pipeline's; peak {:.1} MB (target under 20 MB)",
        b.1 / grep,
        b.1 / p.1,
        b.2 as f64 / 1024.0
    );
}
