//! Snapshot tests (insta) of the plan, human and JSON, and of every generated file, for the
//! representative configs. Review changes with `cargo insta review`.

use crate::common;

use blankroot::plan::{self, Content, Plan};

fn files_of(plan: &Plan) -> String {
    let mut out = String::new();
    for f in plan.steps.iter().flat_map(|s| &s.files) {
        out.push_str(&format!("===== {} ({} {}:{}) =====\n", f.path, f.mode, f.owner, f.group));
        match &f.content {
            Content::Text(t) => out.push_str(t),
            Content::Hash(s) => out.push_str(&format!("<hash of {s}>\n")),
            Content::Blankroot(kind) => out.push_str(&format!("<blankroot's own executable ({kind})>\n")),
        }
    }
    out
}

#[test]
fn plans_and_generated_files() {
    for name in common::CONFIGS {
        let plan = common::plan_for(name);
        insta::assert_snapshot!(format!("{name}-human"), plan::human(&plan));
        insta::assert_snapshot!(format!("{name}-files"), files_of(&plan));
        insta::assert_json_snapshot!(format!("{name}-json"), plan);
    }
}
