//! The loader's own tests: every built-in parses, and a bad file names the line at fault.

use super::*;
use crate::error::RaceError;

#[test]
fn every_builtin_parses() {
    for (name, source) in BUILTINS {
        let scenario = RaceScenario::parse(source, name);
        assert!(scenario.is_ok(), "{name}: {:?}", scenario.err());
    }
}

fn error_line(source: &str) -> usize {
    match RaceScenario::parse(source, "t.toml") {
        Err(RaceError::Scenario { line, .. }) => line,
        other => panic!("expected a scenario error, got {other:?}"),
    }
}

const MINIMAL: &str = "name = \"t\"\n[[actors]]\nname = \"a\"\nmethod = \"GET\"\npath = \"/\"\n[[invariant]]\nkind = \"at_most_one_success\"\n";

#[test]
fn minimal_scenario_parses() {
    assert!(RaceScenario::parse(MINIMAL, "t.toml").is_ok());
}

#[test]
fn malformed_files_name_the_line() {
    assert_eq!(error_line("name = \"t\"\n[[actors]]\nname = \n"), 3);
    // Syntax and shape errors: where the TOML parser stopped.
    assert_eq!(
        error_line(&MINIMAL.replace("path = \"/\"", "path = \"/\"\nbogus = 1")),
        6
    );
    assert_eq!(
        error_line(&MINIMAL.replace("at_most_one_success", "no_such_invariant")),
        7
    );
    // Semantic errors: the line of the offending value inside its table.
    assert_eq!(
        error_line(&MINIMAL.replace("path = \"/\"", "path = \"/{{nope}}\"")),
        5
    );
    assert_eq!(
        error_line(&MINIMAL.replace("method = \"GET\"", "method = \"GET\"\nsigner = \"ghost\"")),
        5
    );
    assert_eq!(
        error_line(&MINIMAL.replace("name = \"a\"", "name = \"a\"\ncount = 0")),
        4
    );
    let final_state = "kind = \"final_state\"\npath = \"/\"\nexpect = [\"role = 1\"]";
    assert_eq!(
        error_line(&MINIMAL.replace("kind = \"at_most_one_success\"", final_state)),
        9
    );
}

#[test]
fn expectations_parse() {
    let parsed = Expectation::parse("/role == \"user\"", &[]);
    assert_eq!(
        parsed.map(|e| (e.pointer, e.equal, e.value)),
        Ok((
            "/role".to_owned(),
            true,
            Expected::Json(serde_json::json!("user"))
        ))
    );
    assert!(Expectation::parse("/n != 3", &[]).is_ok_and(|e| !e.equal));
    assert!(Expectation::parse("role == 3", &[]).is_err());
    assert!(Expectation::parse("/role == user", &[]).is_err());
    assert!(
        Expectation::parse("/_v == {{var.version}}", &[])
            .is_ok_and(|e| matches!(e.value, Expected::Template(_)))
    );
    assert!(Expectation::parse("/_v == {{nope}}", &[]).is_err());
}

#[test]
fn revokes_is_refused_with_a_reason() {
    let commit_order = "kind = \"commit_order\"\nsigner = \"s\"\nrevokes = [\"demote\"]";
    let source = MINIMAL
        .replace("kind = \"at_most_one_success\"", commit_order)
        .replace("[[actors]]", "[signers]\ns = { kind = \"basic\", credential = \"c\" }\n[credentials]\nc = { user = \"u\", password = \"p\" }\n[[actors]]");
    match RaceScenario::parse(&source, "t.toml") {
        Err(RaceError::Scenario { message, .. }) => {
            assert!(message.contains("Commit::authorized"), "{message}");
        }
        other => panic!("expected a scenario error, got {other:?}"),
    }
}
