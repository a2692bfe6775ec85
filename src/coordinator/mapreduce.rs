//! Map-reduce runs in flight on rank 0: chunks queued per run, handed to workers a
//! few at a time (so a slow worker does not hold everyone up), partial results
//! collected in chunk order. Merging the partials happens on the caller's side.

use super::Waiter;
use crate::config;
use crate::protocol::{ErrorKind, MapReduceSpec, Rank, Reply, Task, TaskOutcome};
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, HashMap, VecDeque};

struct Run {
    function: u64,
    pending: VecDeque<(u32, ByteBuf)>,
    results: Vec<Option<ByteBuf>>,
    remaining: usize,
    waiter: Waiter,
}

#[derive(Default)]
pub struct Runs {
    runs: BTreeMap<u64, Run>,
    next: u64,
    in_flight: HashMap<Rank, u32>,
    done: Vec<(Waiter, Reply)>,
}

impl Runs {
    pub fn start(&mut self, spec: MapReduceSpec, waiter: Waiter) {
        let id = self.next;
        self.next += 1;
        if spec.chunks.is_empty() {
            self.done.push((waiter, Reply::Chunks(Vec::new())));
            return;
        }
        let count = spec.chunks.len();
        let run = Run {
            function: spec.function,
            pending: spec
                .chunks
                .into_iter()
                .enumerate()
                .map(|(i, c)| (i as u32, c))
                .collect(),
            results: vec![None; count],
            remaining: count,
            waiter,
        };
        self.runs.insert(id, run);
    }

    /// Whether `rank` holds chunks.
    pub fn busy(&self, rank: Rank) -> bool {
        self.in_flight.get(&rank).is_some_and(|&n| n > 0)
    }

    /// Whether chunks are out on workers.
    pub fn in_flight(&self) -> bool {
        self.in_flight.values().any(|&n| n > 0)
    }

    /// Chunks to send now: each worker gets up to `MAPREDUCE_CHUNKS_IN_FLIGHT`.
    pub fn next_tasks(&mut self, ranks: &[Rank]) -> Vec<(Rank, Task)> {
        let mut tasks = Vec::new();
        loop {
            let mut progress = false;
            for &rank in ranks {
                let in_flight = self.in_flight.entry(rank).or_default();
                if *in_flight >= config::MAPREDUCE_CHUNKS_IN_FLIGHT {
                    continue;
                }
                let Some((&id, run)) = self
                    .runs
                    .iter_mut()
                    .find(|(_, run)| !run.pending.is_empty())
                else {
                    return tasks;
                };
                let (chunk, payload) = run.pending.pop_front().expect("not empty");
                *in_flight += 1;
                progress = true;
                tasks.push((
                    rank,
                    Task::Chunk {
                        mapreduce: id,
                        chunk,
                        function: run.function,
                        function_bytes: Vec::new(),
                        payload: payload.into_vec(),
                    },
                ));
            }
            if !progress {
                return tasks;
            }
        }
    }

    pub fn finished(&mut self, id: u64, chunk: u32, from: Rank, outcome: TaskOutcome) {
        if let Some(in_flight) = self.in_flight.get_mut(&from) {
            *in_flight = in_flight.saturating_sub(1);
        }
        let Some(run) = self.runs.get_mut(&id) else {
            return;
        };
        match outcome {
            TaskOutcome::Success { value } => {
                if run.results[chunk as usize]
                    .replace(ByteBuf::from(value))
                    .is_none()
                {
                    run.remaining -= 1;
                }
                if run.remaining == 0 {
                    let run = self.runs.remove(&id).expect("present");
                    let results = run
                        .results
                        .into_iter()
                        .map(|r| r.expect("every chunk answered"))
                        .collect();
                    self.done.push((run.waiter, Reply::Chunks(results)));
                }
            }
            TaskOutcome::Failure {
                message, traceback, ..
            } => {
                let run = self.runs.remove(&id).expect("present");
                let text = if traceback.is_empty() {
                    message
                } else {
                    traceback
                };
                self.done.push((
                    run.waiter,
                    Reply::Error(ErrorKind::Job, format!("rank {from}\n{text}")),
                ));
            }
        }
    }

    /// Hands every finished run's reply to `respond`.
    pub fn deliver(&mut self, respond: &mut dyn FnMut(Waiter, Reply)) {
        for (waiter, reply) in self.done.drain(..) {
            respond(waiter, reply);
        }
    }
}
