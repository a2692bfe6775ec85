//! The only module that calls MPI. It starts MPI (under a launcher, or as a
//! singleton that spawns its workers), builds "the Vesper communicator" (the
//! launcher's world, or the merge of the spawner with its children), and moves
//! bytes: postcard control messages on one tag, raw block payloads on another.
//!
//! Every send is non-blocking and keeps its buffer alive until MPI reports it
//! complete, so two engines sending large payloads to each other never deadlock.
//! Receives go through a matched probe, so the engine never blocks in MPI and an
//! idle rank can sleep between polls.

use crate::config;
use crate::protocol::{self, tag, Message, ProtocolError, Rank};
use mpi::point_to_point::Message as MpiMessage;
use mpi::topology::{Communicator, MergeOrder, SimpleCommunicator};
use mpi::traits::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes that can back a non-blocking send: owned, shared, or memory-mapped.
pub type Payload = Arc<dyn AsRef<[u8]> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("MPI initialisation failed (is this an MPI launch of a matching MPI library?)")]
    Init,
    #[error("could not spawn {count} workers with MPI_Comm_spawn: {reason}")]
    Spawn { count: u32, reason: String },
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("rank {rank} sent {bytes} payload bytes with no header announcing them")]
    UnexpectedData { rank: Rank, bytes: usize },
}

/// Something that arrived from another rank.
pub enum Incoming {
    Control(Rank, Message),
    /// A complete payload announced by the last header from that rank.
    Data(Rank, Vec<u8>),
}

/// Reusable receive buffers, so large payloads do not page-fault fresh memory.
#[derive(Clone, Default)]
pub struct BufferPool {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl BufferPool {
    const KEPT_MAX: usize = 16;

    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut free = self.free.lock().expect("buffer pool poisoned");
        let found = free.iter().position(|buffer| buffer.capacity() >= len);
        let mut buffer = match found {
            Some(index) => free.swap_remove(index),
            None => Vec::with_capacity(len),
        };
        drop(free);
        // SAFETY: u8 has no invalid bit patterns and the buffer is fully written by
        // the receive (or by the caller) before it is read.
        unsafe { buffer.set_len(len) };
        buffer
    }

    pub fn give(&self, buffer: Vec<u8>) {
        let mut free = self.free.lock().expect("buffer pool poisoned");
        if free.len() < Self::KEPT_MAX && buffer.capacity() >= 1 << 20 {
            free.push(buffer);
        }
    }
}

struct PendingSend {
    request: mpi::ffi::MPI_Request,
    _payload: Payload,
}

struct PartialPayload {
    buffer: Vec<u8>,
    filled: usize,
}

pub struct Transport {
    // Field order matters: the communicators are freed before MPI is finalised.
    /// The Vesper communicator: every rank of the run. Sends use it.
    comm: SimpleCommunicator,
    /// Earlier Vesper communicators, from before workers were added: messages sent
    /// on them before the switch are still received.
    retired: Vec<SimpleCommunicator>,
    /// Held only to finalise MPI when the transport is dropped.
    _universe: mpi::environment::Universe,
    threading: mpi::Threading,
    rank: Rank,
    size: Arc<AtomicU32>,
    local_rank: u32,
    local_size: u32,
    pending: Vec<PendingSend>,
    expected: HashMap<Rank, usize>,
    partial: HashMap<Rank, PartialPayload>,
    pool: BufferPool,
}

/// Whether an MPI launcher started this process (as opposed to a bare `vesper`).
pub fn launched_by_launcher() -> bool {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMIX_RANK",
        "PMI_RANK",
        "MPI_LOCALNRANKS",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some())
}

/// Whether Open MPI's mpirun (rather than srun) started this process.
pub fn launched_by_mpirun() -> bool {
    std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some()
        && std::env::var_os("SLURM_STEP_ID").is_none()
        || std::env::var_os("OMPI_MCA_orte_hnp_uri").is_some()
}

/// The rank this process will have, read from the launcher's environment before
/// MPI starts (used only to decide which rank prints start-up errors).
pub fn launcher_rank() -> Option<u32> {
    [
        "OMPI_COMM_WORLD_RANK",
        "PMIX_RANK",
        "PMI_RANK",
        "SLURM_PROCID",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok()?.parse().ok())
}

impl Transport {
    /// Starts MPI. A singleton with `spawn_workers > 0` spawns that many copies of
    /// this binary (with the same arguments) and merges with them.
    pub fn start(spawn_workers: u32) -> Result<Transport, TransportError> {
        // Open MPI's helper daemon (started for a singleton that spawns) forwards
        // standard input to the first child, stealing the prompt's input: let it
        // inherit /dev/null instead, and give the real input back afterwards.
        let stdin = StdinGuard::hide(spawn_workers > 0 && !launched_by_launcher());
        let (universe, threading) =
            mpi::initialize_with_threading(mpi::Threading::Multiple).ok_or(TransportError::Init)?;
        let world = universe.world();
        let comm = if let Some(parent) = world.parent() {
            // Spawned by a singleton rank 0, or by `add_workers`.
            parent.merge(MergeOrder::High)
        } else if world.size() == 1 && spawn_workers > 0 {
            spawn(&world, spawn_workers)?
        } else {
            world.duplicate()
        };
        drop(stdin);
        let node = comm.split_shared(0);
        let transport = Transport {
            rank: comm.rank() as Rank,
            size: Arc::new(AtomicU32::new(comm.size() as u32)),
            local_rank: node.rank() as u32,
            local_size: node.size() as u32,
            comm,
            retired: Vec::new(),
            _universe: universe,
            threading,
            pending: Vec::new(),
            expected: HashMap::new(),
            partial: HashMap::new(),
            pool: BufferPool::default(),
        };
        Ok(transport)
    }

    pub fn rank(&self) -> Rank {
        self.rank
    }
    pub fn size(&self) -> u32 {
        self.size.load(Ordering::SeqCst)
    }

    /// The run's size as it grows (shared with the Python face).
    pub fn size_handle(&self) -> Arc<AtomicU32> {
        self.size.clone()
    }

    /// Adds `count` workers: every rank calls this together (MPI_Comm_spawn is
    /// collective over the Vesper communicator), then all switch to the merged
    /// communicator; the new ranks are numbered after the existing ones.
    pub fn grow(&mut self, count: u32) -> Result<(), TransportError> {
        let stdin = StdinGuard::hide(self.rank == 0 && !launched_by_launcher());
        let merged = spawn(&self.comm, count);
        drop(stdin);
        let merged = merged?;
        // The new ranks split the merged communicator by node as they start (see
        // `start`); that is collective, so the existing ranks take part too.
        let node = merged.split_shared(0);
        self.local_size = node.size() as u32;
        self.size.store(merged.size() as u32, Ordering::SeqCst);
        let old = std::mem::replace(&mut self.comm, merged);
        self.retired.push(old);
        Ok(())
    }
    pub fn local_rank(&self) -> u32 {
        self.local_rank
    }
    pub fn local_size(&self) -> u32 {
        self.local_size
    }
    pub fn pool(&self) -> BufferPool {
        self.pool.clone()
    }
    pub fn threading_name(&self) -> &'static str {
        match self.threading {
            mpi::Threading::Single => "single",
            mpi::Threading::Funneled => "funneled",
            mpi::Threading::Serialized => "serialized",
            mpi::Threading::Multiple => "multiple",
        }
    }
    /// Sends a control message without blocking.
    pub fn send(&mut self, to: Rank, message: &Message) {
        assert_ne!(to, self.rank, "a rank never sends to itself");
        let bytes: Payload = Arc::new(protocol::encode(message));
        self.post(to, tag::CONTROL, bytes, 0, usize::MAX);
    }

    /// Sends a payload (announced by a header the caller sent just before) in
    /// chunks under MPI's count limit, without copying it.
    pub fn send_data(&mut self, to: Rank, payload: Payload) {
        let len = (*payload).as_ref().len();
        let mut offset = 0;
        loop {
            let end = (offset + config::DATA_CHUNK_BYTES).min(len);
            self.post(to, tag::DATA, payload.clone(), offset, end);
            offset = end;
            if offset >= len {
                break;
            }
        }
    }

    fn post(&mut self, to: Rank, tag: i32, payload: Payload, start: usize, end: usize) {
        let bytes = (*payload).as_ref();
        let end = end.min(bytes.len());
        let slice = &bytes[start..end];
        let mut request: mpi::ffi::MPI_Request = unsafe { std::mem::zeroed() };
        // SAFETY: the slice stays alive in `pending` until MPI_Test reports the send
        // complete; count fits in i32 because chunks are at most DATA_CHUNK_BYTES.
        unsafe {
            mpi::ffi::MPI_Isend(
                slice.as_ptr() as *const std::ffi::c_void,
                slice.len() as i32,
                mpi::ffi::RSMPI_UINT8_T,
                to as i32,
                tag,
                self.comm.as_raw(),
                &mut request,
            );
        }
        self.pending.push(PendingSend {
            request,
            _payload: payload,
        });
    }

    /// Completes finished sends and frees their buffers. Returns how many remain.
    pub fn progress_sends(&mut self) -> usize {
        self.pending.retain_mut(|send| {
            let mut flag = 0;
            // SAFETY: the request is live until the test reports it complete.
            unsafe {
                mpi::ffi::MPI_Test(&mut send.request, &mut flag, mpi::ffi::RSMPI_STATUS_IGNORE);
            }
            flag == 0
        });
        self.pending.len()
    }

    /// Announces that `len` payload bytes will follow from `from`.
    pub fn expect_data(&mut self, from: Rank, len: usize) {
        if len == 0 {
            return;
        }
        self.expected.insert(from, len);
    }

    /// Receives one message if any has arrived. Payload chunks are assembled and
    /// returned as one `Incoming::Data` when complete.
    pub fn poll(&mut self) -> Result<Option<Incoming>, TransportError> {
        let probed = std::iter::once(&self.comm)
            .chain(self.retired.iter())
            .find_map(|comm| comm.any_process().immediate_matched_probe());
        let Some((message, status)) = probed else {
            return Ok(None);
        };
        let from = status.source_rank() as Rank;
        let count = status.count(u8::equivalent_datatype()) as usize;
        if status.tag() == tag::DATA {
            return self.receive_data(message, from, count);
        }
        let mut bytes = vec![0u8; count];
        message.matched_receive_into(&mut bytes[..]);
        Ok(Some(Incoming::Control(
            from,
            protocol::decode(&bytes, from)?,
        )))
    }

    fn receive_data(
        &mut self,
        message: MpiMessage,
        from: Rank,
        count: usize,
    ) -> Result<Option<Incoming>, TransportError> {
        if !self.partial.contains_key(&from) {
            let Some(total) = self.expected.remove(&from) else {
                let mut sink = vec![0u8; count];
                message.matched_receive_into(&mut sink[..]);
                return Err(TransportError::UnexpectedData {
                    rank: from,
                    bytes: count,
                });
            };
            let buffer = self.pool.take(total);
            self.partial
                .insert(from, PartialPayload { buffer, filled: 0 });
        }
        let partial = self.partial.get_mut(&from).expect("inserted above");
        let end = partial.filled + count;
        if end > partial.buffer.len() {
            let mut sink = vec![0u8; count];
            message.matched_receive_into(&mut sink[..]);
            self.partial.remove(&from);
            return Err(TransportError::UnexpectedData {
                rank: from,
                bytes: count,
            });
        }
        message.matched_receive_into(&mut partial.buffer[partial.filled..end]);
        partial.filled = end;
        if partial.filled == partial.buffer.len() {
            let done = self.partial.remove(&from).expect("present");
            return Ok(Some(Incoming::Data(from, done.buffer)));
        }
        Ok(None)
    }

    /// Stops every rank of the run at once; used only when an orderly shutdown failed.
    pub fn abort(&self, code: i32) -> ! {
        self.comm.abort(code)
    }
}

/// Standard input swapped for /dev/null while MPI starts its helpers.
struct StdinGuard {
    saved: Option<i32>,
}

impl StdinGuard {
    fn hide(active: bool) -> StdinGuard {
        if !active {
            return StdinGuard { saved: None };
        }
        // SAFETY: plain descriptor calls; the saved descriptor is restored on drop.
        unsafe {
            let saved = libc::dup(0);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            if saved < 0 || null < 0 {
                return StdinGuard { saved: None };
            }
            libc::dup2(null, 0);
            libc::close(null);
            StdinGuard { saved: Some(saved) }
        }
    }
}

impl Drop for StdinGuard {
    fn drop(&mut self) {
        if let Some(saved) = self.saved {
            // SAFETY: restores the descriptor saved by `hide`.
            unsafe {
                libc::dup2(saved, 0);
                libc::close(saved);
            }
        }
    }
}

fn spawn(world: &SimpleCommunicator, count: u32) -> Result<SimpleCommunicator, TransportError> {
    let exe = std::env::current_exe().map_err(|error| TransportError::Spawn {
        count,
        reason: error.to_string(),
    })?;
    let mut command = std::process::Command::new(exe);
    command.args(std::env::args_os().skip(1));
    // A launcher that cannot spawn must give an error, not abort the run.
    // SAFETY: sets the error handler of a live communicator to a predefined one.
    unsafe {
        mpi::ffi::MPI_Comm_set_errhandler(world.as_raw(), mpi::ffi::RSMPI_ERRORS_RETURN);
    }
    let children = world
        .process_at_rank(0)
        .spawn(&command, count as i32)
        .map_err(|error| TransportError::Spawn {
            count,
            reason: format!("{error:?}"),
        })?;
    Ok(children.merge(MergeOrder::Low))
}

/// MPI library name and version, e.g. "Open MPI v4.1.4".
pub fn library_version() -> String {
    let text = mpi::environment::library_version().unwrap_or_default();
    text.split(',').next().unwrap_or("").trim().to_string()
}

pub fn standard_version() -> String {
    let (major, minor) = mpi::environment::version();
    format!("{major}.{minor}")
}

/// Tag reserved for the raw ping-pong baseline.
const TAG_RAW: i32 = 3;

impl Transport {
    /// A raw MPI ping-pong of 8-byte messages with `peer` (both sides call it; the
    /// initiator times it). The baseline the engine's own round trip is compared with.
    pub fn raw_ping_pong(&mut self, peer: Rank, count: u32, initiator: bool) -> Vec<f64> {
        let process = self.comm.process_at_rank(peer as i32);
        let mut times = Vec::with_capacity(count as usize);
        let mut value = 0u64;
        for _ in 0..count {
            if initiator {
                let start = std::time::Instant::now();
                process.send_with_tag(&value, TAG_RAW);
                let (echo, _) = process.receive_with_tag::<u64>(TAG_RAW);
                times.push(start.elapsed().as_secs_f64() * 1e6);
                value = echo + 1;
            } else {
                let (got, _) = process.receive_with_tag::<u64>(TAG_RAW);
                process.send_with_tag(&got, TAG_RAW);
            }
        }
        times
    }
}
