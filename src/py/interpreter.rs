//! Starting CPython and running the script (rank 0) or the task loop (workers).
//!
//! The interpreter is configured from a `PyConfig` whose program name is the
//! Python the binary was built against (or `$VIRTUAL_ENV/bin/python`), so it finds
//! the right standard library and site-packages; `vesper._vesper` is registered
//! before it starts.

use super::native::{self, wait_reply};
use super::package;
use crate::protocol::{ErrorKind, Reply, Request};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::ffi::CString;
use std::path::PathBuf;
use std::time::Duration;

fn program_name() -> String {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        let python = PathBuf::from(venv).join("bin").join("python");
        if python.exists() {
            return python.display().to_string();
        }
    }
    let built = env!("VESPER_BUILD_PYTHON");
    if !built.is_empty() {
        return built.to_string();
    }
    "python3".to_string()
}

/// Starts the interpreter with `argv` as `sys.argv`, then releases the GIL.
pub fn start(argv: &[String]) {
    pyo3::append_to_inittab!(_vesper);
    // SAFETY: the documented embedding sequence; every pointer outlives its call.
    unsafe {
        let mut config = std::mem::MaybeUninit::<pyo3::ffi::PyConfig>::zeroed();
        pyo3::ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let mut config = config.assume_init();
        config.install_signal_handlers = 1;
        config.parse_argv = 0;
        let program = CString::new(program_name()).expect("no NUL in a path");
        let status = pyo3::ffi::PyConfig_SetBytesString(
            &mut config,
            &mut config.program_name,
            program.as_ptr(),
        );
        check(status, &mut config);
        let arguments: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_str()).unwrap_or_default())
            .collect();
        let pointers: Vec<*const std::ffi::c_char> = arguments.iter().map(|a| a.as_ptr()).collect();
        let status = pyo3::ffi::PyConfig_SetBytesArgv(
            &mut config,
            pointers.len() as _,
            pointers.as_ptr() as *mut _,
        );
        check(status, &mut config);
        let status = pyo3::ffi::Py_InitializeFromConfig(&config);
        check(status, &mut config);
        pyo3::ffi::PyConfig_Clear(&mut config);
        pyo3::ffi::PyEval_SaveThread();
    }
}

unsafe fn check(status: pyo3::ffi::PyStatus, config: &mut pyo3::ffi::PyConfig) {
    if pyo3::ffi::PyStatus_Exception(status) != 0 {
        pyo3::ffi::PyConfig_Clear(config);
        eprintln!(
            "vesper: cannot start the embedded Python (built against {})",
            program_name()
        );
        pyo3::ffi::Py_ExitStatusException(status);
    }
}

#[pymodule]
fn _vesper(module: &Bound<'_, PyModule>) -> PyResult<()> {
    native::register(module)
}

fn install_package(py: Python<'_>) -> PyResult<()> {
    let modules = PyList::empty(py);
    for (name, is_package, source) in package::MODULES {
        modules.append(PyTuple::new(
            py,
            [
                name.into_pyobject(py)?.into_any(),
                is_package.into_pyobject(py)?.to_owned().into_any(),
                source.into_pyobject(py)?.into_any(),
            ],
        )?)?;
    }
    let globals = PyDict::new(py);
    globals.set_item("_vesper_modules", modules)?;
    let code = CString::new(package::BOOTSTRAP).expect("no NUL in the bootstrap");
    py.run(&code, Some(&globals), None)
}

fn flush_output(py: Python<'_>) {
    let _ = py.run(c"import sys\nfor s in (sys.stdout, sys.stderr):\n    try: s.flush()\n    except Exception: pass", None, None);
}

use super::ScriptEnd;

/// Runs the script as `__main__` and classifies how it ended.
fn run_script(py: Python<'_>, script: &std::path::Path) -> ScriptEnd {
    let vesper = match py.import("vesper") {
        Ok(module) => module,
        Err(error) => {
            error.print(py);
            return ScriptEnd::Raised;
        }
    };
    let result = vesper.call_method1("_run_main", (script.display().to_string(),));
    match result {
        Ok(_) => ScriptEnd::Finished,
        Err(error) => classify(py, error),
    }
}

fn classify(py: Python<'_>, error: PyErr) -> ScriptEnd {
    if error.is_instance_of::<pyo3::exceptions::PySystemExit>(py) {
        let code = error.value(py).getattr("code").ok();
        return match code {
            Some(code) if code.is_none() => ScriptEnd::Exit(0),
            Some(code) => match code.extract::<i32>() {
                Ok(value) => ScriptEnd::Exit(value),
                Err(_) => {
                    eprintln!("{}", code.str().map(|s| s.to_string()).unwrap_or_default());
                    ScriptEnd::Exit(1)
                }
            },
            None => ScriptEnd::Exit(0),
        };
    }
    if is_stop(py, &error) {
        return ScriptEnd::Stopped;
    }
    error.print(py);
    ScriptEnd::Raised
}

fn is_stop(py: Python<'_>, error: &PyErr) -> bool {
    if error.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
        return true;
    }
    py.import("vesper._errors")
        .and_then(|m| m.getattr("Stopped"))
        .is_ok_and(|stopped| error.value(py).is_instance(&stopped).unwrap_or(false))
}

fn interact(py: Python<'_>) -> ScriptEnd {
    let code = c"import code, sys, __main__\n__main__.__dict__.setdefault('vesper', __import__('vesper'))\ntry:\n    import readline\nexcept ImportError:\n    pass\ncode.interact(banner='vesper %s: rank 0 of %d; end input (Ctrl-D) to finish' % (__import__('vesper').__version__, __import__('vesper').size()), local=__main__.__dict__, exitmsg='')\n";
    match py.run(code, None, None) {
        Ok(()) => ScriptEnd::Finished,
        Err(error) => classify(py, error),
    }
}

pub fn run_scheduler(script: Option<PathBuf>, interactive: bool) -> i32 {
    let end = Python::attach(|py| {
        if let Err(error) = install_package(py).and_then(|()| py.import("vesper").map(|_| ())) {
            error.print(py);
            return ScriptEnd::Raised;
        }
        let mut end = match &script {
            Some(script) => run_script(py, script),
            None => ScriptEnd::Finished,
        };
        if interactive && matches!(end, ScriptEnd::Finished | ScriptEnd::Raised) {
            end = interact(py);
        }
        flush_output(py);
        end
    });
    finish_run(end)
}

/// After the script: wait for every job (or drain after a signal), print the
/// summary, stop every rank. Returns the exit status.
fn finish_run(end: ScriptEnd) -> i32 {
    let runtime = super::runtime();
    let progress = runtime.progress.lock().expect("not poisoned").take();
    let mut stopped = matches!(end, ScriptEnd::Stopped);
    if !stopped {
        let waited = Python::attach(|py| {
            let reply = runtime.engine.call(Request::WaitAll);
            wait_reply(py, &reply, None).map_err(|error| is_stop(py, &error))
        });
        if let Err(true) = waited {
            stopped = true;
        }
    }
    if stopped {
        eprintln!(
            "vesper: stopping: no new jobs start; running jobs get {} s to finish",
            runtime.config.grace_period_ms / 1000
        );
        let reply = runtime
            .engine
            .call(Request::Drain(runtime.config.grace_period_ms));
        let _ = reply.recv_timeout(Duration::from_millis(
            runtime.config.grace_period_ms + 5_000,
        ));
    }
    if let Some(progress) = progress {
        progress.finish();
    }
    let summary = runtime
        .engine
        .call(Request::Summary)
        .recv_timeout(Duration::from_secs(10));
    let mut jobs_failed = false;
    if let Ok(Reply::Summary(counts, workers)) = summary {
        let total: u64 = counts.iter().sum();
        jobs_failed = counts[4] + counts[5] > 0;
        if total > 0 {
            let unfinished = counts[0] + counts[1] + counts[2];
            let mut line = format!(
                "vesper: {total} jobs: {} done, {} failed, {} cancelled, {} skipped",
                counts[3], counts[4], counts[5], counts[6]
            );
            if unfinished > 0 {
                line.push_str(&format!(", {unfinished} not run"));
            }
            line.push_str(&format!(
                " in {:.2} s on {workers} workers",
                native::elapsed_s()
            ));
            if let Ok(job) = std::env::var("SLURM_JOB_ID") {
                line.push_str(&format!(" (Slurm job {job})"));
            }
            eprintln!("{line}");
        }
    }
    if stopped {
        if runtime.config.dfs_root.is_some() {
            eprintln!("vesper: stopped; the DFS journal is flushed: run again with the same --dfs-root to resume");
        } else {
            eprintln!("vesper: stopped");
        }
    }
    let status = match end {
        ScriptEnd::Stopped => 3,
        _ if stopped => 3,
        ScriptEnd::Raised => 1,
        ScriptEnd::Exit(code) if code != 0 => code,
        _ if jobs_failed => 1,
        _ => 0,
    };
    crate::launch::EXIT_STATUS.store(status, std::sync::atomic::Ordering::SeqCst);
    match runtime
        .engine
        .call(Request::Shutdown)
        .recv_timeout(Duration::from_secs(30))
    {
        Ok(Reply::Error(ErrorKind::Runtime, message)) => eprintln!("vesper: {message}"),
        Err(_) => eprintln!("vesper: the engine did not confirm shutdown"),
        _ => {}
    }
    status
}

pub fn run_worker() {
    Python::attach(|py| {
        let served = install_package(py)
            .and_then(|()| py.import("vesper._worker"))
            .and_then(|worker| worker.call_method0("serve"));
        if let Err(error) = served {
            if !is_stop(py, &error) {
                error.print(py);
            }
        }
        flush_output(py);
    });
}
