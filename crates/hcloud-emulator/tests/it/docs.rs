//! `docs/local-cloud.md` is in step with the program: its command-line
//! section is the output of `k3strading-cloud --help`, and its admin API
//! table names every admin route.

use std::path::PathBuf;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/local-cloud.md")
}

const BEGIN: &str = "<!-- help:begin -->\n```text\n";
const END: &str = "\n```\n<!-- help:end -->";

#[test]
fn the_command_line_section_is_the_programs_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k3strading-cloud"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "--help failed: {out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    let help = help.trim_end();
    assert!(help.contains("--vms-prefix P") && help.contains("STAND-IN"));
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/local-cloud.md lacks the {BEGIN:?} … {END:?} markers");
    };
    let documented = &doc[b + BEGIN.len()..e];
    if std::env::var_os("UPDATE_GOLDEN").is_some() && documented != help {
        let updated = format!("{}{help}{}", &doc[..b + BEGIN.len()], &doc[e..]);
        std::fs::write(doc_path(), updated).unwrap();
        return;
    }
    assert_eq!(
        documented, help,
        "docs/local-cloud.md is out of step with `k3strading-cloud --help`; \
         run UPDATE_GOLDEN=1 cargo test -p hcloud-emulator the_command_line_section"
    );
}

#[test]
fn the_admin_api_table_names_every_route() {
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let table = &doc[doc.find("## The admin API").expect("no admin API section")..];
    for (method, path) in hcloud_emulator::admin::routes() {
        let cell = format!("`{method} {path}`");
        assert!(
            table.contains(&cell),
            "docs/local-cloud.md's admin API table does not name {cell}"
        );
    }
}
