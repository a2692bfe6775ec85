//! Rank 0's engine node: wires the sans-IO cores (scheduler, name node, UserView
//! store) to the transport and to the script's Python thread. Requests arrive the
//! same way from the script (a local channel) and from jobs on workers (MPI); each
//! is answered at once or parked until the event it waits for (a job finishing, a
//! path appearing, a key being set, workers registering).

mod mapreduce;

use crate::config::{self, Config};
use crate::dfs::store::BlockStore;
use crate::engine::{DataNode, Local, Node};
use crate::namenode::journal::Journal;
use crate::namenode::{NameError, NameNode, Record};
use crate::protocol::*;
use crate::report;
use crate::scheduler::{Failure, Scheduler};
use crate::transport::Transport;
use crate::userview;
use crossbeam_channel::Sender;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Who is waiting for a reply.
#[derive(Clone)]
pub enum Waiter {
    Local(Sender<Reply>),
    Remote(Rank, RequestId),
}

enum Phase {
    Running,
    Draining {
        deadline: Instant,
        waiter: Waiter,
    },
    ShuttingDown {
        deadline: Instant,
        waiter: Waiter,
        remaining: HashSet<Rank>,
    },
    Finished,
}

pub struct Coordinator {
    config: Config,
    rank_count: u32,
    scheduler: Scheduler,
    names: NameNode,
    journal: Option<Journal>,
    views: userview::Store,
    data: DataNode,
    workers: BTreeMap<Rank, WorkerInfo>,
    held_blocks: HashMap<Rank, HashSet<BlockId>>,
    functions: HashMap<FunctionId, Arc<Vec<u8>>>,
    shipped: HashSet<(Rank, FunctionId)>,
    job_waiters: HashMap<JobId, Vec<Waiter>>,
    all_waiters: Vec<Waiter>,
    path_waiters: HashMap<String, Vec<Waiter>>,
    worker_waiters: Vec<(u32, Waiter)>,
    uv_parked: HashMap<RequestId, Waiter>,
    next_parked: RequestId,
    pings: HashMap<u64, Waiter>,
    next_ping: u64,
    mapreduce: mapreduce::Runs,
    phase: Phase,
    dispatch_needed: bool,
    started: Instant,
    /// Wall-clock start of the run, microseconds since the Unix epoch.
    started_wall_us: u64,
    /// Replica copies under way: (block, target) -> the file, and the script's
    /// commit waiting for them, if any. Recorded in the name node only when stored.
    replicas_in_flight: HashMap<(BlockId, Rank), (String, Option<RequestId>)>,
    /// Script commits waiting for their replicas: id -> (copies left, waiter).
    commits_waiting: HashMap<RequestId, (usize, Waiter)>,
    /// This node's host name (rank 0's replicas live here).
    host: String,
    /// Job attempts and counters, kept only when --report or --trace asks.
    recorder: Option<report::Recorder>,
}

/// Answers a waiter: through its channel on rank 0, or over MPI to a worker.
fn respond(transport: &mut Transport, waiter: Waiter, reply: Reply) {
    match waiter {
        Waiter::Local(sender) => {
            let _ = sender.send(reply);
        }
        Waiter::Remote(rank, id) => transport.send(rank, &Message::Reply { id, body: reply }),
    }
}

fn error_reply(kind: ErrorKind, message: impl Into<String>) -> Reply {
    Reply::Error(kind, message.into())
}

fn name_error(error: NameError) -> Reply {
    let kind = match &error {
        NameError::Path(_) => ErrorKind::Value,
        NameError::Exists(_) => ErrorKind::FileExists,
        NameError::NotFound(_) => ErrorKind::FileNotFound,
        NameError::IsDirectory(_) => ErrorKind::Os,
        NameError::Mixed(_) => ErrorKind::Value,
    };
    error_reply(kind, error.to_string())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub const USERVIEWS_FILE: &str = "userviews.bin";

impl Coordinator {
    pub fn new(
        config: Config,
        rank_count: u32,
        store: Arc<BlockStore>,
        transport: &Transport,
    ) -> std::io::Result<Coordinator> {
        let mut names = NameNode::new();
        let mut views =
            userview::Store::new(config.uv_value_limit_bytes, config.uv_total_limit_bytes);
        let mut journal = None;
        let mut held_blocks = HashMap::new();
        if let Some(root) = &config.dfs_root {
            let (opened, records) = Journal::open(root)?;
            for record in records {
                names.apply(record);
            }
            journal = Some(opened);
            held_blocks.insert(0, store.held().into_iter().collect::<HashSet<_>>());
            names.reset_replicas(&held_blocks);
            if let Ok(bytes) = std::fs::read(root.join(USERVIEWS_FILE)) {
                match decode_value(&bytes) {
                    Ok(saved) => views.restore(saved),
                    Err(error) => tracing::warn!("ignoring unreadable saved UserViews: {error}"),
                }
            }
        }
        Ok(Coordinator {
            rank_count,
            scheduler: Scheduler::new(),
            names,
            journal,
            views,
            data: DataNode::new(store, 0, transport.pool()),
            workers: BTreeMap::new(),
            held_blocks,
            functions: HashMap::new(),
            shipped: HashSet::new(),
            job_waiters: HashMap::new(),
            all_waiters: Vec::new(),
            path_waiters: HashMap::new(),
            worker_waiters: Vec::new(),
            uv_parked: HashMap::new(),
            next_parked: 1,
            pings: HashMap::new(),
            next_ping: 1,
            mapreduce: mapreduce::Runs::default(),
            phase: Phase::Running,
            dispatch_needed: false,
            started: Instant::now(),
            started_wall_us: now_ms() * 1000,
            host: crate::topology::hostname(),
            replicas_in_flight: HashMap::new(),
            commits_waiting: HashMap::new(),
            recorder: (config.report.is_some() || config.trace.is_some())
                .then(report::Recorder::default),
            config,
        })
    }

    fn respond(&self, transport: &mut Transport, waiter: Waiter, reply: Reply) {
        respond(transport, waiter, reply);
    }

    fn journal(&mut self, records: &[Record]) -> Result<(), Reply> {
        if let Some(journal) = &mut self.journal {
            journal.append(records).map_err(|error| {
                error_reply(
                    ErrorKind::Os,
                    format!(
                        "cannot write the DFS journal {}: {error}",
                        journal.path().display()
                    ),
                )
            })?;
        }
        Ok(())
    }

    fn handle_request(&mut self, transport: &mut Transport, waiter: Waiter, request: Request) {
        let reply = match request {
            Request::Ping => Reply::Pong,
            Request::Workers => Reply::Workers(
                self.workers
                    .values()
                    .map(|info| WorkerInfo {
                        busy: self.scheduler.queued(info.rank) > 0
                            || self.mapreduce.busy(info.rank),
                        ..info.clone()
                    })
                    .collect(),
            ),
            Request::WaitForWorkers(count) => {
                if self.workers.len() as u32 >= count {
                    Reply::Count(self.workers.len() as u64)
                } else {
                    self.worker_waiters.push((count, waiter));
                    return;
                }
            }
            Request::Submit(spec) => self.submit(spec),
            Request::JobStatus(id) => match self.scheduler.status(id) {
                Some(status) => Reply::Job(status),
                None => error_reply(ErrorKind::Value, format!("no job with id {id}")),
            },
            Request::WaitJob(id) => match self.scheduler.status(id) {
                Some(status) if status.state.is_terminal() => Reply::Job(status),
                Some(_) => {
                    self.job_waiters.entry(id).or_default().push(waiter);
                    self.check_stalled(transport);
                    return;
                }
                None => error_reply(ErrorKind::Value, format!("no job with id {id}")),
            },
            Request::WaitAll => {
                if self.scheduler.all_finished() {
                    self.failed_jobs()
                } else {
                    self.all_waiters.push(waiter);
                    self.check_stalled(transport);
                    return;
                }
            }
            Request::Summary => {
                Reply::Summary(self.scheduler.counts().to_vec(), self.workers.len() as u32)
            }
            Request::Uv(view, op) => {
                let id = self.next_parked;
                self.next_parked += 1;
                let outcome = self.views.apply(id, &view, op);
                for (parked, reply) in outcome.released {
                    if let Some(parked_waiter) = self.uv_parked.remove(&parked) {
                        self.respond(transport, parked_waiter, reply);
                    }
                }
                match outcome.reply {
                    Some(reply) => reply,
                    None => {
                        self.uv_parked.insert(id, waiter);
                        return;
                    }
                }
            }
            Request::DfsLookup(path) => match self.names.lookup(&path) {
                Ok(meta) => {
                    let reader = match &waiter {
                        Waiter::Local(_) => 0,
                        Waiter::Remote(rank, _) => *rank,
                    };
                    Reply::File(self.nearest_first(meta.clone(), reader))
                }
                Err(error) => name_error(error),
            },
            Request::DfsList(prefix) => match self.names.list(&prefix) {
                Ok(files) => Reply::Files(files),
                Err(error) => name_error(error),
            },
            Request::DfsRemove(path, recursive) => self.remove(transport, &path, recursive),
            Request::DfsWait(path) => match self.names.lookup(&path) {
                Ok(meta) => Reply::File(meta.clone()),
                Err(NameError::NotFound(normalized)) => {
                    self.path_waiters
                        .entry(normalized)
                        .or_default()
                        .push(waiter);
                    return;
                }
                Err(error) => name_error(error),
            },
            Request::DfsCheckNew(path) => match crate::dfs::normalize(&path) {
                Ok(path) if self.names.exists(&path) => name_error(NameError::Exists(path)),
                Ok(_) => Reply::Ok,
                Err(error) => name_error(NameError::Path(error)),
            },
            Request::DfsCommit(staged) => {
                // The script's close() returns once every replica is stored.
                let id = self.next_parked;
                self.next_parked += 1;
                match self.commit(transport, vec![staged], Some(id)) {
                    Ok(0) => Reply::Ok,
                    Ok(copies) => {
                        self.commits_waiting.insert(id, (copies, waiter));
                        return;
                    }
                    Err(reply) => reply,
                }
            }
            Request::MapReduce(spec) => {
                if self.workers.is_empty() && self.rank_count <= 1 {
                    error_reply(
                        ErrorKind::Runtime,
                        "map-reduce needs workers: start with mpirun -n 2 or more, or --workers N",
                    )
                } else {
                    self.functions
                        .entry(spec.function)
                        .or_insert_with(|| Arc::new(spec.function_bytes.clone()));
                    self.mapreduce.start(spec, waiter);
                    self.pump_mapreduce(transport);
                    self.deliver_mapreduce(transport);
                    return;
                }
            }
            Request::AddWorkers(count) => self.add_workers(transport, count),
            Request::PingRank(rank) => {
                if !self.workers.contains_key(&rank) {
                    error_reply(
                        ErrorKind::Value,
                        format!("rank {rank} is not a registered worker"),
                    )
                } else {
                    let id = self.next_ping;
                    self.next_ping += 1;
                    self.pings.insert(id, waiter);
                    transport.send(rank, &Message::Ping(id));
                    return;
                }
            }
            Request::Drain(grace_ms) => {
                self.scheduler.drain();
                self.phase = Phase::Draining {
                    deadline: Instant::now() + Duration::from_millis(grace_ms),
                    waiter,
                };
                return;
            }
            Request::Shutdown => {
                self.begin_shutdown(transport, waiter);
                return;
            }
        };
        self.respond(transport, waiter, reply);
    }

    /// Spawns `count` more workers: every worker joins the collective spawn, then
    /// all ranks use the merged communicator. The new workers register as usual.
    fn add_workers(&mut self, transport: &mut Transport, count: u32) -> Reply {
        if count == 0 {
            return Reply::Count(0);
        }
        if std::env::var_os("SLURM_STEP_ID").is_some() && !crate::transport::launched_by_mpirun() {
            return error_reply(
                ErrorKind::Runtime,
                "add_workers cannot spawn processes under srun: ask Slurm for the workers up front (srun -n N)",
            );
        }
        let workers: Vec<Rank> = (1..self.rank_count).collect();
        for rank in workers {
            transport.send(rank, &Message::Grow { count });
        }
        match transport.grow(count) {
            Ok(()) => {
                self.rank_count = transport.size();
                Reply::Count(count as u64)
            }
            Err(error) => error_reply(
                ErrorKind::Runtime,
                format!("{error}: this MPI launch cannot add workers; start the run with the workers it needs"),
            ),
        }
    }

    fn submit(&mut self, mut spec: JobSpec) -> Reply {
        for list in [&mut spec.inputs, &mut spec.outputs] {
            for path in list.iter_mut() {
                match crate::dfs::normalize(path) {
                    Ok(normalized) => *path = normalized,
                    Err(error) => {
                        return error_reply(ErrorKind::Value, format!("job {}: {error}", spec.name))
                    }
                }
            }
        }
        if !spec.function_bytes.is_empty() {
            let bytes = std::mem::take(&mut spec.function_bytes);
            self.functions
                .entry(spec.function)
                .or_insert_with(|| Arc::new(bytes));
        }
        if !self.functions.contains_key(&spec.function) {
            return error_reply(
                ErrorKind::Runtime,
                format!(
                    "job {}: its function was never sent to the scheduler",
                    spec.name
                ),
            );
        }
        let names = &self.names;
        let resume = self.journal.is_some();
        match self
            .scheduler
            .submit(spec, &|path| names.exists(path), resume)
        {
            Ok((id, state)) => {
                self.dispatch_needed = true;
                Reply::Submitted(id, state)
            }
            Err(error) => error_reply(ErrorKind::Value, error.to_string()),
        }
    }

    fn failed_jobs(&self) -> Reply {
        let failed = (1..=self.scheduler.total())
            .filter_map(|id| self.scheduler.status(id))
            .filter(|s| matches!(s.state, JobState::Failed | JobState::Cancelled))
            .map(|mut s| {
                s.value = Vec::new();
                s
            })
            .collect();
        Reply::JobsFinished(failed)
    }

    /// Commits staged files atomically (all or none), journals them, wakes waiters.
    /// Returns how many replica copies were started (for `commit_id` to wait on).
    fn commit(
        &mut self,
        transport: &mut Transport,
        files: Vec<StagedFile>,
        commit_id: Option<RequestId>,
    ) -> Result<usize, Reply> {
        let mut seen = HashSet::new();
        for file in &files {
            let path =
                crate::dfs::normalize(&file.path).map_err(|e| name_error(NameError::Path(e)))?;
            if self.names.exists(&path) || !seen.insert(path.clone()) {
                return Err(name_error(NameError::Exists(path)));
            }
        }
        let now = now_ms();
        let mut records = Vec::new();
        for file in files {
            records.push(self.names.commit(file, now).map_err(name_error)?);
        }
        self.journal(&records)?;
        let mut copies = 0;
        for record in records {
            if let Record::Commit(meta) = record {
                if let Some(recorder) = &mut self.recorder {
                    recorder.run.dfs_bytes_written += meta.size;
                }
                copies += self.replicate(transport, &meta, commit_id);
                self.scheduler.path_committed(&meta.path);
                self.dispatch_needed = true;
                for waiter in self.path_waiters.remove(&meta.path).unwrap_or_default() {
                    self.respond(transport, waiter, Reply::File(meta.clone()));
                }
            }
        }
        Ok(copies)
    }

    /// Sends further replicas of newly committed blocks to other ranks (hosts first).
    fn replicate(
        &mut self,
        transport: &mut Transport,
        meta: &FileMeta,
        commit_id: Option<RequestId>,
    ) -> usize {
        if self.config.replication <= 1 {
            return 0;
        }
        let mut copies = 0;
        let mut ranks: Vec<(Rank, String)> = self
            .workers
            .values()
            .map(|w| (w.rank, w.host.clone()))
            .collect();
        ranks.push((0, self.host.clone()));
        for block in &meta.blocks {
            for target in
                self.names
                    .choose_replicas(block, self.config.replication as usize, &ranks)
            {
                let Some(&holder) = block.replicas.first() else {
                    continue;
                };
                if holder == 0 {
                    self.data
                        .copy_replica(transport, block.id, block.crc32c, block.len, target);
                } else {
                    let message = Message::Replicate {
                        block: block.id,
                        crc32c: block.crc32c,
                        len: block.len,
                        to: target,
                    };
                    transport.send(holder, &message);
                }
                self.replicas_in_flight
                    .insert((block.id, target), (meta.path.clone(), commit_id));
                copies += 1;
            }
        }
        copies
    }

    /// A replica copy ended: record it (journal first) and release a waiting commit.
    fn on_replicated(
        &mut self,
        transport: &mut Transport,
        from: Rank,
        block: BlockId,
        error: Option<String>,
    ) {
        let Some((path, commit_id)) = self.replicas_in_flight.remove(&(block, from)) else {
            tracing::error!("rank {from} reports a replica of block {block:016x} nobody asked for");
            return;
        };
        match error {
            None => {
                let record = Record::AddReplica(path, block, from);
                if let Err(Reply::Error(_, message)) = self.journal(std::slice::from_ref(&record)) {
                    tracing::error!("{message}");
                }
                self.names.apply(record);
            }
            Some(error) => tracing::error!(
                "replica of {path} on rank {from} failed: {error}; the file has fewer copies"
            ),
        }
        let Some(id) = commit_id else { return };
        if let Some((left, _)) = self.commits_waiting.get_mut(&id) {
            *left -= 1;
            if *left == 0 {
                let (_, waiter) = self.commits_waiting.remove(&id).expect("present");
                self.respond(transport, waiter, Reply::Ok);
            }
        }
    }

    fn remove(&mut self, transport: &mut Transport, path: &str, recursive: bool) -> Reply {
        let (removed, records) = match self.names.remove(path, recursive) {
            Ok(result) => result,
            Err(error) => return name_error(error),
        };
        if let Err(reply) = self.journal(&records) {
            return reply;
        }
        let mut by_rank: HashMap<Rank, Vec<BlockId>> = HashMap::new();
        for block in removed.iter().flat_map(|meta| &meta.blocks) {
            for rank in &block.replicas {
                by_rank.entry(*rank).or_default().push(block.id);
            }
        }
        for (rank, blocks) in by_rank {
            if rank == 0 {
                blocks
                    .iter()
                    .for_each(|block| self.data.store.remove(*block));
            } else if self.workers.contains_key(&rank) {
                transport.send(rank, &Message::DeleteBlocks(blocks));
            }
        }
        Reply::Count(removed.len() as u64)
    }

    fn dispatch(&mut self, transport: &mut Transport) {
        self.dispatch_needed = false;
        let names = &self.names;
        let plan = self.scheduler.dispatch(&|paths| names.bytes_by_rank(paths));
        for (rank, jobs) in plan {
            let tasks: Vec<Task> = jobs.into_iter().map(|id| self.job_task(rank, id)).collect();
            transport.send(rank, &Message::Tasks(tasks));
        }
    }

    fn function_bytes_for(&mut self, rank: Rank, function: FunctionId) -> Vec<u8> {
        if self.shipped.insert((rank, function)) {
            self.functions
                .get(&function)
                .map(|b| b.as_ref().clone())
                .unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// `meta` with each block's replicas in the order `reader` should try them.
    fn nearest_first(&self, meta: FileMeta, reader: Rank) -> FileMeta {
        let host_of = |rank: Rank| -> Option<&str> {
            if rank == 0 {
                return Some(self.host.as_str());
            }
            self.workers.get(&rank).map(|w| w.host.as_str())
        };
        crate::namenode::nearest_first(meta, reader, &host_of)
    }

    fn job_task(&mut self, rank: Rank, id: JobId) -> Task {
        let function = self.scheduler.spec(id).function;
        let function_bytes = self.function_bytes_for(rank, function);
        let job = self.scheduler.job(id).expect("dispatched job exists");
        let input_files = job
            .spec
            .inputs
            .iter()
            .filter_map(|path| self.names.lookup(path).ok().cloned())
            .map(|meta| self.nearest_first(meta, rank))
            .collect();
        Task::Job {
            job: id,
            attempt: job.attempts,
            name: job.spec.name.clone(),
            function,
            function_bytes,
            arguments: job.spec.arguments.clone(),
            input_files,
            outputs: job.spec.outputs.clone(),
            timeout_ms: job.spec.timeout_ms,
        }
    }

    fn on_results(&mut self, transport: &mut Transport, from: Rank, results: Vec<TaskResult>) {
        for result in results {
            if let Some((run, chunk)) = result.chunk {
                self.record(
                    from,
                    &result,
                    "chunk",
                    format!("map-reduce {run} chunk {chunk}"),
                    run,
                );
                self.mapreduce.finished(run, chunk, from, result.outcome);
                continue;
            }
            self.on_job_result(transport, from, result);
        }
        self.deliver_mapreduce(transport);
        self.pump_mapreduce(transport);
        self.dispatch_needed = true;
    }

    /// Records a finished attempt or chunk when a report or trace was asked for.
    fn record(
        &mut self,
        from: Rank,
        result: &TaskResult,
        kind: &'static str,
        name: String,
        id: u64,
    ) {
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        let (outcome, error) = match &result.outcome {
            TaskOutcome::Success { .. } => ("done", String::new()),
            TaskOutcome::Failure {
                error_type,
                message,
                traceback,
            } => (
                "failed",
                if traceback.is_empty() {
                    format!("{error_type}: {message}")
                } else {
                    traceback.clone()
                },
            ),
        };
        recorder.record(report::Event {
            kind,
            name,
            id,
            attempt: result.attempt,
            worker: from,
            start_us: result.started_us.saturating_sub(self.started_wall_us),
            duration_us: result.elapsed_us,
            outcome,
            error,
        });
    }

    fn on_job_result(&mut self, transport: &mut Transport, from: Rank, result: TaskResult) {
        if self.recorder.is_some() {
            let name = self
                .scheduler
                .job(result.job)
                .map(|j| j.spec.name.clone())
                .unwrap_or_default();
            self.record(from, &result, "job", name, result.job);
        }
        let outcome = match result.outcome {
            TaskOutcome::Success { value } => {
                match self.commit(transport, result.files.clone(), None) {
                    Ok(_) => Ok(value),
                    Err(Reply::Error(_, message)) => Err(Failure {
                        error_type: "FileExistsError".into(),
                        message,
                    }),
                    Err(_) => Err(Failure {
                        error_type: "OSError".into(),
                        message: "commit failed".into(),
                    }),
                }
            }
            TaskOutcome::Failure {
                error_type,
                message,
                traceback,
            } => {
                let message = if traceback.is_empty() {
                    message
                } else {
                    traceback
                };
                Err(Failure {
                    error_type,
                    message,
                })
            }
        };
        match outcome {
            Ok(value) => self.scheduler.succeeded(result.job, result.attempt, value),
            Err(failure) => {
                let staged: Vec<BlockId> = result
                    .files
                    .iter()
                    .flat_map(|f| f.blocks.iter().map(|b| b.id))
                    .collect();
                if !staged.is_empty() {
                    transport.send(from, &Message::DeleteBlocks(staged));
                }
                self.scheduler.failed(result.job, result.attempt, failure);
            }
        }
    }

    fn pump_mapreduce(&mut self, transport: &mut Transport) {
        let ranks: Vec<Rank> = self.workers.keys().copied().collect();
        for (rank, task) in self.mapreduce.next_tasks(&ranks) {
            let mut task = task;
            if let Task::Chunk {
                function,
                function_bytes,
                ..
            } = &mut task
            {
                *function_bytes = self.function_bytes_for(rank, *function);
            }
            transport.send(rank, &Message::Tasks(vec![task]));
        }
    }

    fn deliver_mapreduce(&mut self, transport: &mut Transport) {
        self.mapreduce
            .deliver(&mut |waiter, reply| respond(transport, waiter, reply));
    }

    /// Answers everyone waiting on jobs that have finished.
    fn notify_finished(&mut self, transport: &mut Transport) {
        for id in self.scheduler.take_finished() {
            if let Some(waiters) = self.job_waiters.remove(&id) {
                let status = self.scheduler.status(id).expect("finished job exists");
                for waiter in waiters {
                    self.respond(transport, waiter, Reply::Job(status.clone()));
                }
            }
        }
        if self.scheduler.all_finished() && !self.all_waiters.is_empty() {
            let reply = self.failed_jobs();
            for waiter in std::mem::take(&mut self.all_waiters) {
                self.respond(transport, waiter, reply.clone());
            }
        }
    }

    /// The no-hang rule: while the script waits and nothing can make progress,
    /// fail what can never run.
    fn check_stalled(&mut self, transport: &mut Transport) {
        let waiting = !self.all_waiters.is_empty() || !self.job_waiters.is_empty();
        if !waiting || self.dispatch_needed {
            return;
        }
        let names = &self.names;
        self.scheduler
            .fail_unsatisfiable(&|path| names.exists(path));
        let expected_workers = self.rank_count.saturating_sub(1);
        if self.workers.len() as u32 >= expected_workers
            && self.scheduler.running() == 0
            && self.scheduler.ready_len() > 0
        {
            let reason = if self.workers.is_empty() {
                "this run has no workers to run jobs: start with mpirun -n 2 or more, srun -n 2 or more, or --workers N".to_string()
            } else {
                "no worker of this run has the cores, memory or GPUs this job asks for".to_string()
            };
            self.scheduler.fail_unplaceable(&reason);
        }
        self.notify_finished(transport);
    }

    fn on_hello(
        &mut self,
        transport: &mut Transport,
        from: Rank,
        version: u32,
        info: WorkerInfo,
        held: Vec<BlockId>,
    ) {
        if version != PROTOCOL_VERSION {
            tracing::error!("rank {from} speaks protocol {version}, this scheduler {PROTOCOL_VERSION}: it is not used");
            transport.send(from, &Message::Shutdown);
            return;
        }
        self.scheduler.worker_joined(
            from,
            Resources {
                cores: info.cores,
                memory_bytes: info.memory_bytes,
                gpus: info.gpus,
            },
        );
        self.workers.insert(from, info);
        if self.journal.is_some() {
            self.held_blocks.insert(from, held.into_iter().collect());
            self.names.reset_replicas(&self.held_blocks);
        }
        let count = self.workers.len() as u32;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.worker_waiters)
            .into_iter()
            .partition(|(n, _)| *n <= count);
        self.worker_waiters = waiting;
        for (_, waiter) in ready {
            self.respond(transport, waiter, Reply::Count(count as u64));
        }
        self.dispatch_needed = true;
        self.pump_mapreduce(transport);
    }

    fn begin_shutdown(&mut self, transport: &mut Transport, waiter: Waiter) {
        self.save_views();
        let remaining: HashSet<Rank> = (1..self.rank_count).collect();
        for rank in &remaining {
            transport.send(*rank, &Message::Shutdown);
        }
        let deadline = Instant::now() + Duration::from_millis(config::SHUTDOWN_TIMEOUT_MS);
        self.phase = Phase::ShuttingDown {
            deadline,
            waiter,
            remaining,
        };
    }

    fn save_views(&self) {
        let Some(root) = &self.config.dfs_root else {
            return;
        };
        let bytes = encode_value(&self.views.snapshot());
        let temporary: PathBuf = root.join(format!("{USERVIEWS_FILE}.tmp"));
        let saved = std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, root.join(USERVIEWS_FILE)));
        if let Err(error) = saved {
            tracing::error!("cannot save UserViews under {}: {error}", root.display());
        }
    }

    /// Writes `--report` and `--trace` (at the end of every run: success, failure or drain).
    fn write_report(&mut self) {
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        let run = &mut recorder.run;
        run.command_line = std::env::args().collect::<Vec<_>>().join(" ");
        run.vesper_version = env!("CARGO_PKG_VERSION").to_string();
        run.mpi_version = crate::transport::library_version();
        run.wall_s = self.started.elapsed().as_secs_f64();
        run.workers = self
            .workers
            .values()
            .map(|w| (w.rank, w.host.clone()))
            .collect();
        run.counts = self.scheduler.counts();
        run.userview_operations = self.views.operations();
        run.dfs_bytes_read_local += self.data.store.local_read_bytes();
        run.dfs_bytes_read_remote += self.data.bytes_served;
        for id in 1..=self.scheduler.total() {
            if let Some(job) = self.scheduler.job(id) {
                let node = report::JobNode {
                    name: job.spec.name.clone(),
                    inputs: job.spec.inputs.clone(),
                    outputs: job.spec.outputs.clone(),
                    state: job.state.as_str().to_string(),
                };
                run.jobs.insert(id, node);
            }
        }
        let outputs = [
            (
                self.config.report.clone(),
                report::render_html as fn(&report::Run) -> String,
            ),
            (self.config.trace.clone(), report::render_trace),
        ];
        for (path, render) in outputs {
            let Some(path) = path else { continue };
            if let Err(error) = std::fs::write(&path, render(run)) {
                eprintln!("vesper: cannot write {}: {error}", path.display());
            }
        }
    }
}

/// Rank 0's coordinator, shared by the engine thread and the script's thread. The
/// script submits jobs by locking it directly: a submission is the hottest call a
/// script makes, and a hop through the engine thread (two thread wake-ups) would
/// cost more than the submission itself. Everything else goes through the engine.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<Coordinator>>);

impl Shared {
    pub fn new(coordinator: Coordinator) -> Shared {
        Shared(Arc::new(Mutex::new(coordinator)))
    }

    fn lock(&self) -> MutexGuard<'_, Coordinator> {
        self.0
            .lock()
            .expect("the coordinator lock is never poisoned (a panic aborts the run)")
    }

    /// Jobs per state and registered workers (for the progress line).
    pub fn counts(&self) -> ([u64; 7], usize) {
        let coordinator = self.lock();
        (coordinator.scheduler.counts(), coordinator.workers.len())
    }

    /// Submits a job from the script; the caller wakes the engine to dispatch it.
    pub fn submit(&self, spec: JobSpec) -> Reply {
        self.lock().submit(spec)
    }
}

impl Node for Shared {
    fn on_local(&mut self, transport: &mut Transport, local: Local) {
        self.lock().on_local(transport, local)
    }
    fn on_message(&mut self, transport: &mut Transport, from: Rank, message: Message) {
        self.lock().on_message(transport, from, message)
    }
    fn on_data(&mut self, transport: &mut Transport, from: Rank, bytes: Vec<u8>) {
        self.lock().on_data(transport, from, bytes)
    }
    fn tick(&mut self, transport: &mut Transport, now: Instant) -> bool {
        self.lock().tick(transport, now)
    }
    fn finished(&self) -> bool {
        self.lock().finished()
    }
    fn expecting(&self) -> bool {
        self.lock().expecting()
    }
}

impl Node for Coordinator {
    fn on_local(&mut self, transport: &mut Transport, local: Local) {
        match local {
            Local::Call(request, sender) => {
                self.handle_request(transport, Waiter::Local(sender), request)
            }
            Local::ReadBlock(path, meta, reply) => self.data.read(transport, path, meta, reply),
            Local::Result(_) => tracing::error!("rank 0 runs no tasks"),
            Local::RawPingPong(peer, count, reply) => {
                transport.send(peer, &Message::RawPingPong { count });
                let _ = reply.send(transport.raw_ping_pong(peer, count, true));
            }
        }
    }

    fn on_message(&mut self, transport: &mut Transport, from: Rank, message: Message) {
        let Some(message) = self.data.on_message(transport, from, message) else {
            return;
        };
        match message {
            Message::Hello {
                protocol_version,
                info,
                held_blocks,
            } => self.on_hello(transport, from, protocol_version, info, held_blocks),
            Message::Request { id, body } => {
                self.handle_request(transport, Waiter::Remote(from, id), body)
            }
            Message::Results(results) => self.on_results(transport, from, results),
            Message::Pong(id) => {
                if let Some(waiter) = self.pings.remove(&id) {
                    self.respond(transport, waiter, Reply::Pong);
                }
            }
            Message::Replicated { block, error } => {
                self.on_replicated(transport, from, block, error)
            }
            Message::Bye {
                local_read_bytes,
                served_bytes,
            } => {
                if let Some(recorder) = &mut self.recorder {
                    recorder.run.dfs_bytes_read_local += local_read_bytes;
                    recorder.run.dfs_bytes_read_remote += served_bytes;
                }
                if let Phase::ShuttingDown { remaining, .. } = &mut self.phase {
                    remaining.remove(&from);
                }
            }
            other => tracing::error!("unexpected message from rank {from}: {other:?}"),
        }
    }

    fn on_data(&mut self, transport: &mut Transport, from: Rank, bytes: Vec<u8>) {
        if self.data.on_data(transport, from, bytes).is_some() {
            tracing::error!("rank {from} sent a payload nobody expected");
        }
    }

    fn tick(&mut self, transport: &mut Transport, now: Instant) -> bool {
        let mut busy = false;
        for (block, error) in self.data.take_replicated() {
            self.on_replicated(transport, 0, block, error);
            busy = true;
        }
        if self.dispatch_needed {
            self.dispatch(transport);
            busy = true;
        }
        if busy || self.scheduler.has_finished() {
            self.notify_finished(transport);
            self.check_stalled(transport);
            if self.dispatch_needed {
                self.dispatch(transport);
            }
        }
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Draining { deadline, waiter }
                if self.scheduler.running() == 0 || now >= deadline =>
            {
                let reply = Reply::Count(self.scheduler.running() as u64);
                self.respond(transport, waiter, reply);
                self.phase = Phase::Running;
            }
            Phase::ShuttingDown {
                remaining, waiter, ..
            } if remaining.is_empty() => {
                self.write_report();
                self.respond(transport, waiter, Reply::Ok);
                self.phase = Phase::Finished;
            }
            Phase::ShuttingDown {
                deadline,
                waiter,
                remaining,
            } if now >= deadline => {
                tracing::error!(
                    "ranks {remaining:?} did not stop within {} ms",
                    config::SHUTDOWN_TIMEOUT_MS
                );
                self.write_report();
                self.respond(
                    transport,
                    waiter,
                    Reply::Error(
                        ErrorKind::Runtime,
                        format!("ranks {remaining:?} did not stop"),
                    ),
                );
                self.phase = Phase::Finished;
                transport.abort(1);
            }
            phase => self.phase = phase,
        }
        busy
    }

    fn finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    fn expecting(&self) -> bool {
        self.scheduler.running() > 0
            || self.mapreduce.in_flight()
            || !self.pings.is_empty()
            || !self.replicas_in_flight.is_empty()
            || self.data.expecting()
            || !matches!(self.phase, Phase::Running)
    }
}
