//! The Python face: the only module that touches pyo3. It starts the embedded
//! CPython (with the `vesper` package built into the binary), runs the user's
//! script on rank 0 or the task loop on workers, and exposes `vesper._vesper`,
//! the native functions the Python package calls. Every blocking call releases
//! the GIL and wakes periodically to run Python signal handlers.

mod errors;
mod interpreter;
mod native;
mod package;

use crate::config::Config;
use crate::dfs::store::BlockStore;
use crate::engine::EngineHandle;
use crate::protocol::{Rank, Task};
use crossbeam_channel::Receiver;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// What the native functions need to know about this rank.
pub struct Runtime {
    pub engine: EngineHandle,
    pub rank: Rank,
    /// Every rank of the run; grows with `add_workers`.
    pub size: Arc<std::sync::atomic::AtomicU32>,
    pub store: Arc<BlockStore>,
    pub config: Config,
    pub tasks: Option<Receiver<Option<Task>>>,
    pub pool: crate::transport::BufferPool,
    /// Rank 0 only: the coordinator, for direct submission from the script.
    pub coordinator: Option<crate::coordinator::Shared>,
    /// Rank 0 on a terminal: the progress line, stopped before the summary.
    pub progress: std::sync::Mutex<Option<crate::progress::Progress>>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

pub(crate) fn runtime() -> &'static Runtime {
    RUNTIME
        .get()
        .expect("the runtime is set before Python starts")
}

/// How the script ended, for the exit status.
pub enum ScriptEnd {
    Finished,
    /// The script raised (traceback already printed).
    Raised,
    /// SIGINT, SIGTERM or SIGUSR1 interrupted it.
    Stopped,
    /// `sys.exit(code)`.
    Exit(i32),
}

/// Rank 0: runs the script (and then the prompt with `interactive`), waits for
/// every job, prints the summary, and returns the exit status.
pub fn run_scheduler(
    runtime: Runtime,
    script: Option<PathBuf>,
    args: Vec<String>,
    interactive: bool,
) -> i32 {
    let _ = RUNTIME.set(runtime);
    let mut argv: Vec<String> = vec![script
        .as_ref()
        .map_or(String::new(), |p| p.display().to_string())];
    argv.extend(args);
    interpreter::start(&argv);
    interpreter::run_scheduler(script, interactive)
}

/// A worker: serves tasks until the coordinator says shutdown.
pub fn run_worker(runtime: Runtime) {
    let _ = RUNTIME.set(runtime);
    interpreter::start(&[String::new()]);
    interpreter::run_worker();
}
