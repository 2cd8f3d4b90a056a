//! Guards: the conditions under which a workflow's writes are safe, judged from what
//! the run read on the wire before its first write.
//!
//! Every writing workflow declares its guards the same way — a [`Guard`] each, with
//! whether it holds and the evidence read — lists them in its plan, and calls
//! [`check`] before its first write: one guard that does not hold stops the run with
//! [`Failed`], which the crate's error carries as `Error::GuardFailed` (the command's
//! exit status 5), naming each guard that failed and what to do. Nothing was written then. Rights are the other preflight
//! ([`crate::rights`], exit status 4); a guard is about the state of the systems, not
//! about the identity.
//!
//! ```
//! use intune_integration::guard::{self, Guard};
//!
//! let guards = vec![
//!     Guard::new("enforce.connection", "ISE can ask Intune about a device")
//!         .judged(false, "ISE reports no active External MDM server")
//!         .remedy("run `ise-intune onboard` until it completes"),
//! ];
//! let stopped = guard::check("enforce", &guards).unwrap_err();
//! assert!(stopped.to_string().contains("enforce.connection"));
//! // A guard that holds lets the writes go ahead.
//! let fine = vec![Guard::new("x", "y").judged(true, "seen")];
//! assert!(guard::check("enforce", &fine).is_ok());
//! ```

use serde::Serialize;

/// One condition a workflow's writes need, as judged from what the run read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Guard {
    /// Stable id (`enforce.connection`, `offboard.entry_gone`, …): the section of the
    /// troubleshooting guide that explains it.
    pub id: &'static str,
    /// What must hold, in plain words.
    pub condition: String,
    /// Whether it holds.
    pub holds: bool,
    /// What was read on the wire that decided it.
    pub evidence: String,
    /// What to do when it does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl Guard {
    /// A guard `id` requiring `condition`, not judged yet (it does not hold until
    /// [`Guard::judged`] says so).
    pub fn new(id: &'static str, condition: impl Into<String>) -> Self {
        Self {
            id,
            condition: condition.into(),
            holds: false,
            evidence: "not judged".into(),
            remedy: None,
        }
    }

    /// The same guard, judged: whether it `holds`, from `evidence`.
    #[must_use]
    pub fn judged(mut self, holds: bool, evidence: impl Into<String>) -> Self {
        self.holds = holds;
        self.evidence = evidence.into();
        self
    }

    /// The same guard, with what to do when it does not hold.
    #[must_use]
    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }

    /// `holds` or `fails`, as a plan prints it.
    pub fn verdict(&self) -> &'static str {
        if self.holds { "holds" } else { "fails" }
    }
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.id, self.condition, self.evidence)?;
        if let Some(r) = &self.remedy {
            write!(f, "; {r}")?;
        }
        Ok(())
    }
}

/// The guards of a workflow that do not hold: the run stops before its first write
/// (the crate's `Error::GuardFailed`, into which it converts).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failed {
    /// The workflow (`enforce`, `offboard`, …).
    pub workflow: &'static str,
    /// Each guard that does not hold, with its evidence and remedy.
    pub failed: Vec<Guard>,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} stopped before writing anything: a condition its writes need does not hold: ",
            self.workflow
        )?;
        for (i, g) in self.failed.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failed {}

/// `Ok` when every guard holds; otherwise [`Failed`] for `workflow`, naming each guard
/// that does not. Called before a workflow's first write.
pub fn check(workflow: &'static str, guards: &[Guard]) -> Result<(), Failed> {
    let failed: Vec<Guard> = guards.iter().filter(|g| !g.holds).cloned().collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failed { workflow, failed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_failed_guards_are_named_and_the_kind_is_guard() {
        let guards = vec![
            Guard::new("a.holds", "A").judged(true, "seen A"),
            Guard::new("b.fails", "B")
                .judged(false, "no B")
                .remedy("make B"),
        ];
        let Err(stopped) = check("offboard", &guards) else {
            panic!("a guard failure");
        };
        assert_eq!(stopped.workflow, "offboard");
        assert_eq!(stopped.failed, [guards[1].clone()]);
        let said = stopped.to_string();
        let e = crate::Error::from(stopped);
        assert_eq!(e.to_string(), said);
        assert_eq!(e.kind(), crate::ErrorKind::Guard);
        assert_eq!(
            e.to_string(),
            "offboard stopped before writing anything: a condition its writes need does not \
             hold: b.fails (B): no B; make B"
        );
        // Not judged is not holding.
        assert!(!Guard::new("c", "C").holds);
    }
}
