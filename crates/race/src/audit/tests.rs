//! The audit's tests: commit_order over raceproof's audit, and telling two logs apart.

mod listing {
    use super::super::*;
    use crate::wire::Response;

    fn audit(json: &str) -> Result<Response, String> {
        Ok(Response {
            status: 200,
            headers: Vec::new(),
            body: bytes::Bytes::from(json.to_owned()),
        })
    }

    /// An entry by `actor` on `target`, with the actor's role at commit and both epochs.
    fn entry(
        seq: u64,
        actor: &str,
        action: &str,
        target: &str,
        role: &str,
        epochs: (u64, u64),
    ) -> String {
        let role = if role == "null" {
            role.to_owned()
        } else {
            format!("\"{role}\"")
        };
        format!(
            r#"{{"seq":{seq},"actor":"{actor}","action":"{action}","target":"{target}","actor_role_at_commit":{role},"actor_epoch_at_commit":{},"authenticated_epoch":{}}}"#,
            epochs.0, epochs.1
        )
    }

    fn listing(entries: &[String]) -> Result<Response, String> {
        audit(&format!(r#"{{"entries":[{}]}}"#, entries.join(",")))
    }

    /// `commit_order` with raceproof's schema, the log before the burst being `after`'s
    /// entries up to seq `before`: the broken or undecided detail, `None` if it held.
    fn order(before: u64, after: &Result<Response, String>) -> Option<String> {
        let schema = AuditSchema::default();
        let after = after
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|response| schema.parse(response));
        let mark = after.as_ref().map_or_else(
            |_| AuditMark::default(),
            |entries| {
                let earlier: Vec<AuditEntry> = entries
                    .iter()
                    .filter(|entry| entry.seq <= before)
                    .cloned()
                    .collect();
                AuditMark::of(&earlier)
            },
        );
        match commit_order(&schema, &mark, &after) {
            Judged::Held => None,
            Judged::Broken(detail) | Judged::Undecided(detail) => Some(detail),
        }
    }

    #[test]
    fn commit_order_flags_unauthorized_commits_with_their_context() {
        let racy = listing(&[
            entry(1, "root", "promote", "admin", "admin", (0, 0)),
            entry(2, "root", "demote", "admin", "admin", (0, 0)),
            entry(3, "admin", "promote", "alice", "user", (0, 0)),
        ]);
        let found = order(1, &racy);
        assert_eq!(
            found.as_deref(),
            Some(
                "promote by admin (seq 3): the actor is not an admin at this instant (after admin's demote, seq 2)"
            )
        );
        let fine = listing(&[
            entry(2, "admin", "promote", "alice", "admin", (0, 0)),
            entry(3, "root", "demote", "admin", "admin", (0, 0)),
        ]);
        assert_eq!(order(1, &fine), None);
        // Entries before the burst are not judged.
        assert_eq!(order(3, &racy), None);
        assert!(order(0, &audit("not json")).is_some());
        assert!(order(0, &Err("connection reset".to_owned())).is_some());
    }

    #[test]
    fn the_core_rule_decides_not_the_order_of_the_log() {
        // admin, demoted at seq 2, then changes its own password: that needs no admin role, so
        // it is authorized although it follows the demotion.
        let own = listing(&[
            entry(2, "root", "demote", "admin", "admin", (0, 0)),
            entry(3, "admin", "change_password", "admin", "user", (0, 0)),
        ]);
        assert_eq!(order(1, &own), None);
        // Changing another user's email needs an admin.
        let others = listing(&[entry(4, "bob", "update_email", "alice", "user", (0, 0))]);
        assert_eq!(
            order(1, &others).as_deref(),
            Some("update_email by bob (seq 4): the actor is not an admin at this instant")
        );
        let stale_epoch = listing(&[entry(9, "admin", "update_email", "admin", "admin", (2, 1))]);
        assert!(order(0, &stale_epoch).is_some_and(|d| d.contains("password changed")),);
        let gone = listing(&[entry(9, "ghost", "update_email", "ghost", "null", (0, 0))]);
        assert!(order(0, &gone).is_some_and(|d| d.contains("no longer exists")));
    }

    #[test]
    fn an_entry_the_rule_cannot_read_is_flagged_not_passed() {
        let unknown_action = listing(&[entry(1, "root", "delete", "bob", "admin", (0, 0))]);
        assert!(
            order(0, &unknown_action)
                .is_some_and(|d| d.contains("cannot be judged: unknown action `delete`"))
        );
        let unknown_role = listing(&[entry(1, "root", "promote", "bob", "owner", (0, 0))]);
        assert!(
            order(0, &unknown_role)
                .is_some_and(|d| d.contains("cannot be judged: unknown role `owner`"))
        );
        // No role field at all is not "the actor is gone": the audit cannot be read.
        let silent = audit(
            r#"{"entries":[{"seq":1,"actor":"root","action":"promote","target":"bob","actor_epoch_at_commit":0,"authenticated_epoch":0}]}"#,
        );
        assert!(order(0, &silent).is_some_and(
            |d| d.contains("cannot read the audit") && d.contains("actor_role_at_commit")
        ));
    }
}

mod same_log {
    use super::super::*;

    fn entry(seq: u64, actor: &str, action: &str) -> AuditEntry {
        AuditEntry {
            seq,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: "alice".to_owned(),
            actor_role_at_commit: Some("admin".to_owned()),
            actor_epoch_at_commit: 0,
            authenticated_epoch: 0,
            email: None,
            version: None,
        }
    }

    fn judged(before: &[AuditEntry], after: Vec<AuditEntry>) -> Judged {
        commit_order(&AuditSchema::default(), &AuditMark::of(before), &Ok(after))
    }

    #[test]
    fn a_log_that_grew_is_judged() {
        let before = vec![entry(1, "root", "promote"), entry(2, "root", "demote")];
        let mut after = before.clone();
        after.push(entry(3, "root", "promote"));
        assert_eq!(judged(&before, after), Judged::Held);
    }

    #[test]
    fn sequence_numbers_of_another_log_are_not_compared() {
        let before = vec![
            entry(1, "root", "promote"),
            entry(2, "root", "demote"),
            entry(3, "root", "promote"),
        ];
        // Another worker's log: shorter, so nothing would fall after seq 3 and the burst would
        // pass unseen.
        let shorter = vec![entry(1, "root", "promote"), entry(2, "bob", "promote")];
        assert!(matches!(
            judged(&before, shorter),
            Judged::Undecided(why) if why.contains("reached seq 3 before the burst and ends at seq 2")
        ));
        // Another log as long: its seq 3 is another write.
        let other = vec![
            entry(1, "root", "promote"),
            entry(2, "root", "demote"),
            entry(3, "admin", "demote"),
            entry(4, "admin", "promote"),
        ];
        assert!(matches!(
            judged(&before, other),
            Judged::Undecided(why) if why.contains("seq 3 was promote alice by root before the burst")
        ));
        let merged = vec![entry(1, "root", "promote"), entry(1, "bob", "promote")];
        assert!(matches!(
            judged(&[], merged),
            Judged::Undecided(why) if why.contains("two audit entries share seq 1")
        ));
    }
}
