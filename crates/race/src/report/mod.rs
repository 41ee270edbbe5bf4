//! What a run reports: `race.json` (typed, [`RaceJson`], read back with the same
//! definitions), the first anomalous burst's history, the terminal table and the markdown
//! comparison of the modes.

mod example;
mod json;
mod table;

pub use json::{
    ActorOutcomes, BurstExample, HistoryEntry, RaceJson, ScenarioReport, Spread, SpreadSource,
    Verdict, machine, to_json, write,
};
pub use table::{compare_markdown, table};
