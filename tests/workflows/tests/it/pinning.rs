//! Rules for every workflow: actions pinned by commit, expressions kept out
//! of shell.

use k3strading_workflow_tests::{Workflow, pinned_to_commit, version_comment};
use serde_yaml_ng::Value;

#[test]
fn every_action_is_pinned_to_a_commit_with_a_version_comment() {
    let mut seen = 0;
    for wf in Workflow::all().unwrap() {
        // Comments are gone after parsing: read the lines as written.
        for (n, line) in wf.text.lines().enumerate() {
            let Some(rest) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses:")
            else {
                continue;
            };
            seen += 1;
            let (uses, comment) = rest.split_once('#').unwrap_or((rest, ""));
            let uses = uses.trim();
            let at = format!("{}:{}: {uses}", wf.name, n + 1);
            assert!(pinned_to_commit(uses), "{at}: pin to a 40-hex commit");
            assert!(version_comment(comment), "{at}: add `# vX.Y.Z`");
        }
        // The parsed view must agree: no `uses:` the line scan missed.
        let parsed = wf
            .steps()
            .iter()
            .filter(|(_, s)| s.get("uses").is_some())
            .count()
            + wf.jobs()
                .iter()
                .filter(|(_, j)| j.get("uses").is_some())
                .count();
        let scanned = wf
            .text
            .lines()
            .filter(|l| l.trim_start().trim_start_matches("- ").starts_with("uses:"))
            .count();
        assert_eq!(parsed, scanned, "{}: every uses: on its own line", wf.name);
    }
    assert!(seen > 0, "the workflows use actions");
}

#[test]
fn no_run_step_expands_an_expression() {
    for wf in Workflow::all().unwrap() {
        for (id, step) in wf.steps() {
            if let Some(run) = step.get("run").and_then(Value::as_str) {
                assert!(
                    !run.contains("${{"),
                    "{}: job {id}: pass values through env:, not ${{{{ }}}} in run: {run:?}",
                    wf.name
                );
            }
        }
    }
}
