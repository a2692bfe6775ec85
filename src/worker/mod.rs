//! A worker's engine node: forwards tasks from rank 0 to the rank's Python thread,
//! batches their results back, relays requests a running job makes of the
//! coordinator (UserView, DFS, submissions), and serves the blocks it stores.
//! It knows no Python: tasks and results are protocol types over channels.

use crate::engine::{DataNode, Local, Node};
use crate::protocol::{Message, Rank, Reply, RequestId, Task, TaskResult};
use crate::transport::Transport;
use crossbeam_channel::Sender;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct WorkerNode {
    data: DataNode,
    tasks: Sender<Option<Task>>,
    calls: HashMap<RequestId, Sender<Reply>>,
    next_call: RequestId,
    results: Vec<TaskResult>,
    /// Tasks handed to the Python thread and not finished yet.
    tasks_in_python: usize,
    /// When the running job last talked to the coordinator (a call or its reply).
    last_call: Instant,
    stopping: bool,
    parent_pid: i32,
    last_parent_check: Instant,
}

impl WorkerNode {
    pub fn new(data: DataNode, tasks: Sender<Option<Task>>) -> WorkerNode {
        WorkerNode {
            data,
            tasks,
            calls: HashMap::new(),
            next_call: 1,
            results: Vec::new(),
            tasks_in_python: 0,
            last_call: Instant::now(),
            stopping: false,
            // SAFETY: getppid has no preconditions.
            parent_pid: unsafe { libc::getppid() },
            last_parent_check: Instant::now(),
        }
    }

    /// A worker whose launcher died is orphaned: it must not linger.
    fn check_parent(&mut self, now: Instant) {
        if now.duration_since(self.last_parent_check) < Duration::from_secs(1) {
            return;
        }
        self.last_parent_check = now;
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } != self.parent_pid {
            eprintln!(
                "vesper: worker {} lost its launcher; exiting",
                self.data.store.rank()
            );
            std::process::exit(1);
        }
    }
}

impl Node for WorkerNode {
    fn on_local(&mut self, transport: &mut Transport, local: Local) {
        match local {
            Local::Call(body, reply) => {
                let id = self.next_call;
                self.next_call += 1;
                self.calls.insert(id, reply);
                self.last_call = Instant::now();
                transport.send(0, &Message::Request { id, body });
            }
            Local::ReadBlock(path, meta, reply) => self.data.read(transport, path, meta, reply),
            Local::Result(result) => {
                self.tasks_in_python = self.tasks_in_python.saturating_sub(1);
                self.results.push(result);
            }
            Local::RawPingPong(..) => tracing::error!("only rank 0 starts ping-pongs"),
        }
    }

    fn on_message(&mut self, transport: &mut Transport, from: Rank, message: Message) {
        let Some(message) = self.data.on_message(transport, from, message) else {
            return;
        };
        match message {
            Message::Tasks(tasks) => {
                for task in tasks {
                    self.tasks_in_python += 1;
                    let _ = self.tasks.send(Some(task));
                }
            }
            Message::Reply { id, body } => {
                if let Some(reply) = self.calls.remove(&id) {
                    let _ = reply.send(body);
                }
                self.last_call = Instant::now();
            }
            Message::Ping(id) => transport.send(from, &Message::Pong(id)),
            Message::Grow { count } => {
                if let Err(error) = transport.grow(count) {
                    tracing::error!("{error}");
                }
            }
            Message::RawPingPong { count } => {
                transport.raw_ping_pong(from, count, false);
            }
            Message::Shutdown => {
                if !self.results.is_empty() {
                    transport.send(0, &Message::Results(std::mem::take(&mut self.results)));
                }
                let bye = Message::Bye {
                    local_read_bytes: self.data.store.local_read_bytes(),
                    served_bytes: self.data.bytes_served,
                };
                transport.send(0, &bye);
                let _ = self.tasks.send(None);
                self.stopping = true;
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
        self.check_parent(now);
        if self.results.is_empty() {
            return false;
        }
        transport.send(0, &Message::Results(std::mem::take(&mut self.results)));
        true
    }

    fn finished(&self) -> bool {
        self.stopping
    }

    fn expecting(&self) -> bool {
        !self.calls.is_empty() || self.data.expecting()
    }

    fn may_spin(&self) -> bool {
        // A job that is talking to the coordinator (waiting for a reply, or making
        // calls back to back) wants a hot engine; a job computing wants the core.
        self.tasks_in_python == 0
            || !self.calls.is_empty()
            || self.last_call.elapsed() < Duration::from_micros(crate::config::POLL_SPIN_US)
    }
}
