//! Telling a log that grew during a burst from another log ([`AuditMark`]).

use super::AuditEntry;

/// Where the audit stood before a burst: its last entry (none when empty), to find again after
/// the burst so that a read from another log (another worker, another instance, a restart) is
/// told apart from a log that grew.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditMark {
    pub last: Option<AuditEntry>,
}

impl AuditMark {
    pub fn of(entries: &[AuditEntry]) -> Self {
        AuditMark {
            last: entries.iter().max_by_key(|entry| entry.seq).cloned(),
        }
    }

    /// The last sequence number before the burst, 0 when the log was empty.
    pub fn seq(&self) -> u64 {
        self.last.as_ref().map_or(0, |entry| entry.seq)
    }

    /// The entries of `after` committed since this mark.
    pub fn window(&self, after: &[AuditEntry]) -> Vec<AuditEntry> {
        after
            .iter()
            .filter(|entry| entry.seq > self.seq())
            .cloned()
            .collect()
    }

    /// Why `after` is not this log grown by the burst, if it is not: its sequence numbers
    /// repeat, or it no longer holds the entry the log ended with before the burst.
    pub fn not_the_same_log(&self, after: &[AuditEntry]) -> Option<String> {
        let mut seqs: Vec<u64> = after.iter().map(|entry| entry.seq).collect();
        seqs.sort_unstable();
        if let Some(pair) = seqs.windows(2).find(|pair| pair[0] == pair[1]) {
            return Some(format!(
                "two audit entries share seq {}: these are not one log",
                pair[0]
            ));
        }
        let last = self.last.as_ref()?;
        let end = seqs.last().copied().unwrap_or(0);
        let why = match after.iter().find(|entry| entry.seq == last.seq) {
            Some(entry) if entry.same_write(last) => return None,
            Some(entry) => format!(
                "seq {} was {} {} by {} before the burst and is {} {} by {} after it",
                last.seq,
                last.action,
                last.target,
                last.actor,
                entry.action,
                entry.target,
                entry.actor
            ),
            None if end < last.seq => format!(
                "the log reached seq {} before the burst and ends at seq {end} after it",
                last.seq
            ),
            None => format!("seq {} is missing after the burst", last.seq),
        };
        Some(format!(
            "the audit read after the burst is not the log read before it ({why}): the reads reached different logs (another worker or instance behind the port, or a restart), so their sequence numbers cannot be compared; pin the reads with --read-target"
        ))
    }
}
