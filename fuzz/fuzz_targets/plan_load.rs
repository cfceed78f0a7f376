//! Fuzzes the saved-plan loader with arbitrary bytes: `Plan::from_json` and the verification
//! `install --plan FILE` runs (`plan::saved::verify` against the example machine) never panic;
//! a refused plan is an input error with a hint; a verified plan is blankroot's own (building
//! it again from its config and ids gives the same steps). Run: `cargo fuzz run plan_load`.
#![no_main]

use blankroot::error::ErrorKind;
use blankroot::plan::{self, Plan};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn facts() -> &'static blankroot::probe::Facts {
    static FACTS: OnceLock<blankroot::probe::Facts> = OnceLock::new();
    FACTS.get_or_init(|| blankroot::example::facts().expect("the example machine"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Plan::from_json(text);
    match plan::saved::verify(text, facts()) {
        Err(e) => {
            // Input (a bad plan) or Environment (another machine's disk); never a panic.
            assert!(matches!(e.kind, ErrorKind::Input | ErrorKind::Environment), "{e}");
            assert!(e.render().len() <= 4096, "an error of {} bytes", e.render().len());
            assert!(e.hint.is_some(), "no hint: {e}");
        }
        Ok(ours) => {
            let theirs = Plan::from_json(text).expect("a verified plan parses");
            assert_eq!(ours.steps, theirs.steps, "verify accepted a plan whose steps are not blankroot's");
        }
    }
});
