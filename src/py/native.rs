//! `vesper._vesper`: the native functions behind the Python package. Each turns
//! Python arguments into a protocol request for the rank's engine, waits for the
//! reply with the GIL released, and turns the reply back into Python objects.

use super::errors::to_pyerr;
use super::runtime;
use crate::dfs::store::new_block_id;
use crate::engine::Local;
use crate::mapreduce::{self as native_reduce, Reduced, Reducer};
use crate::protocol::*;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static STARTED: OnceLock<Instant> = OnceLock::new();

pub fn elapsed_s() -> f64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// How long a call polls for its reply before it releases the GIL and blocks.
const REPLY_SPIN: Duration = Duration::from_micros(30);

/// How often a blocked call wakes to run Python signal handlers.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Waits for an engine reply, releasing the GIL, honouring signals and a timeout.
pub fn wait_reply<T: Send>(
    py: Python<'_>,
    receiver: &Receiver<T>,
    timeout: Option<f64>,
) -> PyResult<T> {
    // Most replies take a few microseconds: wait for them briefly without giving up
    // the GIL and sleeping, which would cost two thread wake-ups per call.
    let spin_until = Instant::now() + REPLY_SPIN;
    loop {
        if let Ok(reply) = receiver.try_recv() {
            return Ok(reply);
        }
        if Instant::now() >= spin_until {
            break;
        }
        std::thread::yield_now();
    }
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
    loop {
        let slice = match deadline {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(SIGNAL_CHECK),
            None => SIGNAL_CHECK,
        };
        match py.detach(|| receiver.recv_timeout(slice)) {
            Ok(reply) => return Ok(reply),
            Err(RecvTimeoutError::Timeout) => {
                py.check_signals()?;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(PyTimeoutError::new_err(format!(
                        "timed out after {} s",
                        timeout.unwrap_or(0.0)
                    )));
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "the vesper engine has stopped (the run is shutting down)",
                ))
            }
        }
    }
}

fn call(py: Python<'_>, request: Request, timeout: Option<f64>) -> PyResult<Reply> {
    let receiver = runtime().engine.call(request);
    match wait_reply(py, &receiver, timeout)? {
        Reply::Error(kind, message) => Err(to_pyerr(kind, message)),
        reply => Ok(reply),
    }
}

fn unexpected(reply: Reply) -> PyErr {
    PyRuntimeError::new_err(format!("unexpected reply from the scheduler: {reply:?}"))
}

#[pyfunction]
fn rank() -> u32 {
    runtime().rank
}

#[pyfunction]
fn size() -> u32 {
    runtime().size.load(std::sync::atomic::Ordering::SeqCst)
}

/// Starts `count` more workers; returns how many were started.
#[pyfunction]
fn add_workers(py: Python<'_>, count: u32) -> PyResult<u64> {
    match call(py, Request::AddWorkers(count), Some(120.0))? {
        Reply::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
fn block_size() -> u64 {
    runtime().config.block_size_bytes
}

#[pyfunction]
fn inline_bytes_max() -> usize {
    crate::config::INLINE_FILE_BYTES_MAX
}

#[pyfunction]
fn ping(py: Python<'_>) -> PyResult<()> {
    call(py, Request::Ping, None).map(|_| ())
}

#[pyfunction]
fn ping_rank(py: Python<'_>, rank: Rank) -> PyResult<()> {
    call(py, Request::PingRank(rank), Some(10.0)).map(|_| ())
}

/// A raw MPI ping-pong with `rank` run by the engines: the baseline for `ping_rank`.
#[pyfunction]
fn raw_ping_pong(py: Python<'_>, rank: Rank, count: u32) -> PyResult<Vec<f64>> {
    let (sender, receiver) = crossbeam_channel::bounded(1);
    runtime()
        .engine
        .send(Local::RawPingPong(rank, count, sender));
    wait_reply(py, &receiver, Some(60.0))
}

fn worker_dict<'py>(py: Python<'py>, info: &WorkerInfo) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("rank", info.rank)?;
    dict.set_item("host", &info.host)?;
    dict.set_item("cores", info.cores)?;
    dict.set_item("memory", info.memory_bytes)?;
    dict.set_item("gpus", info.gpus)?;
    dict.set_item("pid", info.pid)?;
    dict.set_item("cpuset", &info.cpuset)?;
    dict.set_item("busy", info.busy)?;
    Ok(dict)
}

#[pyfunction]
fn workers(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    match call(py, Request::Workers, None)? {
        Reply::Workers(list) => list.iter().map(|w| worker_dict(py, w)).collect(),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
#[pyo3(signature = (count, timeout=None))]
fn wait_for_workers(py: Python<'_>, count: u32, timeout: Option<f64>) -> PyResult<u64> {
    match call(py, Request::WaitForWorkers(count), timeout)? {
        Reply::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (name, function, function_bytes, arguments, inputs, outputs, cores, memory, gpus, retries, timeout))]
fn submit(
    py: Python<'_>,
    name: String,
    function: FunctionId,
    function_bytes: Vec<u8>,
    arguments: Vec<u8>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    cores: u32,
    memory: u64,
    gpus: u32,
    retries: u32,
    timeout: Option<f64>,
) -> PyResult<(JobId, &'static str)> {
    let spec = JobSpec {
        name,
        function,
        function_bytes,
        arguments,
        inputs,
        outputs,
        resources: Resources {
            cores,
            memory_bytes: memory,
            gpus,
        },
        retries,
        timeout_ms: timeout.map(|t| (t * 1000.0) as u64),
    };
    let runtime = runtime();
    let reply = match &runtime.coordinator {
        Some(coordinator) => {
            let reply = py.detach(|| coordinator.submit(spec));
            runtime.engine.wake();
            reply
        }
        None => call(py, Request::Submit(spec), None)?,
    };
    match reply {
        Reply::Error(kind, message) => Err(to_pyerr(kind, message)),
        Reply::Submitted(id, state) => Ok((id, state.as_str())),
        other => Err(unexpected(other)),
    }
}

fn status_dict<'py>(py: Python<'py>, status: &JobStatus) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("id", status.id)?;
    dict.set_item("name", &status.name)?;
    dict.set_item("state", status.state.as_str())?;
    dict.set_item("attempts", status.attempts)?;
    dict.set_item("worker", status.worker)?;
    dict.set_item("error_type", &status.error_type)?;
    dict.set_item("error", &status.error)?;
    dict.set_item("value", PyBytes::new(py, &status.value))?;
    Ok(dict)
}

#[pyfunction]
fn job_status(py: Python<'_>, id: JobId) -> PyResult<Bound<'_, PyDict>> {
    match call(py, Request::JobStatus(id), None)? {
        Reply::Job(status) => status_dict(py, &status),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
#[pyo3(signature = (id, timeout=None))]
fn wait_job(py: Python<'_>, id: JobId, timeout: Option<f64>) -> PyResult<Bound<'_, PyDict>> {
    match call(py, Request::WaitJob(id), timeout)? {
        Reply::Job(status) => status_dict(py, &status),
        other => Err(unexpected(other)),
    }
}

/// Waits for every job; returns the failed and cancelled ones.
#[pyfunction]
#[pyo3(signature = (timeout=None))]
fn wait_all(py: Python<'_>, timeout: Option<f64>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    match call(py, Request::WaitAll, timeout)? {
        Reply::JobsFinished(list) => list.iter().map(|s| status_dict(py, s)).collect(),
        other => Err(unexpected(other)),
    }
}

// ---------------------------------------------------------------- UserView

fn pickle_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("cloudpickle")
}

fn to_value(py: Python<'_>, key: &str, object: &Bound<'_, PyAny>) -> PyResult<Value> {
    if object.is_exact_instance_of::<pyo3::types::PyInt>() {
        if let Ok(value) = object.extract::<i64>() {
            return Ok(Value::Int(value));
        }
    } else if object.is_exact_instance_of::<pyo3::types::PyFloat>() {
        return Ok(Value::Float(object.extract()?));
    } else if object.is_exact_instance_of::<pyo3::types::PyString>() {
        return Ok(Value::Str(object.extract()?));
    }
    match pickle_module(py)?.call_method1("dumps", (object,)) {
        Ok(bytes) => Ok(Value::Pickled(bytes.extract()?)),
        Err(error) => Err(PyTypeError::new_err(format!(
            "the value for UserView key {key:?} cannot be pickled: {}",
            error.value(py)
        ))),
    }
}

fn from_value(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Int(v) => v.into_pyobject(py)?.into_any().unbind(),
        Value::Float(v) => v.into_pyobject(py)?.into_any().unbind(),
        Value::Str(v) => v.into_pyobject(py)?.into_any().unbind(),
        Value::Pickled(bytes) => pickle_module(py)?
            .call_method1("loads", (PyBytes::new(py, &bytes),))?
            .unbind(),
    })
}

fn key_of(key: &Bound<'_, PyAny>) -> PyResult<String> {
    key.extract::<String>().map_err(|_| {
        PyTypeError::new_err(format!(
            "UserView keys must be str, not {}",
            key.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// One UserView operation: `op` names it, `key`/`value`/`extra` carry its arguments.
#[pyfunction]
#[pyo3(signature = (view, op, key=None, value=None, extra=None, timeout=None))]
fn uv(
    py: Python<'_>,
    view: String,
    op: &str,
    key: Option<Bound<'_, PyAny>>,
    value: Option<Bound<'_, PyAny>>,
    extra: Option<Bound<'_, PyAny>>,
    timeout: Option<f64>,
) -> PyResult<Py<PyAny>> {
    let key = match &key {
        Some(key) => key_of(key)?,
        None => String::new(),
    };
    let value_of = |object: &Option<Bound<'_, PyAny>>| -> PyResult<Value> {
        to_value(
            py,
            &key,
            object
                .as_ref()
                .ok_or_else(|| PyValueError::new_err("missing value"))?,
        )
    };
    let operation = match op {
        "get" => UvOp::Get(key),
        "set" => UvOp::Set(key.clone(), value_of(&value)?),
        "delete" => UvOp::Delete(key),
        "contains" => UvOp::Contains(key),
        "len" => UvOp::Len,
        "keys" => UvOp::Keys,
        "items" => UvOp::Items,
        "pop" => UvOp::Pop(key),
        "setdefault" => UvOp::SetDefault(key.clone(), value_of(&value)?),
        "clear" => UvOp::Clear,
        "incr" => {
            let delta = value_of(&value)?;
            if !matches!(delta, Value::Int(_) | Value::Float(_)) {
                return Err(PyTypeError::new_err("incr needs an int or float delta"));
            }
            UvOp::Incr(key, delta)
        }
        "cas" => {
            let expected = match &value {
                Some(v) if !v.is_none() => Some(to_value(py, &key, v)?),
                _ => None,
            };
            UvOp::CompareAndSet(key.clone(), expected, value_of(&extra)?)
        }
        "wait" => UvOp::Wait(key),
        "update" => {
            let items = value.ok_or_else(|| PyValueError::new_err("missing items"))?;
            let mut pairs = Vec::new();
            for item in items.try_iter()? {
                let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
                let k = key_of(&k)?;
                let v = to_value(py, &k, &v)?;
                pairs.push((k, v));
            }
            UvOp::Update(pairs)
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown UserView operation {other}"
            )))
        }
    };
    let reply = call(py, Request::Uv(view, operation), timeout)?;
    Ok(match reply {
        Reply::Ok => py.None(),
        Reply::Value(None) => py.None(),
        Reply::Value(Some(value)) => {
            let object = from_value(py, value)?;
            PyTuple::new(py, [object])?.into_any().unbind()
        }
        Reply::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Reply::Count(n) => n.into_pyobject(py)?.into_any().unbind(),
        Reply::Keys(keys) => PyList::new(py, keys)?.into_any().unbind(),
        Reply::Items(items) => {
            let list = PyList::empty(py);
            for (k, v) in items {
                list.append((k, from_value(py, v)?))?;
            }
            list.into_any().unbind()
        }
        other => return Err(unexpected(other)),
    })
}

// ---------------------------------------------------------------- DFS

type BlockTuple = (BlockId, u64, u32, Vec<Rank>);

fn block_tuple(block: &BlockMeta) -> BlockTuple {
    (block.id, block.len, block.crc32c, block.replicas.clone())
}

fn file_dict<'py>(py: Python<'py>, meta: &FileMeta) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("path", &meta.path)?;
    dict.set_item("size", meta.size)?;
    dict.set_item("mtime", meta.mtime_ms as f64 / 1000.0)?;
    let blocks: Vec<BlockTuple> = meta.blocks.iter().map(block_tuple).collect();
    dict.set_item("blocks", blocks)?;
    dict.set_item("inline", PyBytes::new(py, &meta.inline))?;
    Ok(dict)
}

#[pyfunction]
fn normalize_path(path: &str) -> PyResult<String> {
    crate::dfs::normalize(path).map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pyfunction]
fn dfs_lookup<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyDict>> {
    match call(py, Request::DfsLookup(path.into()), None)? {
        Reply::File(meta) => file_dict(py, &meta),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
fn dfs_list<'py>(py: Python<'py>, prefix: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
    match call(py, Request::DfsList(prefix.into()), None)? {
        Reply::Files(files) => files.iter().map(|f| file_dict(py, f)).collect(),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
fn dfs_remove(py: Python<'_>, path: &str, recursive: bool) -> PyResult<u64> {
    match call(py, Request::DfsRemove(path.into(), recursive), None)? {
        Reply::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
#[pyo3(signature = (path, timeout=None))]
fn dfs_wait<'py>(
    py: Python<'py>,
    path: &str,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    match call(py, Request::DfsWait(path.into()), timeout)? {
        Reply::File(meta) => file_dict(py, &meta),
        other => Err(unexpected(other)),
    }
}

#[pyfunction]
fn dfs_check_new(py: Python<'_>, path: &str) -> PyResult<()> {
    call(py, Request::DfsCheckNew(path.into()), None).map(|_| ())
}

fn staged(path: String, blocks: Vec<BlockTuple>, inline: Vec<u8>) -> StagedFile {
    StagedFile {
        path,
        inline,
        blocks: blocks
            .into_iter()
            .map(|(id, len, crc32c, replicas)| BlockMeta {
                id,
                len,
                crc32c,
                replicas,
            })
            .collect(),
    }
}

#[pyfunction]
#[pyo3(signature = (path, blocks, inline=Vec::new()))]
fn dfs_commit(
    py: Python<'_>,
    path: String,
    blocks: Vec<BlockTuple>,
    inline: Vec<u8>,
) -> PyResult<()> {
    call(py, Request::DfsCommit(staged(path, blocks, inline)), None).map(|_| ())
}

/// Writes one block to this rank's store (the first replica is the writer's).
#[pyfunction]
/// Takes any contiguous buffer (bytes, bytearray, memoryview) without copying it first.
fn dfs_write_block(py: Python<'_>, data: PyBuffer<u8>) -> PyResult<BlockTuple> {
    if !data.is_c_contiguous() {
        return Err(PyValueError::new_err(
            "DFS blocks are written from contiguous buffers",
        ));
    }
    let runtime = runtime();
    let id = new_block_id();
    let (address, len) = (data.buf_ptr() as usize, data.len_bytes());
    let crc = py
        .detach(|| {
            // SAFETY: `data` keeps the exported buffer alive and unmoved for this call.
            let bytes = unsafe { std::slice::from_raw_parts(address as *const u8, len) };
            runtime.store.write(id, bytes)
        })
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    Ok((id, len as u64, crc, vec![runtime.rank]))
}

#[pyfunction]
fn dfs_discard(ids: Vec<BlockId>) {
    for id in ids {
        runtime().store.remove(id);
    }
}

/// Reads a block: from this rank's store when it holds a replica, otherwise (or if
/// the local replica is bad) from another rank through the engine.
#[pyfunction]
fn dfs_read_block<'py>(
    py: Python<'py>,
    path: String,
    block: BlockTuple,
) -> PyResult<Bound<'py, Block>> {
    let pending = start_read(&path, block)?;
    finish_read(py, pending)
}

/// Reads several blocks of one file, keeping up to `window` remote reads in flight
/// (read-ahead), and returns them in order.
#[pyfunction]
fn dfs_read_blocks<'py>(
    py: Python<'py>,
    path: String,
    blocks: Vec<BlockTuple>,
    window: usize,
) -> PyResult<Vec<Bound<'py, Block>>> {
    let mut pending = std::collections::VecDeque::new();
    let mut done = Vec::with_capacity(blocks.len());
    for block in blocks {
        pending.push_back(start_read(&path, block)?);
        if pending.len() >= window.max(1) {
            done.push(finish_read(py, pending.pop_front().expect("not empty"))?);
        }
    }
    for read in pending {
        done.push(finish_read(py, read)?);
    }
    Ok(done)
}

/// A block's bytes handed to Python without a copy: a memory map of a local
/// replica, or the pooled buffer a remote one arrived in (returned to the pool when
/// Python lets go). Python reads it through the buffer protocol (`memoryview`,
/// `bytes(...)`, `b"".join`), so a 16 MiB block is never copied into fresh pages.
#[pyclass(name = "Block", module = "vesper._vesper", frozen)]
pub struct Block {
    held: Held,
}

enum Held {
    Mapped(crate::dfs::store::BlockBytes),
    Pooled(std::mem::ManuallyDrop<Vec<u8>>),
}

impl Held {
    fn bytes(&self) -> &[u8] {
        match self {
            Held::Mapped(bytes) => bytes.as_ref(),
            Held::Pooled(bytes) => bytes,
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if let Held::Pooled(bytes) = &mut self.held {
            // SAFETY: taken once, here, as the Block goes away.
            runtime()
                .pool
                .give(unsafe { std::mem::ManuallyDrop::take(bytes) });
        }
    }
}

#[pymethods]
impl Block {
    /// Exports the bytes read-only; the view keeps the Block (and so the bytes) alive.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let bytes = slf.get().held.bytes();
        // SAFETY: `view` comes from the interpreter; the buffer outlives the export
        // because the export holds a reference to `slf`.
        let filled = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut std::os::raw::c_void,
                bytes.len() as pyo3::ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.held.bytes().len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.held.bytes())
    }
}

/// A block read under way: already read from this rank's store, or fetched remotely.
enum PendingRead {
    Local(Block),
    Remote(Receiver<crate::engine::BlockReply>),
}

/// Reads from this rank's store when it holds a good replica; otherwise (or if the
/// local replica is bad) asks the engine to fetch one from another rank.
fn start_read(path: &str, block: BlockTuple) -> PyResult<PendingRead> {
    let runtime = runtime();
    let (id, len, crc32c, mut replicas) = block;
    if replicas.contains(&runtime.rank) {
        match runtime.store.read(id, crc32c) {
            Ok(bytes) => {
                return Ok(PendingRead::Local(Block {
                    held: Held::Mapped(bytes),
                }))
            }
            Err(error) => {
                tracing::warn!("{path}: {error}; reading another replica");
                replicas.retain(|r| *r != runtime.rank);
                if replicas.is_empty() {
                    return Err(PyOSError::new_err(format!(
                        "{path}: {error}, and there is no other replica"
                    )));
                }
            }
        }
    }
    let (sender, receiver) = crossbeam_channel::bounded(1);
    let meta = BlockMeta {
        id,
        len,
        crc32c,
        replicas,
    };
    runtime
        .engine
        .send(Local::ReadBlock(path.to_string(), meta, sender));
    Ok(PendingRead::Remote(receiver))
}

fn finish_read(py: Python<'_>, pending: PendingRead) -> PyResult<Bound<'_, Block>> {
    let block = match pending {
        PendingRead::Local(block) => block,
        PendingRead::Remote(receiver) => match wait_reply(py, &receiver, None)? {
            Ok(bytes) => Block {
                held: Held::Pooled(std::mem::ManuallyDrop::new(bytes)),
            },
            Err((kind, message)) => return Err(to_pyerr(kind, message)),
        },
    };
    Bound::new(py, block)
}

// ---------------------------------------------------------------- map-reduce

#[pyfunction]
fn mapreduce<'py>(
    py: Python<'py>,
    function: FunctionId,
    function_bytes: Vec<u8>,
    chunks: Vec<Vec<u8>>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let spec = MapReduceSpec {
        function,
        function_bytes,
        chunks: chunks.into_iter().map(serde_bytes::ByteBuf::from).collect(),
    };
    match call(py, Request::MapReduce(spec), None)? {
        Reply::Chunks(results) => Ok(results.iter().map(|r| PyBytes::new(py, r)).collect()),
        other => Err(unexpected(other)),
    }
}

fn reducer(op: &str) -> PyResult<Reducer> {
    Reducer::parse(op).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown reducer {op:?}: use sum, min, max, count or concat"
        ))
    })
}

/// Reduces plain ints, floats or strs natively (rayon, GIL released); `None` when
/// the values are of another kind and Python must reduce them.
#[pyfunction]
fn reduce_native(
    py: Python<'_>,
    values: &Bound<'_, PyList>,
    op: &str,
) -> PyResult<Option<Py<PyAny>>> {
    let reducer = reducer(op)?;
    let Some(column) = extract_column(values) else {
        return Ok(None);
    };
    let reduced = py.detach(|| column.reduce(reducer));
    reduced.map(|r| r.into_py(py)).transpose()
}

/// A list of plain ints, floats or strs as a native column (ints may widen to floats).
fn extract_column(values: &Bound<'_, PyList>) -> Option<native_reduce::Column> {
    use pyo3::types::{PyFloat, PyInt, PyString};
    let first = values.get_item(0).ok()?;
    if first.is_exact_instance_of::<PyString>() {
        let strs: Option<Vec<String>> = values
            .iter()
            .map(|v| {
                if v.is_exact_instance_of::<PyString>() {
                    v.extract().ok()
                } else {
                    None
                }
            })
            .collect();
        return strs.map(native_reduce::Column::Strs);
    }
    let mut ints = Vec::with_capacity(values.len());
    let mut all_ints = true;
    for value in values.iter() {
        if value.is_exact_instance_of::<PyInt>() {
            ints.push(value.extract::<i64>().ok()?);
        } else if value.is_exact_instance_of::<PyFloat>() {
            all_ints = false;
            break;
        } else {
            return None;
        }
    }
    if all_ints {
        return Some(native_reduce::Column::Ints(ints));
    }
    let floats: Option<Vec<f64>> = values
        .iter()
        .map(|v| {
            if v.is_exact_instance_of::<PyFloat>() || v.is_exact_instance_of::<PyInt>() {
                v.extract().ok()
            } else {
                None
            }
        })
        .collect();
    floats.map(native_reduce::Column::Floats)
}

impl Reduced {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            Reduced::Int(v) => v.into_pyobject(py)?.into_any().unbind(),
            Reduced::Big(text) => py
                .import("builtins")?
                .getattr("int")?
                .call1((text,))?
                .unbind(),
            Reduced::Float(v) => v.into_pyobject(py)?.into_any().unbind(),
            Reduced::Str(v) => v.into_pyobject(py)?.into_any().unbind(),
        })
    }
}

// ---------------------------------------------------------------- worker task loop

/// The next task for this worker's Python thread, or `None` at shutdown.
#[pyfunction]
fn next_task(py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
    let Some(tasks) = &runtime().tasks else {
        return Err(PyRuntimeError::new_err("only workers run tasks"));
    };
    let task = match wait_reply(py, tasks, None) {
        Ok(task) => task,
        Err(error) if error.is_instance_of::<PyRuntimeError>(py) => None,
        Err(error) => return Err(error),
    };
    let Some(task) = task else { return Ok(None) };
    let tuple = match task {
        Task::Job {
            job,
            attempt,
            name,
            function,
            function_bytes,
            arguments,
            input_files,
            outputs,
            timeout_ms,
        } => (
            "job",
            job,
            attempt,
            name,
            function,
            PyBytes::new(py, &function_bytes),
            PyBytes::new(py, &arguments),
            input_files
                .iter()
                .map(|meta| file_dict(py, meta))
                .collect::<PyResult<Vec<_>>>()?,
            outputs,
            timeout_ms.map(|ms| ms as f64 / 1000.0),
        )
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        Task::Chunk {
            mapreduce,
            chunk,
            function,
            function_bytes,
            payload,
        } => (
            "chunk",
            mapreduce,
            chunk,
            function,
            PyBytes::new(py, &function_bytes),
            PyBytes::new(py, &payload),
        )
            .into_pyobject(py)?
            .into_any()
            .unbind(),
    };
    Ok(Some(tuple))
}

/// Reports a finished task to the engine.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (kind, id, attempt, ok, value, error_type, message, traceback, files, started_us, elapsed_us))]
fn task_done(
    kind: &str,
    id: u64,
    attempt: u32,
    ok: bool,
    value: Vec<u8>,
    error_type: String,
    message: String,
    traceback: String,
    files: Vec<(String, Vec<BlockTuple>, Vec<u8>)>,
    started_us: u64,
    elapsed_us: u64,
) {
    let outcome = if ok {
        TaskOutcome::Success { value }
    } else {
        TaskOutcome::Failure {
            error_type,
            message,
            traceback,
        }
    };
    let (job, chunk) = if kind == "chunk" {
        (0, Some((id, attempt)))
    } else {
        (id, None)
    };
    let result = TaskResult {
        job,
        attempt,
        chunk,
        outcome,
        files: files
            .into_iter()
            .map(|(path, blocks, inline)| staged(path, blocks, inline))
            .collect(),
        started_us,
        elapsed_us,
    };
    runtime().engine.send(Local::Result(result));
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    elapsed_s();
    module.add_function(wrap_pyfunction!(rank, module)?)?;
    module.add_function(wrap_pyfunction!(size, module)?)?;
    module.add_function(wrap_pyfunction!(add_workers, module)?)?;
    module.add_function(wrap_pyfunction!(block_size, module)?)?;
    module.add_function(wrap_pyfunction!(inline_bytes_max, module)?)?;
    module.add_function(wrap_pyfunction!(ping, module)?)?;
    module.add_function(wrap_pyfunction!(ping_rank, module)?)?;
    module.add_function(wrap_pyfunction!(raw_ping_pong, module)?)?;
    module.add_function(wrap_pyfunction!(workers, module)?)?;
    module.add_function(wrap_pyfunction!(wait_for_workers, module)?)?;
    module.add_function(wrap_pyfunction!(submit, module)?)?;
    module.add_function(wrap_pyfunction!(job_status, module)?)?;
    module.add_function(wrap_pyfunction!(wait_job, module)?)?;
    module.add_function(wrap_pyfunction!(wait_all, module)?)?;
    module.add_function(wrap_pyfunction!(uv, module)?)?;
    module.add_function(wrap_pyfunction!(normalize_path, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_lookup, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_list, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_remove, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_wait, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_check_new, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_commit, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_write_block, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_discard, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_read_block, module)?)?;
    module.add_function(wrap_pyfunction!(dfs_read_blocks, module)?)?;
    module.add_function(wrap_pyfunction!(mapreduce, module)?)?;
    module.add_function(wrap_pyfunction!(reduce_native, module)?)?;
    module.add_function(wrap_pyfunction!(next_task, module)?)?;
    module.add_function(wrap_pyfunction!(task_done, module)?)?;
    module.add_class::<Block>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
