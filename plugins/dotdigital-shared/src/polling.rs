//! Waiting for asynchronous jobs — imports, enrolments — without hammering the status endpoint:
//! the phase a job's status string names, a backoff schedule for its polls, and [`Jobs`], the
//! jobs a planner has sent, each with the rows it carries.

use dotsync_plugin_sdk::{Millis, OutcomeStatus, PluginError, RequestId, ResponseView};
use serde::Deserialize;

use crate::ApiError;
use crate::contact_page::scalar_text;
use crate::identifier::encode_path_segment;
use crate::planning::{codes, error_status, refused};

/// Longest wait between two status polls of one job.
pub const MAX_POLL_INTERVAL_MS: Millis = 10_000;

/// Where a job stands, from its `status` string (compared without regard to case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPhase {
    /// `NotStarted`, `NotFinished`, `Processing`, `InProgress`, `Started`: poll again.
    Running,
    /// `Finished` (contact imports, enrolments) or `Complete` (insight imports).
    Done,
    /// Anything else (`Failed`, `RejectedByWatchdog`, ...): the job did not do its work.
    Failed,
}

impl JobPhase {
    pub fn of(status: &str) -> JobPhase {
        let status = status.trim();
        let is = |names: &[&str]| names.iter().any(|name| name.eq_ignore_ascii_case(status));
        if is(&["NotStarted", "NotFinished", "Processing", "InProgress", "Started"]) {
            JobPhase::Running
        } else if is(&["Finished", "Complete", "Completed"]) {
            JobPhase::Done
        } else {
            JobPhase::Failed
        }
    }
}

/// When to poll a job next: first after `first` ms, then 1.5× longer each time it is still
/// running, up to [`MAX_POLL_INTERVAL_MS`] (or `first`, when that is longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    pub next_at: Millis,
    interval: Millis,
    ceiling: Millis,
}

impl PollSchedule {
    pub fn start(now: Millis, first: Millis) -> Self {
        PollSchedule {
            next_at: now.saturating_add(first),
            interval: first,
            ceiling: MAX_POLL_INTERVAL_MS.max(first),
        }
    }

    /// The job was still running at `now`: wait longer before the next poll.
    pub fn back_off(&mut self, now: Millis) {
        self.interval = (self.interval + self.interval / 2).min(self.ceiling);
        self.next_at = now.saturating_add(self.interval);
    }

    pub fn is_due(&self, now: Millis) -> bool {
        self.next_at <= now
    }
}

/// The parts of a job's answers a planner reads: its id when accepted (`id` in v2, `importId` in
/// v3), then its status.
#[derive(Deserialize)]
struct JobAnswer {
    #[serde(alias = "Id", alias = "importId")]
    id: Option<serde_json::Value>,
    #[serde(alias = "Status")]
    status: Option<String>,
}

/// The id in the answer that accepted a job.
pub fn accepted_job_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<JobAnswer>(body)
        .ok()?
        .id
        .as_ref()
        .and_then(scalar_text)
}

/// The status in a successful status answer.
pub fn job_status(response: &ResponseView<'_>) -> Option<String> {
    if !response.is_success() {
        return None;
    }
    serde_json::from_slice::<JobAnswer>(response.body).ok()?.status
}

/// How a job ended for every row it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub status: OutcomeStatus,
    pub code: String,
    pub message: String,
}

/// What the answer to a job's submission says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Accepted under this id: poll its status.
    Accepted(String),
    /// Refused or unreadable: the job is over.
    Ended(Ending),
}

/// Reads the answer to submitting `what` (e.g. "the list import"). A 401/403 is the error that
/// stops the run; another error status ends the job (a 400 rejects its rows, anything else fails
/// them); a success without an id fails them as `InvalidResponse`.
pub fn read_submission(response: &ResponseView<'_>, what: &str) -> Result<Submitted, PluginError> {
    if let Some(error) = refused(response, what) {
        return Err(error);
    }
    if !response.is_success() {
        let error = ApiError::from_response(response.status, response.body);
        return Ok(Submitted::Ended(Ending {
            status: error_status(&error),
            code: error.code.clone(),
            message: error.to_string(),
        }));
    }
    Ok(match accepted_job_id(response.body) {
        Some(id) => Submitted::Accepted(id),
        None => Submitted::Ended(Ending {
            status: OutcomeStatus::Failed,
            code: codes::INVALID_RESPONSE.to_owned(),
            message: format!("{what} was answered with HTTP {} but no id", response.status),
        }),
    })
}

/// What a status poll says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// Not finished: poll again later.
    Running,
    /// Finished; the status string as the API spelled it.
    Done(String),
    /// Failed, or its status could not be read: the job is over.
    Ended(Ending),
}

/// Reads the answer to a status poll of `what`. A 401/403 is the error that stops the run. An
/// unreadable status ends the job with `unreadable` (`Failed` when nothing was written yet,
/// `Uncertain` when it may have been) and `unreadable_code`; a failed job fails its rows with the
/// status as the code.
pub fn read_poll(
    response: &ResponseView<'_>,
    what: &str,
    unreadable: OutcomeStatus,
    unreadable_code: &str,
) -> Result<Polled, PluginError> {
    if let Some(error) = refused(response, &format!("the status read of {what}")) {
        return Err(error);
    }
    let Some(status) = job_status(response) else {
        let error = ApiError::from_response(response.status, response.body);
        return Ok(Polled::Ended(Ending {
            status: unreadable,
            code: unreadable_code.to_owned(),
            message: format!("the status of {what} could not be read: {error}"),
        }));
    };
    Ok(match JobPhase::of(&status) {
        JobPhase::Running => Polled::Running,
        JobPhase::Done => Polled::Done(status),
        JobPhase::Failed => Polled::Ended(Ending {
            status: OutcomeStatus::Failed,
            message: format!("{what} ended with status {status}"),
            code: status,
        }),
    })
}

/// What a job's status read leads to ([`Jobs::on_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Still running: it is polled again later.
    Wait,
    /// Finished: read its fault report; the job's id, encoded for a path.
    ReadFaults(String),
    /// Failed, or its status could not be read: the job is over.
    End(Ending),
}

/// Reads the answer to the fault-report request of a finished `job` (e.g. "import"): the
/// report's text, or how the job's rows end when it cannot be read (`unreadable`, with
/// `unreadable_code`). A 401/403 is the error that stops the run.
pub fn read_fault_report(
    response: &ResponseView<'_>,
    job: &str,
    unreadable: OutcomeStatus,
    unreadable_code: &str,
) -> Result<Result<String, Ending>, PluginError> {
    if let Some(error) = refused(response, &format!("the {job} fault report read")) {
        return Err(error);
    }
    if !response.is_success() {
        let error = ApiError::from_response(response.status, response.body);
        return Ok(Err(Ending {
            status: unreadable,
            code: unreadable_code.to_owned(),
            message: format!("the {job} finished but its fault report could not be read: {error}"),
        }));
    }
    Ok(Ok(String::from_utf8_lossy(response.body).into_owned()))
}

/// One job a planner sent.
#[derive(Debug)]
pub struct Job<R> {
    /// The planner's number for it.
    pub seq: u64,
    /// The request that created it (and took its slot, if any).
    pub request: RequestId,
    /// The rows it carries.
    pub rows: Vec<R>,
    /// Its id and poll schedule, once accepted.
    accepted: Option<(String, PollSchedule)>,
    /// A status (or report) read is out.
    reading: bool,
}

impl<R> Job<R> {
    /// The job's id, percent-encoded for a path (empty before it is accepted).
    pub fn id_segment(&self) -> String {
        self.accepted
            .as_ref()
            .map(|(id, _)| encode_path_segment(id))
            .unwrap_or_default()
    }

    pub fn is_accepted(&self) -> bool {
        self.accepted.is_some()
    }

    fn due_at(&self) -> Option<Millis> {
        if self.reading {
            return None;
        }
        self.accepted.as_ref().map(|(_, schedule)| schedule.next_at)
    }
}

/// The jobs a planner has sent and not yet settled.
#[derive(Debug)]
pub struct Jobs<R> {
    jobs: Vec<Job<R>>,
    last_seq: u64,
}

impl<R> Default for Jobs<R> {
    fn default() -> Self {
        Jobs {
            jobs: Vec::new(),
            last_seq: 0,
        }
    }
}

impl<R> Jobs<R> {
    /// Records a job created by `request`; returns its number.
    pub fn start(&mut self, request: RequestId, rows: Vec<R>) -> u64 {
        self.last_seq += 1;
        self.jobs.push(Job {
            seq: self.last_seq,
            request,
            rows,
            accepted: None,
            reading: false,
        });
        self.last_seq
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn get(&self, seq: u64) -> Option<&Job<R>> {
        self.jobs.iter().find(|job| job.seq == seq)
    }

    /// The job created by `request`.
    pub fn by_request(&self, request: RequestId) -> Option<&Job<R>> {
        self.jobs.iter().find(|job| job.request == request)
    }

    /// Takes a job out: it is settled.
    pub fn remove(&mut self, seq: u64) -> Option<Job<R>> {
        let index = self.jobs.iter().position(|job| job.seq == seq)?;
        Some(self.jobs.swap_remove(index))
    }

    /// The job was accepted with `id` at `now`: poll it after `first_poll` ms.
    pub fn accept(&mut self, seq: u64, id: String, now: Millis, first_poll: Millis) {
        if let Some(job) = self.jobs.iter_mut().find(|job| job.seq == seq) {
            job.accepted = Some((id, PollSchedule::start(now, first_poll)));
        }
    }

    /// A read of the job is out (`true`) or answered (`false`).
    pub fn set_reading(&mut self, seq: u64, reading: bool) {
        if let Some(job) = self.jobs.iter_mut().find(|job| job.seq == seq) {
            job.reading = reading;
        }
    }

    /// Handles the answer to job `seq`'s status poll, read as [`read_poll`] reads it (`what`,
    /// `unreadable`, `unreadable_code` as there): a running job is polled later; a finished one
    /// stays marked as being read while its fault report is fetched.
    pub fn on_status(
        &mut self,
        seq: u64,
        response: &ResponseView<'_>,
        now: Millis,
        what: &str,
        unreadable: OutcomeStatus,
        unreadable_code: &str,
    ) -> Result<NextStep, PluginError> {
        self.set_reading(seq, false);
        Ok(match read_poll(response, what, unreadable, unreadable_code)? {
            Polled::Running => {
                self.back_off(seq, now);
                NextStep::Wait
            }
            Polled::Done(_) => {
                self.set_reading(seq, true);
                NextStep::ReadFaults(self.get(seq).map(Job::id_segment).unwrap_or_default())
            }
            Polled::Ended(end) => NextStep::End(end),
        })
    }

    /// The job was still running at `now`: poll it later.
    pub fn back_off(&mut self, seq: u64, now: Millis) {
        if let Some((_, schedule)) = self
            .jobs
            .iter_mut()
            .find(|job| job.seq == seq)
            .and_then(|job| job.accepted.as_mut())
        {
            schedule.back_off(now);
        }
    }

    /// A job whose status poll is due at `now`, marked as being read; its number and encoded id.
    pub fn next_due(&mut self, now: Millis) -> Option<(u64, String)> {
        let job = self
            .jobs
            .iter_mut()
            .find(|job| job.due_at().is_some_and(|at| at <= now))?;
        job.reading = true;
        Some((job.seq, job.id_segment()))
    }

    /// When the next status poll is due.
    pub fn next_timeout(&self) -> Option<Millis> {
        self.jobs.iter().filter_map(Job::due_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases() {
        assert_eq!(JobPhase::of("NotFinished"), JobPhase::Running);
        assert_eq!(JobPhase::of("processing"), JobPhase::Running);
        assert_eq!(JobPhase::of("Complete"), JobPhase::Done);
        assert_eq!(JobPhase::of("Finished"), JobPhase::Done);
        assert_eq!(JobPhase::of("RejectedByWatchdog"), JobPhase::Failed);
        assert_eq!(JobPhase::of(""), JobPhase::Failed);
    }

    #[test]
    fn jobs_are_polled_when_due_and_read_one_at_a_time() {
        let mut jobs: Jobs<u32> = Jobs::default();
        let seq = jobs.start(7, vec![1, 2]);
        assert_eq!(jobs.by_request(7).map(|job| job.rows.len()), Some(2));
        assert_eq!(jobs.next_timeout(), None, "not accepted yet");
        assert_eq!(accepted_job_id(br#"{"importId":"a/b"}"#), Some("a/b".into()));
        jobs.accept(seq, "a/b".into(), 0, 100);
        assert_eq!(jobs.next_due(99), None);
        assert_eq!(jobs.next_due(100), Some((seq, "a%2Fb".into())));
        assert_eq!(jobs.next_timeout(), None, "a read is out");
        jobs.set_reading(seq, false);
        jobs.back_off(seq, 100);
        assert_eq!(jobs.next_timeout(), Some(250));
        assert!(jobs.remove(seq).is_some());
        assert!(jobs.is_empty());
        let view = ResponseView {
            status: 200,
            headers: &[],
            body: br#"{"id":"x","status":"Finished"}"#,
        };
        assert_eq!(job_status(&view), Some("Finished".into()));
    }

    fn answer(status: u16, body: &'static [u8]) -> ResponseView<'static> {
        ResponseView {
            status,
            headers: &[],
            body,
        }
    }

    #[test]
    fn submissions_are_accepted_ended_or_stop_the_run() {
        assert_eq!(
            read_submission(&answer(202, br#"{"id":"j1"}"#), "the import"),
            Ok(Submitted::Accepted("j1".into()))
        );
        let Ok(Submitted::Ended(bad)) = read_submission(
            &answer(400, br#"{"errorCode":"ERROR_IMPORT_INVALID","description":"bad"}"#),
            "the import",
        ) else {
            panic!("a 400 ends the job")
        };
        assert_eq!(
            (bad.status, bad.code.as_str()),
            (OutcomeStatus::Rejected, "ERROR_IMPORT_INVALID")
        );
        let Ok(Submitted::Ended(no_id)) = read_submission(&answer(202, b"{}"), "the import") else {
            panic!("no id ends the job")
        };
        assert_eq!(no_id.code, codes::INVALID_RESPONSE);
        assert_eq!(no_id.message, "the import was answered with HTTP 202 but no id");
        assert!(read_submission(&answer(401, b""), "the import").is_err());
    }

    #[test]
    fn polls_run_finish_or_end() {
        let poll = |status, body| read_poll(&answer(status, body), "the import", OutcomeStatus::Uncertain, "Unknown");
        assert_eq!(poll(200, br#"{"status":"NotFinished"}"#), Ok(Polled::Running));
        assert_eq!(
            poll(200, br#"{"status":"Finished"}"#),
            Ok(Polled::Done("Finished".into()))
        );
        let Ok(Polled::Ended(failed)) = poll(200, br#"{"status":"RejectedByWatchdog"}"#) else {
            panic!("a failed status ends the job")
        };
        assert_eq!(
            (failed.status, failed.code.as_str(), failed.message.as_str()),
            (
                OutcomeStatus::Failed,
                "RejectedByWatchdog",
                "the import ended with status RejectedByWatchdog"
            )
        );
        let Ok(Polled::Ended(unreadable)) = poll(500, b"oops") else {
            panic!("an unreadable status ends the job")
        };
        assert_eq!(
            (unreadable.status, unreadable.code.as_str()),
            (OutcomeStatus::Uncertain, "Unknown")
        );
        assert!(poll(403, b"").is_err());
    }

    #[test]
    fn backs_off_to_the_ceiling() {
        let mut schedule = PollSchedule::start(100, 1_000);
        assert_eq!(schedule.next_at, 1_100);
        assert!(!schedule.is_due(1_099));
        schedule.back_off(1_100);
        assert_eq!(schedule.next_at, 2_600);
        for _ in 0..20 {
            schedule.back_off(0);
        }
        assert_eq!(schedule.next_at, MAX_POLL_INTERVAL_MS);
    }
}
