//! The job scheduler: a sans-IO state machine owning the job DAG. Jobs wait on DFS
//! paths; a committed path wakes exactly the jobs waiting on it; ready jobs go to
//! workers that fit them, near their input bytes, a few ahead so short jobs never
//! leave a worker idle. It knows nothing of MPI, Python or clocks: the coordinator
//! feeds it events and carries out the dispatches it returns.
//!
//! Invariants: a path has at most one live (non-terminal) writer; `missing` of a
//! waiting job counts its inputs not yet in the DFS; a worker's `queued` counts the
//! jobs dispatched to it and not yet finished.

use crate::config;
use crate::protocol::{JobId, JobSpec, JobState, JobStatus, Rank, Resources};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubmitError {
    #[error("output {path} is already declared by live job {job} ({name}); two live jobs may not write the same path")]
    DuplicateOutput {
        path: String,
        job: JobId,
        name: String,
    },
    #[error("job {name} asks for {asked} but the largest worker has {largest}; ask for less or start bigger workers")]
    TooBig {
        name: String,
        asked: String,
        largest: String,
    },
    #[error("job {name} lists output {path} twice")]
    OutputTwice { name: String, path: String },
}

/// A job as the scheduler holds it. Kept small: a million of these may wait.
pub struct Job {
    pub spec: JobSpec,
    pub state: JobState,
    pub attempts: u32,
    pub worker: Option<Rank>,
    missing: u32,
    tried: Vec<Rank>,
    pub error_type: String,
    pub error: String,
    pub value: Vec<u8>,
}

struct Worker {
    resources: Resources,
    queued: u32,
}

/// Why a job ended without running to success.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub error_type: String,
    pub message: String,
}

#[derive(Default)]
pub struct Scheduler {
    jobs: Vec<Job>,
    waiting_on: HashMap<String, Vec<JobId>>,
    writers: HashMap<String, JobId>,
    ready: VecDeque<JobId>,
    workers: BTreeMap<Rank, Worker>,
    running: u32,
    finished: Vec<JobId>,
    counts: [u64; 7],
    draining: bool,
}

fn state_index(state: &JobState) -> usize {
    match state {
        JobState::Waiting => 0,
        JobState::Ready => 1,
        JobState::Running => 2,
        JobState::Done => 3,
        JobState::Failed => 4,
        JobState::Cancelled => 5,
        JobState::Skipped => 6,
    }
}

fn describe(resources: &Resources) -> String {
    format!(
        "{} cores, {} bytes of memory, {} GPUs",
        resources.cores, resources.memory_bytes, resources.gpus
    )
}

fn fits(job: &Resources, worker: &Resources) -> bool {
    job.cores <= worker.cores && job.memory_bytes <= worker.memory_bytes && job.gpus <= worker.gpus
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.get((id as usize).checked_sub(1)?)
    }

    fn job_mut(&mut self, id: JobId) -> &mut Job {
        &mut self.jobs[id as usize - 1]
    }

    pub fn status(&self, id: JobId) -> Option<JobStatus> {
        let job = self.job(id)?;
        Some(JobStatus {
            id,
            name: job.spec.name.clone(),
            state: job.state.clone(),
            attempts: job.attempts,
            worker: job.worker,
            error_type: job.error_type.clone(),
            error: job.error.clone(),
            value: job.value.clone(),
        })
    }

    /// Jobs per state: waiting, ready, running, done, failed, cancelled, skipped.
    pub fn counts(&self) -> [u64; 7] {
        self.counts
    }

    pub fn total(&self) -> u64 {
        self.jobs.len() as u64
    }

    /// Whether every submitted job has reached a terminal state.
    pub fn all_finished(&self) -> bool {
        self.counts[0] + self.counts[1] + self.counts[2] == 0
    }

    pub fn running(&self) -> u32 {
        self.running
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Whether jobs reached a terminal state since the last `take_finished`.
    pub fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Jobs that reached a terminal state since the last call.
    pub fn take_finished(&mut self) -> Vec<JobId> {
        std::mem::take(&mut self.finished)
    }

    fn set_state(&mut self, id: JobId, state: JobState) {
        let old = state_index(&self.job(id).expect("known job").state);
        self.counts[old] -= 1;
        self.counts[state_index(&state)] += 1;
        if state.is_terminal() {
            self.finished.push(id);
            let outputs = std::mem::take(&mut self.job_mut(id).spec.outputs);
            for path in &outputs {
                if self.writers.get(path) == Some(&id) {
                    self.writers.remove(path);
                }
            }
            let job = self.job_mut(id);
            job.spec.outputs = outputs;
            // The payload is no longer needed; free it (a million jobs may pass).
            job.spec.arguments = Vec::new();
            job.spec.function_bytes = Vec::new();
        }
        self.job_mut(id).state = state;
    }

    /// Jobs dispatched to `rank` and not finished.
    pub fn queued(&self, rank: Rank) -> u32 {
        self.workers.get(&rank).map_or(0, |worker| worker.queued)
    }

    /// Adds a worker (or updates its resources).
    pub fn worker_joined(&mut self, rank: Rank, resources: Resources) {
        self.workers.insert(
            rank,
            Worker {
                resources,
                queued: 0,
            },
        );
    }

    /// Accepts a job. `exists` says whether a path is committed in the DFS; with
    /// `resume`, a job whose outputs all exist is skipped.
    pub fn submit(
        &mut self,
        mut spec: JobSpec,
        exists: &dyn Fn(&str) -> bool,
        resume: bool,
    ) -> Result<(JobId, JobState), SubmitError> {
        self.check_resources(&spec)?;
        let mut seen = HashSet::new();
        for path in &spec.outputs {
            if !seen.insert(path) {
                return Err(SubmitError::OutputTwice {
                    name: spec.name.clone(),
                    path: path.clone(),
                });
            }
            if let Some(&job) = self.writers.get(path) {
                let name = self
                    .job(job)
                    .map(|j| j.spec.name.clone())
                    .unwrap_or_default();
                return Err(SubmitError::DuplicateOutput {
                    path: path.clone(),
                    job,
                    name,
                });
            }
        }
        spec.retries = spec.retries.min(config::JOB_RETRIES_MAX);
        let id = self.jobs.len() as JobId + 1;
        let skip = resume && !spec.outputs.is_empty() && spec.outputs.iter().all(|p| exists(p));
        let missing: Vec<String> = spec.inputs.iter().filter(|p| !exists(p)).cloned().collect();
        let state = if skip {
            JobState::Skipped
        } else if missing.is_empty() {
            JobState::Ready
        } else {
            JobState::Waiting
        };
        if !skip {
            for path in &spec.outputs {
                self.writers.insert(path.clone(), id);
            }
            for path in &missing {
                self.waiting_on.entry(path.clone()).or_default().push(id);
            }
        }
        self.jobs.push(Job {
            spec,
            state: state.clone(),
            attempts: 0,
            worker: None,
            missing: missing.len() as u32,
            tried: Vec::new(),
            error_type: String::new(),
            error: String::new(),
            value: Vec::new(),
        });
        self.counts[state_index(&state)] += 1;
        match state {
            JobState::Ready => self.ready.push_back(id),
            JobState::Skipped => self.finished.push(id),
            _ => {}
        }
        Ok((id, state))
    }

    fn check_resources(&self, spec: &JobSpec) -> Result<(), SubmitError> {
        if self.workers.is_empty()
            || self
                .workers
                .values()
                .any(|w| fits(&spec.resources, &w.resources))
        {
            return Ok(());
        }
        let largest = self
            .workers
            .values()
            .map(|w| &w.resources)
            .max_by_key(|r| (r.cores, r.memory_bytes, r.gpus))
            .expect("not empty");
        Err(SubmitError::TooBig {
            name: spec.name.clone(),
            asked: describe(&spec.resources),
            largest: describe(largest),
        })
    }

    /// A path was committed: wake the jobs waiting on it.
    pub fn path_committed(&mut self, path: &str) {
        let Some(waiters) = self.waiting_on.remove(path) else {
            return;
        };
        for id in waiters {
            let job = self.job_mut(id);
            if job.state != JobState::Waiting {
                continue;
            }
            job.missing -= 1;
            if job.missing == 0 {
                self.set_state(id, JobState::Ready);
                self.ready.push_back(id);
            }
        }
    }

    /// Stop handing out work (a drain after a signal); running jobs may finish.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Assigns ready jobs to workers. `bytes_by_rank` tells where a job's inputs lie.
    pub fn dispatch(
        &mut self,
        bytes_by_rank: &dyn Fn(&[String]) -> HashMap<Rank, u64>,
    ) -> Vec<(Rank, Vec<JobId>)> {
        if self.draining || self.workers.is_empty() || self.ready.is_empty() {
            return Vec::new();
        }
        let per_worker = (self.ready.len() / self.workers.len()) as u32;
        let limit = 1 + per_worker.min(config::WORKER_PREFETCH_TASKS);
        let mut plan: BTreeMap<Rank, Vec<JobId>> = BTreeMap::new();
        let mut postponed = Vec::new();
        while let Some(id) = self.ready.pop_front() {
            match self.place(id, limit, bytes_by_rank) {
                Some(rank) => {
                    self.workers
                        .get_mut(&rank)
                        .expect("placed on a worker")
                        .queued += 1;
                    let job = self.job_mut(id);
                    job.worker = Some(rank);
                    job.attempts += 1;
                    self.running += 1;
                    self.set_state(id, JobState::Running);
                    plan.entry(rank).or_default().push(id);
                }
                None => {
                    postponed.push(id);
                    if self.workers.values().all(|w| w.queued >= limit) {
                        break;
                    }
                }
            }
        }
        for id in postponed.into_iter().rev() {
            self.ready.push_front(id);
        }
        plan.into_iter().collect()
    }

    fn place(
        &self,
        id: JobId,
        limit: u32,
        bytes_by_rank: &dyn Fn(&[String]) -> HashMap<Rank, u64>,
    ) -> Option<Rank> {
        let job = self.job(id).expect("ready job");
        let candidates = self
            .workers
            .iter()
            .filter(|(_, w)| w.queued < limit && fits(&job.spec.resources, &w.resources));
        let locality = if job.spec.inputs.is_empty() {
            HashMap::new()
        } else {
            bytes_by_rank(&job.spec.inputs)
        };
        // Most local input bytes first, then a worker not tried before, then the least loaded.
        candidates
            .min_by_key(|(rank, w)| {
                let local = locality.get(rank).copied().unwrap_or(0);
                (
                    std::cmp::Reverse(local),
                    job.tried.contains(rank),
                    w.queued,
                    **rank,
                )
            })
            .map(|(rank, _)| *rank)
    }

    /// A job attempt succeeded (its outputs are already committed by the caller).
    pub fn succeeded(&mut self, id: JobId, attempt: u32, value: Vec<u8>) {
        if !self.is_current(id, attempt) {
            return;
        }
        self.release(id);
        self.job_mut(id).value = value;
        self.set_state(id, JobState::Done);
    }

    /// A job attempt failed: retry it if it may, otherwise fail it and cancel its dependants.
    pub fn failed(&mut self, id: JobId, attempt: u32, failure: Failure) {
        if !self.is_current(id, attempt) {
            return;
        }
        let rank = self.release(id);
        let job = self.job_mut(id);
        job.error_type = failure.error_type.clone();
        job.error = failure.message.clone();
        if let Some(rank) = rank {
            job.tried.push(rank);
        }
        let retry = job.attempts <= job.spec.retries && !self.draining;
        if retry {
            self.set_state(id, JobState::Ready);
            self.ready.push_back(id);
        } else {
            self.fail(id, failure);
        }
    }

    fn is_current(&self, id: JobId, attempt: u32) -> bool {
        self.job(id)
            .is_some_and(|job| job.state == JobState::Running && job.attempts == attempt)
    }

    fn release(&mut self, id: JobId) -> Option<Rank> {
        let rank = self.job(id)?.worker?;
        if let Some(worker) = self.workers.get_mut(&rank) {
            worker.queued = worker.queued.saturating_sub(1);
        }
        self.running -= 1;
        Some(rank)
    }

    fn fail(&mut self, id: JobId, failure: Failure) {
        let job = self.job_mut(id);
        job.error_type = failure.error_type;
        job.error = failure.message;
        self.set_state(id, JobState::Failed);
        self.cancel_dependants(id);
    }

    /// Cancels, transitively, every job waiting on an output of `root`.
    fn cancel_dependants(&mut self, root: JobId) {
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            let outputs = self.job(id).expect("known job").spec.outputs.clone();
            let name = self.job(id).expect("known job").spec.name.clone();
            for path in outputs {
                for dependant in self.waiting_on.remove(&path).unwrap_or_default() {
                    let job = self.job_mut(dependant);
                    if job.state != JobState::Waiting {
                        continue;
                    }
                    job.error_type = "Cancelled".into();
                    job.error = format!("cancelled: input {path} would have been written by job {id} ({name}), which did not succeed");
                    self.set_state(dependant, JobState::Cancelled);
                    stack.push(dependant);
                }
            }
        }
    }

    /// The no-hang rule, applied while the script waits and nothing can make
    /// progress: a waiting job whose missing input no live job will write fails
    /// with MissingInputError (its dependants are cancelled). If only a cycle of
    /// waiting jobs remains, they fail too. Returns the jobs failed.
    pub fn fail_unsatisfiable(&mut self, exists: &dyn Fn(&str) -> bool) -> Vec<JobId> {
        if self.running > 0 || !self.ready.is_empty() || self.counts[0] == 0 {
            return Vec::new();
        }
        let mut failed = Vec::new();
        loop {
            let mut progress = false;
            let mut waiting: Vec<(String, JobId)> = self
                .waiting_on
                .iter()
                .filter(|(path, _)| !exists(path) && !self.writers.contains_key(*path))
                .flat_map(|(path, jobs)| jobs.iter().map(move |job| (path.clone(), *job)))
                .collect();
            waiting.sort_by_key(|(_, job)| *job);
            for (path, id) in waiting {
                let message = format!("input {path} is not in the DFS and no job will write it");
                if self.fail_missing_input(id, message) {
                    failed.push(id);
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        if self.counts[0] > 0 {
            // What is left waits on itself: a cycle.
            let mut cycle: Vec<(String, JobId)> = self
                .waiting_on
                .iter()
                .flat_map(|(path, jobs)| jobs.iter().map(move |job| (path.clone(), *job)))
                .collect();
            cycle.sort_by_key(|(_, job)| *job);
            for (path, id) in cycle {
                let message = format!(
                    "input {path} is written only by jobs that wait on each other (a cycle)"
                );
                if self.fail_missing_input(id, message) {
                    failed.push(id);
                }
            }
        }
        failed
    }

    /// Fails a job that still waits with MissingInputError; false if it no longer waits.
    fn fail_missing_input(&mut self, id: JobId, message: String) -> bool {
        if !self
            .job(id)
            .is_some_and(|job| job.state == JobState::Waiting)
        {
            return false;
        }
        self.fail(
            id,
            Failure {
                error_type: "MissingInputError".into(),
                message,
            },
        );
        true
    }

    /// Fails every job that no registered worker can run (used when the set of
    /// workers is final, e.g. a run with no workers at all).
    pub fn fail_unplaceable(&mut self, reason: &str) -> Vec<JobId> {
        let stuck: Vec<JobId> = self
            .ready
            .iter()
            .copied()
            .filter(|id| {
                let job = self.job(*id).expect("ready job");
                !self
                    .workers
                    .values()
                    .any(|w| fits(&job.spec.resources, &w.resources))
            })
            .collect();
        self.ready.retain(|id| !stuck.contains(id));
        for id in &stuck {
            self.fail(
                *id,
                Failure {
                    error_type: "RuntimeError".into(),
                    message: reason.into(),
                },
            );
        }
        stuck
    }

    /// The payload a worker needs to run a dispatched job.
    pub fn spec(&self, id: JobId) -> &JobSpec {
        &self.job(id).expect("known job").spec
    }
}

#[cfg(test)]
mod tests;
