//! The engine thread every rank runs: the only thread that touches the transport.
//! It drains local requests (from the rank's Python thread) and MPI messages, feeds
//! the rank's node (`coordinator` on rank 0, `worker` elsewhere), and when idle
//! spins briefly, then sleeps with a doubling back-off so an idle rank costs near
//! zero CPU. Local senders unpark it, so a request never waits out a sleep.
//!
//! Also here: the data-node service every rank runs inside its engine (serving
//! and fetching block replicas), so a long Python job never blocks block reads.

use crate::config;
use crate::dfs::store::BlockStore;
use crate::protocol::{
    BlockId, BlockMeta, ErrorKind, Message, Rank, Reply, Request, RequestId, TaskResult,
};
use crate::transport::{BufferPool, Incoming, Payload, Transport};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reply to a block read: the bytes, or the error kind and message.
pub type BlockReply = Result<Vec<u8>, (ErrorKind, String)>;

/// What the rank's Python thread asks of its engine.
pub enum Local {
    /// A request for the coordinator (handled in place on rank 0, forwarded elsewhere).
    Call(Request, Sender<Reply>),
    /// Fetch a block from another rank.
    ReadBlock(String, BlockMeta, Sender<BlockReply>),
    /// A finished task (workers).
    Result(TaskResult),
    /// Measure a raw MPI ping-pong with a peer (rank 0).
    RawPingPong(Rank, u32, Sender<Vec<f64>>),
}

/// The Python thread's handle on its engine.
#[derive(Clone)]
pub struct EngineHandle {
    sender: Sender<Local>,
    thread: std::thread::Thread,
}

impl EngineHandle {
    pub fn new(sender: Sender<Local>, thread: std::thread::Thread) -> EngineHandle {
        EngineHandle { sender, thread }
    }

    pub fn send(&self, local: Local) {
        // The engine outlives every Python call; a send can only fail during exit.
        let _ = self.sender.send(local);
        self.thread.unpark();
    }

    /// Wakes the engine (after changing shared state it must act on).
    pub fn wake(&self) {
        self.thread.unpark();
    }

    pub fn call(&self, request: Request) -> Receiver<Reply> {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        self.send(Local::Call(request, sender));
        receiver
    }
}

/// A rank's role inside the engine loop.
pub trait Node {
    fn on_local(&mut self, transport: &mut Transport, local: Local);
    fn on_message(&mut self, transport: &mut Transport, from: Rank, message: Message);
    fn on_data(&mut self, transport: &mut Transport, from: Rank, bytes: Vec<u8>);
    /// Called every loop turn; returns true when it did something.
    fn tick(&mut self, transport: &mut Transport, now: Instant) -> bool;
    /// True once the engine may stop.
    fn finished(&self) -> bool;
    /// True while a message from another rank is awaited (a reply, a block, a job's
    /// result): the engine then sleeps at most `POLL_SLEEP_US_EXPECTING`, because an
    /// arriving MPI message cannot wake it early.
    fn expecting(&self) -> bool;
    /// False while this rank's Python thread is busy with work of its own (a job):
    /// the engine then sleeps instead of spinning, because the two threads may
    /// share one core and the spin would steal it.
    fn may_spin(&self) -> bool {
        true
    }
}

/// Runs the engine loop until the node is finished.
pub fn run(transport: &mut Transport, node: &mut dyn Node, locals: &Receiver<Local>) {
    set_timer_slack();
    let mut last_event = Instant::now();
    let mut sleep_us = config::POLL_SLEEP_US_MIN;
    loop {
        let mut busy = false;
        while let Ok(local) = locals.try_recv() {
            node.on_local(transport, local);
            busy = true;
        }
        for _ in 0..64 {
            match transport.poll() {
                Ok(Some(Incoming::Control(from, message))) => {
                    node.on_message(transport, from, message)
                }
                Ok(Some(Incoming::Data(from, bytes))) => node.on_data(transport, from, bytes),
                Ok(None) => break,
                Err(error) => tracing::error!("{error:#}"),
            }
            busy = true;
        }
        let now = Instant::now();
        busy |= node.tick(transport, now);
        let sending = transport.progress_sends() > 0;
        if node.finished() && !sending {
            return;
        }
        if busy {
            last_event = now;
            sleep_us = config::POLL_SLEEP_US_MIN;
            continue;
        }
        let spinning = now.duration_since(last_event) < Duration::from_micros(config::POLL_SPIN_US)
            && node.may_spin();
        if spinning || sending {
            // Yield rather than spin: the rank's Python thread may share this core.
            std::thread::yield_now();
            continue;
        }
        let cap = if node.expecting() {
            config::POLL_SLEEP_US_EXPECTING
        } else {
            config::POLL_SLEEP_US_MAX
        };
        std::thread::park_timeout(Duration::from_micros(sleep_us.min(cap)));
        sleep_us = (sleep_us * 2).min(cap);
    }
}

/// Short sleeps must be short: the default 50 us timer slack would dominate them.
fn set_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0);
    }
}

/// Blocks the signals the Python thread handles, so they are never delivered to
/// the engine thread (which would leave the Python thread's sleep uninterrupted).
pub fn block_python_signals() {
    // SAFETY: plain libc signal-mask calls on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGALRM,
            libc::SIGCHLD,
        ] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

enum Expected {
    Read { id: RequestId },
    Put { block: BlockId, crc32c: u32 },
}

struct PendingRead {
    path: String,
    meta: BlockMeta,
    tried: Vec<Rank>,
    reply: Sender<BlockReply>,
}

/// The data-node service: serves local replicas, fetches remote ones.
pub struct DataNode {
    pub store: Arc<BlockStore>,
    rank: Rank,
    next_id: RequestId,
    reads: HashMap<RequestId, PendingRead>,
    expected: HashMap<Rank, Expected>,
    pool: BufferPool,
    pub bytes_served: u64,
    /// Replicas stored here on rank 0, to report to the coordinator.
    replicated: Vec<(BlockId, Option<String>)>,
}

impl DataNode {
    pub fn new(store: Arc<BlockStore>, rank: Rank, pool: BufferPool) -> DataNode {
        DataNode {
            store,
            rank,
            next_id: 1,
            reads: HashMap::new(),
            expected: HashMap::new(),
            pool,
            bytes_served: 0,
            replicated: Vec::new(),
        }
    }

    /// Whether a block read or a replica transfer is under way.
    pub fn expecting(&self) -> bool {
        !self.reads.is_empty() || !self.expected.is_empty()
    }

    /// Starts fetching a block from a replica on another rank.
    pub fn read(
        &mut self,
        transport: &mut Transport,
        path: String,
        meta: BlockMeta,
        reply: Sender<BlockReply>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.reads.insert(
            id,
            PendingRead {
                path,
                meta,
                tried: Vec::new(),
                reply,
            },
        );
        self.try_next_replica(transport, id);
    }

    fn try_next_replica(&mut self, transport: &mut Transport, id: RequestId) {
        let Some(read) = self.reads.get_mut(&id) else {
            return;
        };
        let next = read
            .meta
            .replicas
            .iter()
            .copied()
            .find(|rank| *rank != self.rank && !read.tried.contains(rank));
        match next {
            Some(rank) => {
                read.tried.push(rank);
                transport.send(
                    rank,
                    &Message::GetBlock {
                        id,
                        block: read.meta.id,
                    },
                );
            }
            None => {
                let read = self.reads.remove(&id).expect("present");
                let message = format!(
                    "block {} of {} has no good replica left (tried ranks {:?}); the data is lost unless a replica is restored",
                    block_index(&read), read.path, read.tried
                );
                let _ = read.reply.send(Err((ErrorKind::Os, message)));
            }
        }
    }

    /// Handles a data-node message; returns it back if it is not one.
    pub fn on_message(
        &mut self,
        transport: &mut Transport,
        from: Rank,
        message: Message,
    ) -> Option<Message> {
        match message {
            Message::GetBlock { id, block } => self.serve(transport, from, id, block),
            Message::BlockHeader { id, len } => {
                if len == 0 {
                    self.finish_read(transport, from, id, Vec::new());
                } else {
                    transport.expect_data(from, len as usize);
                    self.expected.insert(from, Expected::Read { id });
                }
            }
            Message::BlockError { id, error } => {
                tracing::warn!("{error}; trying another replica");
                self.try_next_replica(transport, id);
            }
            Message::PutBlock { block, len, crc32c } => {
                if len == 0 {
                    self.store_replica(transport, block, crc32c, &[]);
                } else {
                    transport.expect_data(from, len as usize);
                    self.expected.insert(from, Expected::Put { block, crc32c });
                }
            }
            Message::Replicate {
                block,
                crc32c,
                len,
                to,
            } => self.copy_replica(transport, block, crc32c, len, to),
            Message::DeleteBlocks(blocks) => {
                for block in blocks {
                    self.store.remove(block);
                }
            }
            other => return Some(other),
        }
        None
    }

    /// Sends a further replica of a block held here to rank `to`.
    pub fn copy_replica(
        &mut self,
        transport: &mut Transport,
        block: BlockId,
        crc32c: u32,
        len: u64,
        to: Rank,
    ) {
        match self.store.read(block, crc32c) {
            Ok(bytes) => {
                transport.send(to, &Message::PutBlock { block, len, crc32c });
                if len > 0 {
                    transport.send_data(to, Arc::new(bytes));
                }
            }
            Err(error) => tracing::error!("cannot replicate: {error}"),
        }
    }

    fn serve(&mut self, transport: &mut Transport, to: Rank, id: RequestId, block: BlockId) {
        // The reader checks what arrives against the name node's checksum, so the
        // holder sends the mapped file as it is, without a second CRC pass.
        match self.store.read_unchecked(block) {
            Ok(bytes) => {
                let len = bytes.as_ref().len() as u64;
                self.bytes_served += len;
                transport.send(to, &Message::BlockHeader { id, len });
                if len > 0 {
                    let payload: Payload = Arc::new(bytes);
                    transport.send_data(to, payload);
                }
            }
            Err(error) => transport.send(
                to,
                &Message::BlockError {
                    id,
                    error: error.to_string(),
                },
            ),
        }
    }

    /// Handles a payload; returns it back if no data-node transfer expected it.
    pub fn on_data(
        &mut self,
        transport: &mut Transport,
        from: Rank,
        bytes: Vec<u8>,
    ) -> Option<Vec<u8>> {
        match self.expected.remove(&from) {
            Some(Expected::Read { id }) => {
                self.finish_read(transport, from, id, bytes);
                None
            }
            Some(Expected::Put { block, crc32c }) => {
                self.store_replica(transport, block, crc32c, &bytes);
                self.pool.give(bytes);
                None
            }
            None => Some(bytes),
        }
    }

    fn finish_read(
        &mut self,
        transport: &mut Transport,
        from: Rank,
        id: RequestId,
        bytes: Vec<u8>,
    ) {
        let Some(read) = self.reads.get(&id) else {
            return;
        };
        let found = crate::dfs::store::crc32c(&bytes);
        if found != read.meta.crc32c {
            tracing::warn!(
                "block {} of {} failed its checksum on rank {from}; reading another replica",
                block_index(read),
                read.path
            );
            self.pool.give(bytes);
            self.try_next_replica(transport, id);
            return;
        }
        let read = self.reads.remove(&id).expect("present");
        let _ = read.reply.send(Ok(bytes));
    }

    fn store_replica(
        &mut self,
        transport: &mut Transport,
        block: BlockId,
        crc32c: u32,
        bytes: &[u8],
    ) {
        let error = if crate::dfs::store::crc32c(bytes) != crc32c {
            Some(format!(
                "replica of block {block:016x} arrived corrupt on rank {}",
                self.rank
            ))
        } else {
            self.store.write(block, bytes).err().map(|e| e.to_string())
        };
        if self.rank == 0 {
            self.replicated.push((block, error));
        } else {
            transport.send(0, &Message::Replicated { block, error });
        }
    }

    /// Replicas stored on rank 0 itself since the last call (the coordinator's own
    /// `Replicated` reports, which it cannot send to itself).
    pub fn take_replicated(&mut self) -> Vec<(BlockId, Option<String>)> {
        std::mem::take(&mut self.replicated)
    }
}

fn block_index(read: &PendingRead) -> String {
    format!("{:016x}", read.meta.id)
}
