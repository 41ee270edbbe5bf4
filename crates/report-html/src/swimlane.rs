//! Section 2: every model in detail. A violation is drawn as a swimlane: one column per
//! actor, one row per step, commits and effects marked, stale loads and lock waits
//! flagged, the breaking step highlighted with the invariant's words. A proof shows what it
//! covered; an inconclusive verdict says why and what to change.

use crate::Verdicts;
use crate::grid::{detail_id, dimensions, symbol};
use crate::markup::{count, esc, slug};
use crate::shell;
use crate::svg::Scale;
use raceproof_report::VerdictKind;
use raceproof_report::verdicts::{ModelVerdict, StepKind, TraceLine};
use std::fmt::Write as _;

/// What a step is, as the swimlane marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Note,
    Commit,
    Effect,
    Call,
    Return,
    /// A load that read an older value than its atomic's latest store.
    StaleLoad,
    /// An actor blocked on a lock (a deadlock's ending).
    LockWait,
    Panic,
}

impl Mark {
    /// The step's class suffix and its badge (none for narration).
    fn names(self) -> (&'static str, Option<&'static str>) {
        match self {
            Mark::Note => ("note", None),
            Mark::Commit => ("commit", Some("COMMIT")),
            Mark::Effect => ("effect", Some("EFFECT")),
            Mark::Call => ("call", Some("CALL")),
            Mark::Return => ("return", Some("RETURN")),
            Mark::StaleLoad => ("stale", Some("STALE LOAD")),
            Mark::LockWait => ("wait", Some("LOCK WAIT")),
            Mark::Panic => ("panic", Some("PANIC")),
        }
    }
}

/// One trace line, taken apart: what happened, what kind of step it is, and the
/// invariant's words when it is the breaking step (`... <- why`).
pub struct Step<'a> {
    pub text: &'a str,
    pub mark: Mark,
    pub breach: Option<&'a str>,
}

/// Reads a trace line: its recorded kind where the report has one, its words otherwise
/// (older reports, and the lines that end a trace).
pub fn step(line: &TraceLine) -> Step<'_> {
    let (text, breach) = match line.event.split_once("   <- ") {
        Some((text, why)) => (text, Some(why)),
        None => (line.event.as_str(), None),
    };
    let recorded = match line.kind {
        Some(StepKind::Note) => Some(Mark::Note),
        Some(StepKind::Commit) => Some(Mark::Commit),
        Some(StepKind::Effect) => Some(Mark::Effect),
        Some(StepKind::Call) => Some(Mark::Call),
        Some(StepKind::Return) => Some(Mark::Return),
        None => None,
    };
    // A stale load is narration to the recorder; its words say what it is.
    let mark = if text.contains(": stale, the latest store is") {
        Mark::StaleLoad
    } else if text.starts_with("blocked: waits for") || text.starts_with("deadlock:") {
        Mark::LockWait
    } else if text.contains("panicked") {
        Mark::Panic
    } else if let Some(mark) = recorded {
        mark
    } else if text.starts_with("commit #") {
        Mark::Commit
    } else if text.starts_with("request ") {
        Mark::Call
    } else if text.starts_with("respond ") {
        Mark::Return
    } else {
        Mark::Note
    };
    Step { text, mark, breach }
}

/// The actors' lanes in the order they first act (`end` spans every lane), each with what
/// the scenario says it does (`T1 admin promotes alice; T2 ...`).
fn lanes(m: &ModelVerdict) -> Vec<(&str, &str)> {
    let mut lanes: Vec<&str> = Vec::new();
    for line in &m.trace {
        if line.thread != "end" && !lanes.contains(&line.thread.as_str()) {
            lanes.push(&line.thread);
        }
    }
    lanes
        .into_iter()
        .map(|lane| {
            let who = m
                .scenario
                .split("; ")
                .find_map(|part| part.strip_prefix(lane)?.strip_prefix(' '))
                .unwrap_or("");
            (lane, who)
        })
        .collect()
}

/// A counterexample as a swimlane table.
pub fn swimlane(m: &ModelVerdict, id: &str) -> String {
    let lanes = lanes(m);
    let table_id = format!("lanes-{id}");
    let mut out = format!(
        "<p class=\"controls\"><label><input type=\"checkbox\" data-toggle=\"hide-notes\" \
         data-target=\"{table_id}\"> only commits, effects, calls and flagged steps</label></p>\
         <table class=\"swimlane\" id=\"{table_id}\" data-swimlane=\"{}\"><thead><tr><th>step</th>",
        esc(&format!("{} / {}", m.flow, m.variant))
    );
    for (lane, who) in &lanes {
        let _ = write!(
            out,
            "<th class=\"lane\" scope=\"col\" data-lane=\"{0}\">{0}<span class=\"who\">{1}</span></th>",
            esc(lane),
            esc(who)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for line in &m.trace {
        let step = step(line);
        let (class, badge) = step.mark.names();
        let badge = badge.map_or_else(String::new, |b| format!("<span class=\"badge\">{b}</span>"));
        let why = step.breach.map_or_else(String::new, |why| {
            format!("<span class=\"why\">{}</span>", esc(why))
        });
        let _ = write!(
            out,
            "<tr class=\"k-{class}{}\" data-step=\"{}\" data-lane=\"{}\" data-kind=\"{class}\">\
             <td class=\"stepno\">{}</td>",
            if step.breach.is_some() { " breach" } else { "" },
            line.step,
            esc(&line.thread),
            line.step
        );
        let act = format!(
            "<td class=\"act k-{class}\">{badge}<span class=\"ev mono\">{}</span>{why}</td>",
            esc(step.text)
        );
        if line.thread == "end" || !lanes.iter().any(|(lane, _)| *lane == line.thread) {
            // After every actor finished (or an actor the scenario does not list): across.
            let _ = write!(
                out,
                "{}",
                act.replacen(
                    "<td ",
                    &format!("<td colspan=\"{}\" ", lanes.len().max(1)),
                    1
                )
            );
        } else {
            for (lane, _) in &lanes {
                if *lane == line.thread {
                    out.push_str(&act);
                } else {
                    out.push_str("<td class=\"idle\"></td>");
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn heading(m: &ModelVerdict, back: bool) -> String {
    format!(
        "<h3><span class=\"sym {kind}\">{}</span> {} / {} <span class=\"{kind}\">{kind}</span>{}{}</h3>",
        symbol(m.verdict),
        esc(&m.flow),
        esc(&m.variant),
        if m.as_expected {
            String::new()
        } else {
            format!(
                " <span class=\"flag\">UNEXPECTED: expected {}</span>",
                esc(&m.expected.to_string())
            )
        },
        if back {
            "<a class=\"back\" href=\"#verdict-grid\">back to the grid</a>"
        } else {
            ""
        },
        kind = m.verdict,
    )
}

fn bound(m: &ModelVerdict) -> String {
    m.preemption_bound.map_or_else(
        || "every interleaving (no preemption bound)".to_owned(),
        |b| format!("interleavings with at most {b} preemptions"),
    )
}

fn violated(m: &ModelVerdict, id: &str) -> String {
    let breaking = m.trace.iter().find_map(|line| {
        let s = step(line);
        s.breach.map(|why| (line.step, why))
    });
    let mut out = format!(
        "<div class=\"case\" id=\"{id}\" data-detail=\"violated\">{}<p>{}. Breaks <code>{}</code>{}, \
         found after {} execution(s) of {}.</p>",
        heading(m, true),
        esc(&m.scenario),
        esc(m.invariant.as_deref().unwrap_or("-")),
        breaking.map_or_else(String::new, |(n, why)| format!(
            " at step {n}: <strong>{}</strong>",
            esc(why)
        )),
        count(m.iterations),
        bound(m)
    );
    if m.trace.is_empty() {
        out.push_str("<p class=\"note\">No trace was recorded for this violation.</p>");
    } else {
        out.push_str(&swimlane(m, id));
    }
    out.push_str("</div>");
    out
}

/// The proven models: executions, bound, and per invariant the events it checked, drawn
/// on one log scale so that a proof resting on few events stands out.
fn proofs(models: &[(&ModelVerdict, String)]) -> String {
    if models.is_empty() {
        return String::new();
    }
    let most = models
        .iter()
        .flat_map(|(m, _)| m.coverage.iter().flat_map(|c| &c.invariants))
        .map(|c| c.events)
        .max()
        .unwrap_or(1)
        .max(10);
    let scale = Scale::log(1.0, most as f64, 0.0, 220.0);
    let mut rows = Vec::new();
    for (m, id) in models {
        let mut checked = String::new();
        for c in m.coverage.iter().flat_map(|c| &c.invariants) {
            let width = scale.at(c.events.max(1) as f64).max(2.0);
            let _ = write!(
                checked,
                "<div class=\"coverage-row\"><svg class=\"chart inline\" viewBox=\"0 0 230 12\" width=\"230\" height=\"12\" \
                 role=\"img\" aria-label=\"{0} checked {1} events\"><rect class=\"bar-events\" x=\"0\" y=\"1\" \
                 width=\"{width:.1}\" height=\"10\"/></svg> <code>{0}</code>: {1} events</div>",
                esc(&c.invariant),
                count(c.events)
            );
        }
        if checked.is_empty() {
            checked.push_str("<span class=\"muted\">no coverage recorded</span>");
        }
        rows.push(format!(
            "<tr id=\"{id}\" data-detail=\"proven\"><th scope=\"row\">{} / {}</th><td class=\"num\">{}</td><td>{}</td><td>{checked}</td><td>{}</td></tr>",
            esc(&m.flow),
            esc(&m.variant),
            count(m.coverage.as_ref().map_or(m.iterations, |c| c.executions)),
            esc(&bound(m)),
            m.covers
                .as_deref()
                .map_or_else(|| "-".to_owned(), |c| format!("<code>{}</code>", esc(c))),
        ));
    }
    format!(
        "<h3 id=\"proofs\">What each proof covered</h3><p class=\"note\">Events checked per \
         invariant, summed over the executions (bars on a log scale, {} events at most). A proof \
         rests on these: an invariant that saw nothing would have made the verdict inconclusive.</p>\
         <table class=\"coverage\"><thead><tr><th>model</th><th class=\"num\">executions</th>\
         <th>explored</th><th>events checked</th><th>covers</th></tr></thead><tbody>{}</tbody></table>",
        count(most),
        rows.concat()
    )
}

fn inconclusive(m: &ModelVerdict, id: &str) -> String {
    format!(
        "<div class=\"case\" id=\"{id}\" data-detail=\"inconclusive\">{}<p>{}</p><p><strong>Why:</strong> {}</p>\
         <p><strong>What to change:</strong> {}</p></div>",
        heading(m, true),
        esc(&m.scenario),
        esc(m.reason.as_deref().unwrap_or("no reason given")),
        esc(m.hint.as_deref().unwrap_or("-")),
    )
}

pub fn section(verdicts: Option<&Verdicts>) -> String {
    let lead = "A violation as it happened: one column per actor, one row per step, in the order \
                loom ran them. Commits and effects are marked, stale loads and lock waits \
                flagged, and the breaking step is framed with the invariant's words. Below them, \
                what each proof covered, and why any verdict was inconclusive.";
    let Some(verdicts) = verdicts else {
        return shell::section(
            "counterexamples",
            "Counterexamples and proofs",
            lead,
            &shell::missing("verdicts.json (`cargo xtask verify` writes it)"),
        );
    };
    let models: Vec<(&ModelVerdict, String)> = verdicts
        .report
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| (m, detail_id(m, &dimensions(verdicts.rows.get(i)))))
        .collect();
    let of = |kind| -> Vec<(&ModelVerdict, String)> {
        models
            .iter()
            .filter(|(m, _)| m.verdict == kind)
            .map(|(m, id)| (*m, id.clone()))
            .collect()
    };
    let mut out = String::new();
    for (m, id) in of(VerdictKind::Violated) {
        out.push_str(&violated(m, &id));
    }
    out.push_str(&proofs(&of(VerdictKind::Proven)));
    let undecided = of(VerdictKind::Inconclusive);
    if !undecided.is_empty() {
        out.push_str("<h3>Inconclusive</h3>");
        for (m, id) in undecided {
            out.push_str(&inconclusive(m, &id));
        }
    }
    shell::section("counterexamples", "Counterexamples and proofs", lead, &out)
}

/// The id of the swimlane figure of `flow / variant` (for a screenshot of it alone).
pub fn figure_id(flow: &str, variant: &str) -> String {
    slug(&["m", flow, variant])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(thread: &str, event: &str, kind: Option<StepKind>) -> TraceLine {
        TraceLine {
            step: 1,
            thread: thread.to_owned(),
            event: event.to_owned(),
            kind,
        }
    }

    #[test]
    fn a_step_is_read_from_its_kind_then_its_words() {
        let s = line(
            "T1",
            "commit #2 alice.role = admin (by admin, user at commit)   <- admin: not an admin",
            None,
        );
        let s = step(&s);
        assert_eq!(s.mark, Mark::Commit);
        assert_eq!(s.breach, Some("admin: not an admin"));
        assert_eq!(
            s.text,
            "commit #2 alice.role = admin (by admin, user at commit)"
        );
        let effect = line("T2", "paid coupon-1", Some(StepKind::Effect));
        assert_eq!(step(&effect).mark, Mark::Effect);
        let stale = line(
            "T1",
            "load flag = false: stale, the latest store is true (T2's store); nothing orders this load after it",
            Some(StepKind::Note),
        );
        assert_eq!(step(&stale).mark, Mark::StaleLoad);
        let wait = line("T2", "blocked: waits for a, held by T1", None);
        assert_eq!(step(&wait).mark, Mark::LockWait);
        assert_eq!(step(&line("T1", "read x = 1", None)).mark, Mark::Note);
    }
}
