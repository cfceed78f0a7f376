//! Benchmark: how long `blankroot plan` takes, probing included. Prints figures; asserts
//! nothing about time (the machines are shared and noisy). Target: under 50 ms per plan.
//! Before timing anything it runs it once and checks that it did its job (exit status 0, the
//! plan's heading, every step and the closing "N steps." line; the JSON plan reads back with
//! the same steps); a wrong first run fails the benchmark (exit 1) instead of timing it.
//!
//! Run: `cargo bench --bench plan` (or scripts/bench.sh).

use blankroot::plan::Plan;
use std::process::Command;
use std::time::{Duration, Instant};

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    println!(
        "{name:<58} n={:<4} min {:>7.3} ms  median {:>7.3} ms  mean {:>7.3} ms  p95 {:>7.3} ms",
        v.len(),
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(mean),
        ms(v[v.len() * 95 / 100])
    );
}

fn time<F: FnMut()>(n: usize, mut f: F) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// Fails the benchmark (exit 1): what it was about to time does not do its job.
fn fail(what: &str, why: &str) -> ! {
    eprintln!("error: the benchmark's first run of {what} is wrong, so it is not timed\n  caused by: {why}");
    std::process::exit(1)
}

/// What a human-format plan of `p`'s shape must show: the heading naming the disk, every step
/// numbered with its id, and the closing count. `text` may come from another run (other ids).
fn check_human(what: &str, p: &Plan, text: &str) {
    let heading = format!("blankroot {} plan: NixOS on {} (", p.blankroot_version, p.target.disk.path);
    if !text.starts_with(&heading) {
        fail(what, &format!("the plan does not start with {heading:?}: {:?}", text.lines().next()));
    }
    for (n, s) in p.steps.iter().enumerate() {
        let line = format!("{:>3}. ", n + 1);
        if !text.lines().any(|l| l.starts_with(&line) && l.ends_with(&format!("[{}]", s.id))) {
            fail(what, &format!("no line {line:?}…\"[{}]\" for step {}", s.id, n + 1));
        }
    }
    let end = format!("{} steps. Nothing has been changed.", p.steps.len());
    if !text.lines().any(|l| l.starts_with(&end)) {
        fail(what, &format!("no closing line {end:?}"));
    }
}

/// The same steps, in the same order, as `p`.
fn check_json(what: &str, p: &Plan, text: &str) {
    let q = Plan::from_json(text).unwrap_or_else(|e| fail(what, &format!("the JSON plan does not read back: {e}")));
    let ids = |p: &Plan| p.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    if ids(&q) != ids(p) {
        fail(what, &format!("its steps are {:?}, blankroot's {:?}", ids(&q), ids(p)));
    }
}

fn main() {
    use blankroot::commands::plan::Request;
    use blankroot::config::Overrides;
    use blankroot::infra::host::LocalHost;
    use blankroot::infra::runner::Local;
    // `cargo test --all-targets` runs benches too, without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("a benchmark: run it with `cargo bench --bench {}`", env!("CARGO_CRATE_NAME"));
        return;
    }
    let here = Local::default();
    let host = LocalHost::live(&here);
    let args = |example: bool, disk: Option<String>| Request {
        config: None,
        overrides: Overrides { disk, ..Default::default() },
        example,
    };
    let plan = |what: &str, a: &Request| {
        blankroot::commands::plan::run(&host, a).unwrap_or_else(|e| fail(what, &format!("planning failed: {e}")))
    };

    println!("blankroot plan benchmark (target: under 50 ms per plan, probing included)");
    let ex = args(true, None);
    let what = "the in-process plan of the example machine";
    let p = plan(what, &ex);
    if p.steps.len() < 20 {
        fail(what, &format!("only {} steps", p.steps.len()));
    }
    check_human(what, &p, &blankroot::plan::human(&p));
    check_json(what, &p, &p.to_json());
    println!("checked: the example machine's plan has {} steps; text and JSON show every one", p.steps.len());
    stats(
        "in-process: example machine, probe+config+plan+render",
        time(500, || {
            let p = blankroot::commands::plan::run(&host, &ex).unwrap();
            std::hint::black_box(blankroot::plan::human(&p));
            std::hint::black_box(p.to_json());
        }),
    );

    // The real probe of this machine: lsblk, /sys/firmware/efi, /dev/disk/by-id, tools.
    let facts = blankroot::probe::probe(&host).unwrap_or_else(|e| fail("the probe of this machine", &e.to_string()));
    let disk = facts.block_devices.iter().find(|d| d.kind == "disk" && d.size_bytes >= 6 << 30).map(|d| d.path.clone());
    let mut real_plan = None;
    if let Some(disk) = &disk {
        let real = args(false, Some(disk.clone()));
        let what = format!("the in-process plan of this machine ({disk})");
        let rp = plan(&what, &real);
        check_human(&what, &rp, &blankroot::plan::human(&rp));
        real_plan = Some(rp);
        stats(
            &format!("in-process: this machine ({disk}), real probe+plan+render"),
            time(100, || {
                let p = blankroot::commands::plan::run(&host, &real).unwrap();
                std::hint::black_box(blankroot::plan::human(&p));
            }),
        );
    } else {
        println!("(no disk of 6 GiB or more here: real-probe figure skipped)");
    }

    // The whole command, as a user runs it (process start included).
    let exe = env!("CARGO_BIN_EXE_blankroot");
    let run = |extra: &[&str]| {
        let out = Command::new(exe).arg("plan").args(extra).output().unwrap();
        if !out.status.success() {
            fail(&format!("`blankroot plan {}`", extra.join(" ")), &String::from_utf8_lossy(&out.stderr));
        }
        out.stdout
    };
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_else(|e| fail("`blankroot plan`", &e.to_string()));
    check_human("`blankroot plan --example`", &p, &text(run(&["--example"])));
    check_json("`blankroot plan --example --format json`", &p, &text(run(&["--example", "--format", "json"])));
    stats("process: `blankroot plan --example`", time(100, || drop(run(&["--example"]))));
    stats(
        "process: `blankroot plan --example --format json`",
        time(100, || drop(run(&["--example", "--format", "json"]))),
    );
    if let (Some(disk), Some(rp)) = (&disk, &real_plan) {
        check_human(&format!("`blankroot plan --disk {disk}`"), rp, &text(run(&["--disk", disk])));
        stats(
            &format!("process: `blankroot plan --disk {disk}` (real probe)"),
            time(50, || drop(run(&["--disk", disk]))),
        );
    }
    println!("checked: every timed run exited 0");
}
