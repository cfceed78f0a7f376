//! The stage-1 tier: the disk `blankroot install` made (every phase, stand-ins for the NixOS
//! tools) booted through a real systemd initrd (Debian 12's systemd 252) holding the units
//! blankroot.nix declares and NixOS's own stage-1 units reproduced from nixpkgs sources
//! (tests/stage1/nixos-stage1.nix), all rendered from the evaluated Nix
//! (tests/it/common/stage1.rs). It is a faithful simulation of NixOS's stage 1, not a NixOS boot.
//!
//! One installed disk, then one boot per case, in order (each boot leaves a canary in the root
//! for the next): a. passphrase typed at once; c. two wrong passphrases, then the right one;
//! b. the passphrase typed 100 s after the prompt; d. the counterfactual rollback shape
//! (`requiredBy sysroot.mount` without RemainAfterExit) runs twice, which is why the generated
//! unit has RemainAfterExit; e. @blank destroyed: the boot completes and says so, doctor names
//! cause and fix; f. the fix doctor gives, applied: the next boot rolls back again.

use crate::common;

use common::stage1::Shape;
use common::stage1_tier::{PASSPHRASE, PROMPT, Tier, UNIT_FAILED, UNIT_STARTING, times};
use common::vm::tail;
use serde_json::Value;

fn finding<'a>(f: &'a [Value], check: &str) -> Vec<&'a Value> {
    f.iter().filter(|x| x["check"] == check).collect()
}

#[test]
#[ignore = "needs the VM kit; run by scripts/test with --ignored"]
fn stage1_boots_of_the_installed_disk() {
    let t = Tier::install();
    let mut checked = Vec::new();

    // a. The passphrase typed as soon as it is asked.
    t.boot("a-prompt", Shape::AsGenerated, &[(0, PASSPHRASE)], "");
    checked.extend(t.assert_rolled_back("a-prompt"));
    let f = t.doctor("a-prompt");
    assert!(finding(&f, "blank-snapshot").iter().all(|x| x["severity"] == "ok"), "{f:#?}");
    // The booted root has no dynamic loader (as NixOS's has none at /lib64): the blankroot the
    // install kept in /persist runs there all the same.
    assert_eq!(t.out("a-prompt", "kept-rc.txt").trim(), "0", "{}", t.out("a-prompt", "kept-version.txt"));
    assert_eq!(t.out("a-prompt", "kept-version.txt").trim(), format!("blankroot {}", env!("CARGO_PKG_VERSION")));
    assert!(finding(&f, "blankroot-kept").iter().all(|x| x["severity"] == "ok"), "{f:#?}");
    checked.push("a: the blankroot kept in /persist (static) runs on the booted root, which has no dynamic loader; doctor finds it static, 0755 root".into());
    assert!(finding(&f, "rollback-failed").iter().all(|x| x["severity"] == "ok"), "{f:#?}");

    // c. Two wrong passphrases, then the right one (tries=0: asked again each time).
    let log = t.boot("c-wrong-twice", Shape::AsGenerated, &[(0, "wrong-one"), (0, "wrong-two"), (0, PASSPHRASE)], "");
    assert!(log.matches(PROMPT).count() >= 3, "three prompts expected");
    checked.extend(t.assert_rolled_back("c-wrong-twice"));

    // b, counterfactual: as blankroot 0.1.0 generated it (nixpkgs' import unit alone, no
    // tries=0), the same late passphrase never gets a chance: the import gives up first and
    // the boot ends in emergency mode (stopped there). This is what case b guards against.
    // The journal goes to the console too here: this boot never reaches the report.
    let (rc, typed, log) = t.boot_until(
        "b0-late-unfixed",
        Shape::Release010,
        &[(100, PASSPHRASE)],
        "",
        Some("You are in emergency mode"),
        "systemd.journald.forward_to_console=1",
    );
    assert_eq!(rc, 137, "the unfixed boot must end in emergency mode:\n{}", tail(&log));
    assert_eq!(typed, 0, "the import gave up before the passphrase was due");
    assert!(log.contains("cannot import 'rpool'"), "the import itself failed:\n{}", tail(&log));
    checked.push(
        "b0: with 0.1.0's units a passphrase due 100 s after the prompt is too late: `cannot import 'rpool'`, emergency mode"
            .into(),
    );

    // b. The passphrase typed 100 s after the prompt.
    t.boot("b-late", Shape::AsGenerated, &[(100, PASSPHRASE)], "");
    checked.extend(t.assert_rolled_back("b-late"));

    // d. The counterfactual shape: requiredBy sysroot.mount, no RemainAfterExit.
    t.boot("d-counterfactual", Shape::RequiredByNoRemain, &[(0, PASSPHRASE)], "destroy-blank");
    let j = t.journal("d-counterfactual");
    let runs = times(&j, "blankroot-rollback.service", UNIT_STARTING).len();
    assert_eq!(runs, 2, "the counterfactual shape is expected to run twice (the switch-root transaction)");
    let etc = t.out("d-counterfactual", "etc-nixos.txt");
    assert!(etc.contains("No such file or directory"), "the second run rolled back the mounted root: {etc}");
    checked.push(format!(
        "d: requiredBy sysroot.mount without RemainAfterExit ran {runs} times, the second time with the root mounted (the booted system's /etc/nixos was gone); the generated shape ran once in a, b, c"
    ));

    // e. @blank destroyed (by the last boot): the boot completes and says so. After it, the
    // fix doctor prints is applied as doctor's own command list gives it (up to the reboot).
    let fix = blankroot::checks::installed::blank_fix_commands(&t.plan.config).unwrap();
    let reboot = fix.iter().position(|c| c == &["reboot"]).expect("the fix reboots");
    let script: String = fix[..reboot].iter().map(|c| blankroot::infra::shell::quote_argv(c) + "\n").collect();
    assert_eq!(fix[reboot + 1..].len(), 1, "{fix:?}");
    std::fs::write(t.v.share().join("fix.sh"), &script).unwrap();
    let log = t.boot("e-no-blank", Shape::AsGenerated, &[(0, PASSPHRASE)], "fix");
    let j = t.journal("e-no-blank");
    let rb = "blankroot-rollback.service";
    assert_eq!(times(&j, rb, UNIT_STARTING).len(), 1);
    assert!(
        !times(&j, rb, UNIT_FAILED).is_empty() || j.iter().any(|e| e.unit == rb && e.job_result == "failed"),
        "the rollback unit must fail visibly"
    );
    assert!(log.contains("rolling back") && log.contains("failed"), "the console must say it:\n{}", tail(&log));
    assert!(t.out("e-no-blank", "rollback-failed.txt").contains("@blank"));
    assert!(
        t.out("e-no-blank", "root-ls.txt").lines().any(|l| l == "rollback-canary"),
        "without @blank the canary stays"
    );
    let f = t.doctor("e-no-blank");
    let blank = finding(&f, "blank-snapshot");
    assert!(blank.iter().any(|x| x["severity"] == "error"), "{f:#?}");
    let shown = blank[0]["fix"].as_str().unwrap_or_default();
    assert!(
        fix.iter().all(|c| shown.contains(&blankroot::infra::shell::quote_argv(c))),
        "doctor shows the fix it lists: {shown}"
    );
    let failed = finding(&f, "rollback-failed");
    assert!(failed.iter().any(|x| x["severity"] == "error"), "{f:#?}");
    checked.push("e: @blank missing: the boot completed, the console and journal say the rollback failed, /run/blankroot/rollback-failed is there, doctor names the cause and the fix".into());

    // f. The fix doctor gave, applied in the last boot: the root rolls back again.
    std::fs::write(t.v.share().join("after"), "destroy-old\n").unwrap();
    t.boot("f-fixed", Shape::AsGenerated, &[(0, PASSPHRASE)], "");
    checked.extend(t.assert_rolled_back("f-fixed"));
    let root = format!("{}@blank", t.plan.config.full_name(t.plan.config.root_dataset()));
    assert!(t.out("f-fixed", "snapshots.txt").lines().any(|l| l == root));
    checked.push("f: doctor's fix restored a blank root without reinstalling".into());

    for c in checked {
        println!("checked: {c}");
    }
}
