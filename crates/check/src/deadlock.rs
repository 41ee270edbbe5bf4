//! A deadlock's last lines (loom builds): who is blocked on which lock, held by whom, or
//! on which condvar with nobody left to notify it, in the actors' names.

use crate::recorder::Recorder;
use raceproof_core::sync::model::{self, Access, Waiting};

/// What an access asks for, as a trace says it (a mutex's is implied).
fn wants(access: Access) -> &'static str {
    match access {
        Access::Exclusive => "",
        Access::Read => " (to read)",
        Access::Write => " (to write)",
    }
}

/// How a lock is held, as a trace says it.
fn holds(access: Access) -> &'static str {
    match access {
        Access::Exclusive => "",
        Access::Read => " (reading)",
        Access::Write => " (writing)",
    }
}

/// One line per blocked actor, then how the execution ended.
pub(crate) fn deadlock_lines(recorder: &Recorder, message: &str) -> Vec<(String, String)> {
    let threads = model::threads();
    let name = |id| recorder.label_of(id).unwrap_or_else(|| format!("{id:?}"));
    let mut lines = Vec::new();
    for (id, locks) in &threads {
        let text = match &locks.waiting_for {
            None => continue,
            Some(Waiting::Lock(lock, access)) => {
                let mut upgrade = false;
                let holders: Vec<String> = threads
                    .iter()
                    .flat_map(|(other, l)| {
                        l.holding
                            .iter()
                            .filter(|(held, _)| held == lock)
                            .map(move |(_, how)| (*other, *how))
                    })
                    .map(|(other, how)| {
                        if other == *id {
                            upgrade |= how == Access::Read && *access == Access::Write;
                            format!("{} itself{}", name(other), holds(how))
                        } else {
                            format!("{}{}", name(other), holds(how))
                        }
                    })
                    .collect();
                let mut text = format!("blocked: waits for {lock}{}", wants(*access));
                if !holders.is_empty() {
                    text.push_str(&format!(", held by {}", holders.join(", ")));
                }
                if upgrade {
                    text.push_str(": a read guard cannot be upgraded, drop it before writing");
                }
                text
            }
            Some(Waiting::Notification { condvar, released }) => format!(
                "blocked: waits on {condvar} for a notification (released {released} to \
                 wait); nobody is left to notify it"
            ),
        };
        lines.push((name(*id), text));
    }
    if lines.is_empty() {
        lines.push((
            "end".to_owned(),
            format!(
                "deadlock: no thread can run (loom: {})",
                message.lines().next().unwrap_or(message)
            ),
        ));
    } else {
        lines.push((
            "end".to_owned(),
            "deadlock: every actor that has not finished is blocked".to_owned(),
        ));
    }
    lines
}
