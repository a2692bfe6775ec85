//! Every message that crosses ranks, and every request the Python face makes of
//! the coordinator. One module owns them so the wire format has one definition:
//! serde + postcard, a protocol version checked in the worker's `Hello`.
//!
//! Control messages travel on [`tag::CONTROL`]; block payloads follow their header
//! as raw bytes on [`tag::DATA`] (see `transport`). Decoding never panics: a
//! malformed message is an error carrying the sender's rank.

use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes shape; a worker of another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

pub type Rank = u32;
pub type JobId = u64;
pub type BlockId = u64;
pub type RequestId = u64;
pub type FunctionId = u64;

pub mod tag {
    /// postcard-encoded [`super::Message`]s.
    pub const CONTROL: i32 = 1;
    /// Raw block bytes following a header on CONTROL from the same sender.
    pub const DATA: i32 = 2;
}

/// What a worker reports about itself when it registers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WorkerInfo {
    pub rank: Rank,
    pub host: String,
    pub cores: u32,
    pub memory_bytes: u64,
    pub gpus: u32,
    pub pid: u32,
    pub cpuset: String,
    /// Running or holding queued tasks (filled in by the coordinator when asked).
    pub busy: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    pub cores: u32,
    pub memory_bytes: u64,
    pub gpus: u32,
}

/// A job as submitted: everything the scheduler needs, plus opaque pickled bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobSpec {
    pub name: String,
    pub function: FunctionId,
    /// cloudpickle of the function, sent only the first time a process submits it.
    #[serde(with = "serde_bytes")]
    pub function_bytes: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub arguments: Vec<u8>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub resources: Resources,
    pub retries: u32,
    pub timeout_ms: Option<u64>,
}

/// A unit of work sent to a worker's Python thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Task {
    Job {
        job: JobId,
        attempt: u32,
        name: String,
        function: FunctionId,
        /// Empty when this worker already has the function cached.
        #[serde(with = "serde_bytes")]
        function_bytes: Vec<u8>,
        #[serde(with = "serde_bytes")]
        arguments: Vec<u8>,
        /// The inputs' metadata as of dispatch (they are committed, hence final):
        /// the job opens them without asking the name node again.
        input_files: Vec<FileMeta>,
        outputs: Vec<String>,
        timeout_ms: Option<u64>,
    },
    Chunk {
        mapreduce: u64,
        chunk: u32,
        function: FunctionId,
        #[serde(with = "serde_bytes")]
        function_bytes: Vec<u8>,
        /// Pickled `(kind, payload, reducer, by_key)` understood by the Python face.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BlockMeta {
    pub id: BlockId,
    pub len: u64,
    pub crc32c: u32,
    pub replicas: Vec<Rank>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileMeta {
    pub path: String,
    pub size: u64,
    pub blocks: Vec<BlockMeta>,
    pub mtime_ms: u64,
    /// The whole content of a small file (then `blocks` is empty): kept by the name
    /// node and its journal, so a small file costs no block file and no block read.
    #[serde(with = "serde_bytes")]
    pub inline: Vec<u8>,
}

/// A file written by a job, committed by the name node when the job succeeds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StagedFile {
    pub path: String,
    pub blocks: Vec<BlockMeta>,
    /// A small file's content (see `FileMeta::inline`).
    #[serde(with = "serde_bytes")]
    pub inline: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum TaskOutcome {
    Success {
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    Failure {
        error_type: String,
        message: String,
        traceback: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskResult {
    pub job: JobId,
    pub attempt: u32,
    pub chunk: Option<(u64, u32)>,
    pub outcome: TaskOutcome,
    pub files: Vec<StagedFile>,
    /// Wall-clock start on the worker, microseconds since the Unix epoch.
    pub started_us: u64,
    pub elapsed_us: u64,
}

/// A UserView operation. Values are opaque encoded bytes (see `userview`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum UvOp {
    Get(String),
    Set(String, Value),
    Delete(String),
    Contains(String),
    Len,
    Keys,
    Items,
    Pop(String),
    SetDefault(String, Value),
    Update(Vec<(String, Value)>),
    Clear,
    Incr(String, Value),
    CompareAndSet(String, Option<Value>, Value),
    Wait(String),
}

/// A UserView value: numbers natively (so `incr` runs in the store), anything else
/// as pickled bytes that only the reader unpickles.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    Pickled(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// Kinds of errors the Python face turns into exception types (in `py::errors`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ErrorKind {
    Value,
    Type,
    Key,
    FileExists,
    FileNotFound,
    Permission,
    Timeout,
    Runtime,
    Os,
    Job,
    MissingInput,
    MissingOutput,
}

/// What Python asks of the coordinator (rank 0), from the script or from a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    Ping,
    Workers,
    WaitForWorkers(u32),
    Submit(JobSpec),
    JobStatus(JobId),
    WaitJob(JobId),
    WaitAll,
    Uv(String, UvOp),
    DfsLookup(String),
    DfsList(String),
    DfsRemove(String, bool),
    DfsWait(String),
    DfsCommit(StagedFile),
    DfsCheckNew(String),
    MapReduce(MapReduceSpec),
    AddWorkers(u32),
    /// Round trip to a worker's engine and back (latency measurements).
    PingRank(Rank),
    /// Stop dispatching; answer when nothing runs or after the grace period (ms).
    Drain(u64),
    /// Job counts per state and the number of workers, for the summary line.
    Summary,
    /// Release every rank: the script is over.
    Shutdown,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapReduceSpec {
    pub function: FunctionId,
    #[serde(with = "serde_bytes")]
    pub function_bytes: Vec<u8>,
    /// One pickled payload per chunk.
    pub chunks: Vec<serde_bytes::ByteBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum JobState {
    Waiting,
    Ready,
    Running,
    Done,
    Failed,
    Cancelled,
    Skipped,
}

impl JobState {
    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Skipped => "skipped",
        }
    }
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled | JobState::Skipped
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: JobId,
    pub name: String,
    pub state: JobState,
    pub attempts: u32,
    pub worker: Option<Rank>,
    pub error_type: String,
    pub error: String,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Reply {
    Ok,
    Pong,
    Workers(Vec<WorkerInfo>),
    Count(u64),
    Submitted(JobId, JobState),
    Job(JobStatus),
    JobsFinished(Vec<JobStatus>),
    Value(Option<Value>),
    Bool(bool),
    Keys(Vec<String>),
    Items(Vec<(String, Value)>),
    File(FileMeta),
    Files(Vec<FileMeta>),
    /// Partial results of a map-reduce, one pickled value per chunk, in chunk order.
    Chunks(Vec<serde_bytes::ByteBuf>),
    /// Jobs per state (waiting, ready, running, done, failed, cancelled, skipped), workers.
    Summary(Vec<u64>, u32),
    Error(ErrorKind, String),
}

/// Everything that crosses ranks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Message {
    Hello {
        protocol_version: u32,
        info: WorkerInfo,
        /// Blocks found under a persistent root, reported at start.
        held_blocks: Vec<BlockId>,
    },
    Shutdown,
    Request {
        id: RequestId,
        body: Request,
    },
    Reply {
        id: RequestId,
        body: Reply,
    },
    Tasks(Vec<Task>),
    Results(Vec<TaskResult>),
    /// Ask `holder` for a block; it answers with `BlockHeader` (+ DATA) or `BlockError`.
    GetBlock {
        id: RequestId,
        block: BlockId,
    },
    /// Store a replica; DATA follows. The storing rank reports `Replicated` to rank 0.
    PutBlock {
        block: BlockId,
        len: u64,
        crc32c: u32,
    },
    /// A further replica of `block` is stored on the sender (or failed to be).
    Replicated {
        block: BlockId,
        error: Option<String>,
    },
    /// Header of a block payload; `len` bytes follow on DATA in chunks. The reader
    /// checks them against the name node's checksum.
    BlockHeader {
        id: RequestId,
        len: u64,
    },
    BlockError {
        id: RequestId,
        error: String,
    },
    DeleteBlocks(Vec<BlockId>),
    /// Copy a block held here to rank `to` (a further replica).
    Replicate {
        block: BlockId,
        crc32c: u32,
        len: u64,
        to: Rank,
    },
    Ping(u64),
    Pong(u64),
    /// A worker's last word before it finalises MPI, with its DFS read counters.
    Bye {
        local_read_bytes: u64,
        served_bytes: u64,
    },
    /// Every rank joins a collective spawn of `count` more workers, then uses the
    /// merged communicator (see `Transport::grow`).
    Grow {
        count: u32,
    },
    /// Start a raw MPI ping-pong of `count` round trips (benchmark baseline).
    RawPingPong {
        count: u32,
    },
}

/// One durable change to the DFS namespace (the name node's journal).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum JournalRecord {
    Commit(FileMeta),
    Remove(String),
    AddReplica(String, BlockId, Rank),
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("malformed message from rank {rank}: {source}")]
    Malformed {
        rank: Rank,
        #[source]
        source: postcard::Error,
    },
}

pub fn encode(message: &Message) -> Vec<u8> {
    postcard::to_stdvec(message).expect("protocol messages always serialise")
}

pub fn decode(bytes: &[u8], rank: Rank) -> Result<Message, ProtocolError> {
    postcard::from_bytes(bytes).map_err(|source| ProtocolError::Malformed { rank, source })
}

pub fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("protocol values always serialise")
}

pub fn decode_value<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let message = Message::Request {
            id: 7,
            body: Request::Uv("v".into(), UvOp::Set("k".into(), Value::Int(-3))),
        };
        let decoded = decode(&encode(&message), 1).unwrap();
        match decoded {
            Message::Request {
                id: 7,
                body: Request::Uv(name, UvOp::Set(key, Value::Int(-3))),
            } => {
                assert_eq!((name.as_str(), key.as_str()), ("v", "k"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_naming_the_rank() {
        let error = decode(&[0xff, 0xff, 0xff], 5).unwrap_err();
        assert!(error.to_string().contains("rank 5"));
    }
}
