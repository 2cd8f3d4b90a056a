//! What a run has done so far ([`Run`]), how it ends ([`Stopped`], [`Run::conclude`]),
//! and the timing of each step ([`timed`]).

use crate::Error;
use crate::context::Integration;
use crate::context::ms;
use crate::error::ApplyFailure;
use crate::error::PartialReport;
use crate::outcome::Outcome;
use crate::outcome::Step;
use crate::outcome::StepName;
use crate::report::Report;
use crate::report::Requests;
use crate::report::StepError;
use crate::report::StepReport;
use crate::verify::VerificationReport;
use std::time::Duration;
use std::time::Instant;

/// The run ended early; its errors are in the [`Run`].
pub(super) struct Stopped;

/// What a run has done so far: each step's report, in order, and each error.
pub(super) struct Run<'a> {
    pub(super) ctx: &'a Integration,
    pub(super) log: Vec<StepReport>,
    pub(super) errors: Vec<(StepName, Error)>,
    pub(super) ise_version: String,
}

impl<'a> Run<'a> {
    pub(super) fn new(ctx: &'a Integration) -> Self {
        Self {
            ctx,
            log: Vec::new(),
            errors: Vec::new(),
            ise_version: String::new(),
        }
    }

    /// The value, or [`Stopped`] with the error recorded against `step`.
    pub(super) fn check<T>(
        &mut self,
        step: StepName,
        result: Result<T, Error>,
    ) -> Result<T, Stopped> {
        result.map_err(|e| {
            self.errors.push((step, e));
            Stopped
        })
    }

    /// Records a finished step: the progress callback, then the run's list.
    pub(super) fn record(
        &mut self,
        name: StepName,
        outcome: Outcome,
        elapsed: Duration,
        detail: String,
    ) {
        let report = StepReport {
            name,
            outcome,
            elapsed_ms: ms(elapsed),
            detail,
        };
        self.ctx.report_progress(&report);
        self.log.push(report);
    }

    pub(super) fn record_step<T>(
        &mut self,
        name: StepName,
        step: &Step<T>,
        elapsed: Duration,
        detail: String,
    ) {
        self.record(name, step.outcome, elapsed, detail);
    }

    pub(super) fn record_verification(
        &mut self,
        verification: &VerificationReport,
        elapsed: Duration,
    ) {
        let failed = verification.failures();
        self.record(
            StepName::VerifyConnection,
            if verification.ok {
                Outcome::Unchanged
            } else {
                Outcome::Failed
            },
            elapsed,
            if verification.ok {
                format!("{} checks passed", verification.checks.len())
            } else {
                failed.join("; ")
            },
        );
    }

    /// Says which candidate holds ISE's key when the application was ambiguous.
    pub(super) fn name_ise_key_holder(&mut self, certs: &[&crate::certs::Certificate]) {
        let ise_keys: Vec<String> = certs.iter().map(|c| c.sha1().to_hex()).collect();
        for (_, e) in &mut self.errors {
            if let Error::AmbiguousApplication { candidates, .. } = e {
                for c in candidates.iter_mut() {
                    c.holds_ise_key = Some(c.key_thumbprints.iter().any(|t| ise_keys.contains(t)));
                }
            }
        }
    }

    /// The run's result: the report, or [`Error::Apply`] with it when a step failed.
    pub(super) fn conclude(
        mut self,
        finished: Result<Report, Stopped>,
        requests: Requests,
    ) -> Result<Report, Error> {
        let mut report = match finished {
            Ok(report) => report,
            Err(Stopped) if self.log.is_empty() && self.errors.len() == 1 => {
                return Err(self.errors.remove(0).1);
            }
            // Stopped before any write for want of rights, or because the automating
            // identity could not sign in: the error itself.
            Err(Stopped)
                if !self.log.iter().any(|s| s.outcome.is_write())
                    && matches!(self.errors.as_slice(), [(StepName::CheckRights, _)]) =>
            {
                return Err(self.errors.remove(0).1);
            }
            Err(Stopped) => Report {
                ise_version: self.ise_version.clone(),
                ..Report::default()
            },
        };
        report.written = self
            .log
            .iter()
            .filter(|s| s.outcome.is_write())
            .map(|s| format!("{} ({}): {}", s.name, s.outcome, s.detail))
            .collect();
        report.errors = self
            .errors
            .iter()
            .map(|(step, e)| StepError {
                step: *step,
                message: e.to_string(),
            })
            .collect();
        report.steps = self.log;
        report.requests = requests;
        if self.errors.is_empty() {
            return Ok(report);
        }
        report.complete = false;
        let written = report.written.clone();
        Err(Error::Apply(Box::new(ApplyFailure::new(
            PartialReport::Onboard(report),
            written,
            self.errors,
        ))))
    }
}

/// Awaits `f` inside a `step` span named after the step, measuring how long it took.
pub(super) async fn timed<T>(
    step: StepName,
    f: impl std::future::Future<Output = T>,
) -> (T, Duration) {
    use tracing::Instrument as _;
    let started = Instant::now();
    let out = f
        .instrument(tracing::info_span!("step", name = step.as_str()))
        .await;
    let elapsed = started.elapsed();
    tracing::debug!(
        step = step.as_str(),
        elapsed_ms = ms(elapsed),
        "step finished"
    );
    (out, elapsed)
}
