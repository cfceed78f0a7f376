//! Benchmark: `blankroot install` against the same commands run from a plain shell script, in
//! the same VM boot (real cryptsetup and OpenZFS under QEMU/TCG; see docs/vm-kit.md).
//! Prints figures; asserts nothing about time (the machines are shared and noisy).
//!
//! The script is made from blankroot's own plan by tests/vm/guest/plan-to-sh.jq: the plan's
//! commands and files in order, without probe, gates, checks, receipt or undo, and with the
//! password hashed by `mkpasswd -m yescrypt` as the seed does. Both install the seed's layout
//! up to the config phase (the VM has no NixOS tools) onto a blank 6 GiB virtio disk, in
//! alternating order after one uncounted warm-up each. Two configs: cryptsetup's default
//! PBKDF (what blankroot installs by default; luksFormat dominates) and a cheap PBKDF (pbkdf2,
//! 1000 iterations), where blankroot's own share shows most.
//!
//! Target: blankroot's own share, (blankroot wall - script wall) / blankroot wall, at most 2 %.
//!
//! Before any figure is reported, every run of the boot (the warm-ups included) must have done
//! its job: blankroot exited 0 with every step done and its `end` event `stopped` (what
//! `--until config` asks), the script timed the same steps in the same order, both totals are
//! times. Otherwise the benchmark fails (exit 1) and reports nothing.
//!
//! Run: `cargo bench --bench install_vm` (needs root and the VM kit: tests/vm/kit.sh).
//! `BLANKROOT_BENCH_ROUNDS` (default 3), `BLANKROOT_BENCH_CONFIGS` (default "default fastkdf").

#[allow(dead_code)]
#[path = "../tests/it/common/vm.rs"]
mod vm;

use std::collections::BTreeMap;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn config_text(name: &str) -> String {
    let luks = match name {
        "default" => {
            "[luks]\n# cryptsetup's own defaults (argon2id, benchmarked): what blankroot installs by default.\n"
        }
        "fastkdf" => "[luks]\nformat_options = [\"--pbkdf\", \"pbkdf2\", \"--pbkdf-force-iterations\", \"1000\"]\n",
        other => panic!("unknown bench config {other:?} (default, fastkdf)"),
    };
    format!(
        "disk = \"/dev/disk/by-id/virtio-bench01\"\n{luks}\
         [[users]]\nname = \"admin\"\ngroups = [\"wheel\"]\npassword_file = \"/tmp/admin.pw\"\n"
    )
}

/// Per-step seconds of one blankroot run, from its JSON events.
fn blankroot_steps(jsonl: &str) -> Vec<(String, f64)> {
    jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "step")
        .map(|v| (v["id"].as_str().unwrap_or_default().to_string(), v["seconds"].as_f64().unwrap_or(0.0)))
        .collect()
}

/// blankroot's own account of its time before the first step (its `prepared` event).
fn prepared(jsonl: &str) -> Vec<(String, f64)> {
    let v = jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "prepared")
        .unwrap_or_default();
    ["probe", "plan", "gate", "secrets"]
        .iter()
        .map(|k| (k.to_string(), v["seconds"][k].as_f64().unwrap_or(0.0)))
        .collect()
}

/// Per-step seconds of one script run, from its `<id> <start> <end>` lines.
fn script_steps(times: &str) -> Vec<(String, f64)> {
    times
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let (a, b) = (f.get(1)?.parse::<f64>().ok()?, f.get(2)?.parse::<f64>().ok()?);
            Some((f[0].to_string(), b - a))
        })
        .collect()
}

/// Every run of config `c`, the uncounted warm-up (round 0) included, did its job: blankroot
/// exited 0 (bench.sh keeps its events only then) with every step done and the outcome
/// `stopped` that `--until config` asks for; the script timed the same steps in the same order;
/// both totals read as seconds. Returns the number of steps.
fn check_runs(v: &vm::Vm, c: &str, rounds: usize) -> Result<usize, String> {
    let read = |rel: String| {
        std::fs::read_to_string(v.share().join("out/bench").join(&rel))
            .map_err(|e| format!("out/bench/{rel}: {e} (that run did not finish)"))
    };
    let mut n = 0;
    for r in 0..=rounds {
        let run = format!("config {c}, round {r}");
        let events = read(format!("{c}-blankroot-{r}.jsonl"))?
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).map_err(|e| format!("{run}: not a JSON event: {e}: {l}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let steps: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "step").collect();
        if let Some(s) = steps.iter().find(|s| s["result"] != "done") {
            return Err(format!("{run}: blankroot's step {} ended {}", s["id"], s["result"]));
        }
        let outcome = events.iter().rev().find(|e| e["event"] == "end").map(|e| e["outcome"].clone());
        if outcome.as_ref().and_then(|o| o.as_str()) != Some("stopped") {
            let said = outcome.map_or("no end event".to_string(), |o| format!("the outcome {o}"));
            return Err(format!("{run}: blankroot's events end with {said}; `--until config` asks for \"stopped\""));
        }
        let ids: Vec<String> = steps.iter().map(|s| s["id"].as_str().unwrap_or_default().to_string()).collect();
        let script: Vec<String> =
            script_steps(&read(format!("{c}-script-{r}.times"))?).into_iter().map(|(id, _)| id).collect();
        if ids.is_empty() || script != ids {
            return Err(format!("{run}: the script timed the steps {script:?}, blankroot ran {ids:?}"));
        }
        for who in ["blankroot", "script"] {
            let total = read(format!("{c}-{who}-{r}.total"))?;
            if !total.trim().parse::<f64>().is_ok_and(|t| t > 0.0) {
                return Err(format!("{run}: {who}'s total is {total:?}, not seconds"));
            }
        }
        n = ids.len();
    }
    Ok(n)
}

/// Prints config `c`'s figures (medians of rounds 1..=rounds; the checked warm-up is not
/// counted); returns its median blankroot wall time and blankroot's median overhead.
fn report_config(v: &vm::Vm, c: &str, rounds: usize) -> (f64, f64) {
    let mut per_step: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let (mut b_total, mut s_total, mut b_pre) = (Vec::new(), Vec::new(), Vec::new());
    let mut parts: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in 1..=rounds {
        let total = |who: &str| v.out(&format!("bench/{c}-{who}-{r}.total")).trim().parse::<f64>().unwrap();
        let events = v.out(&format!("bench/{c}-blankroot-{r}.jsonl"));
        for (k, secs) in prepared(&events) {
            parts.entry(k).or_default().push(secs);
        }
        let b = blankroot_steps(&events);
        let s = script_steps(&v.out(&format!("bench/{c}-script-{r}.times")));
        for (id, secs) in &b {
            if !order.contains(id) {
                order.push(id.clone());
            }
            per_step.entry(id.clone()).or_default().0.push(*secs);
        }
        for (id, secs) in &s {
            per_step.entry(id.clone()).or_default().1.push(*secs);
        }
        let bt = total("blankroot");
        b_pre.push(bt - b.iter().map(|(_, s)| s).sum::<f64>());
        b_total.push(bt);
        s_total.push(total("script"));
    }
    println!();
    println!("config {c}: {}", config_text(c).lines().nth(1).unwrap_or_default().trim_start_matches("# "));
    println!("  {:<24} {:>10} {:>12} {:>9}", "step (median s)", "script", "blankroot", "diff");
    for id in &order {
        let (b, s) = per_step.remove(id).unwrap_or_default();
        let (mb, ms) = (median(b), median(s));
        println!("  {id:<24} {ms:>10.3} {mb:>12.3} {:>+9.3}", mb - ms);
    }
    let (mb, ms, mp) = (median(b_total.clone()), median(s_total.clone()), median(b_pre));
    let parts: Vec<String> = ["probe", "plan", "gate", "secrets"]
        .iter()
        .map(|k| format!("{k} {:.3}", median(parts.get(*k).cloned().unwrap_or_default())))
        .collect();
    println!("  {:<24} {:>10} {mp:>12.3}   ({} s; the rest: start, exit)", "outside steps", "", parts.join(", "));
    println!("  {:<24} {ms:>10.3} {mb:>12.3} {:>+9.3}", "total (wall)", mb - ms);
    println!(
        "  blankroot's own share: {:.1} % of its wall time (median totals; target at most 2 %); per round: {}",
        100.0 * (mb - ms) / mb,
        b_total
            .iter()
            .zip(&s_total)
            .map(|(b, s)| format!("{:.1} %", 100.0 * (b - s) / b))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (mb, mb - ms)
}

fn main() {
    // `cargo test --all-targets` runs benches too, without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("a benchmark: run it with `cargo bench --bench {}`", env!("CARGO_CRATE_NAME"));
        return;
    }
    let rounds: usize = std::env::var("BLANKROOT_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let configs = std::env::var("BLANKROOT_BENCH_CONFIGS").unwrap_or_else(|_| "default fastkdf".into());
    let configs: Vec<&str> = configs.split_whitespace().collect();
    let v = vm::Vm::new(&[("bench01", 6)]);
    for c in &configs {
        std::fs::write(v.share().join(format!("bench-{c}.toml")), config_text(c)).unwrap();
    }
    std::fs::write(v.share().join("bench-configs"), configs.join("\n") + "\n").unwrap();
    std::fs::write(v.share().join("bench-rounds"), format!("{rounds}\n")).unwrap();
    let t = std::time::Instant::now();
    let (rc, log) = v.boot("bench.sh", &[]);
    if rc != 0 {
        eprintln!("the benchmark boot failed (exit {rc}):\n{}", vm::tail(&log));
        std::process::exit(1);
    }
    for c in &configs {
        match check_runs(&v, c, rounds) {
            Ok(n) => println!(
                "checked: config {c}: {} runs of each exited 0; blankroot did all {n} steps and stopped after config as asked; the script timed the same {n}",
                rounds + 1
            ),
            Err(e) => {
                eprintln!(
                    "error: an install of the benchmark did not complete as asked, so no figure is reported\n  caused by: {e}"
                );
                std::process::exit(1);
            }
        }
    }
    let kit = std::fs::read_to_string(std::path::Path::new(vm::kit()).join("kit.env")).unwrap_or_default();
    let kit_line = |k: &str| kit.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or("?").to_string();
    println!(
        "blankroot install vs the same commands from a plain script (VM: QEMU TCG, 2 vCPU; kernel {}, OpenZFS {}; \
         {rounds} rounds after a warm-up; one boot, {:.0} s)",
        kit_line("KIT_KVER"),
        kit_line("KIT_ZFS"),
        t.elapsed().as_secs_f64()
    );
    let summary: Vec<(String, f64, f64)> = configs
        .iter()
        .map(|c| {
            let (wall, overhead) = report_config(&v, c, rounds);
            (c.to_string(), wall, overhead)
        })
        .collect();
    println!();
    println!(
        "(\"outside steps\": blankroot's time before its first step and after its last: process start, probe, plan,"
    );
    println!(
        " the gate's check of the disk, reading the secrets; the password is hashed on a thread during the steps)"
    );
    // The PBKDF's own run-to-run variation (its benchmark picks new costs every time) is larger
    // than blankroot's overhead, so the overhead is best seen with the cheap PBKDF and set
    // against the wall time of the default install.
    if let (Some(d), Some(f)) =
        (summary.iter().find(|(c, ..)| c == "default"), summary.iter().find(|(c, ..)| c == "fastkdf"))
    {
        println!(
            "blankroot's overhead with the cheap PBKDF: {:+.3} s, i.e. {:.1} % of the default install's {:.1} s wall time (target at most 2 %)",
            f.2,
            100.0 * f.2 / d.1,
            d.1
        );
    }
}
