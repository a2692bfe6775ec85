//! Helpers shared by the integration tests: run the real `vesper` binary under the
//! real `mpirun` (or alone) with a hard timeout, capture its output, and check that
//! no rank is left running afterwards.

#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tests share two cores and `pgrep`: one at a time per test binary.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn vesper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vesper"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn test_script(name: &str) -> PathBuf {
    repo().join("tests").join("scripts").join(name)
}

#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn assert_status(&self, expected: i32) -> &Self {
        assert_eq!(
            self.status, expected,
            "unexpected exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn assert_stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    pub fn assert_stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// The environment Open MPI needs here: root allowed, oversubscription allowed.
pub fn mpi_env(command: &mut Command) {
    command
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .env("VESPER_QUIET", "1");
}

pub fn mpirun_command(ranks: u32, args: &[&str]) -> Command {
    let mut command = Command::new("mpirun");
    command
        .arg("-n")
        .arg(ranks.to_string())
        .arg(vesper())
        .args(args);
    mpi_env(&mut command);
    command
}

pub fn alone_command(args: &[&str]) -> Command {
    let mut command = Command::new(vesper());
    command.args(args);
    mpi_env(&mut command);
    command
}

/// Runs `command` in its own process group; kills the group and fails on timeout.
/// Every process of the run carries a unique tag in its environment, so the check
/// that nothing is left running sees exactly this run's processes.
pub fn run(mut command: Command, timeout: Duration, stdin: Option<&str>) -> Output {
    let tag = format!(
        "{}-{}",
        std::process::id(),
        TAGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    command.env("VESPER_TEST_TAG", &tag);
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command.spawn().expect("the command starts");
    if let Some(text) = stdin {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin piped");
        input.write_all(text.as_bytes()).expect("stdin written");
    }
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            let _ = child.wait();
            kill_tagged(&tag);
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            panic!("timed out after {timeout:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status: status
            .code()
            .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    assert_none_left(&tag);
    output
}

static TAGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Pids of live (non-zombie) processes whose environment carries `tag`.
pub fn tagged(tag: &str) -> Vec<u32> {
    let needle = format!("VESPER_TEST_TAG={tag}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&environ).contains(&needle)
        })
        .collect()
}

fn kill_tagged(tag: &str) {
    for pid in tagged(tag) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
}

/// No process of the run may outlive it (within a few seconds' grace).
pub fn assert_none_left(tag: &str) {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let pids = tagged(tag);
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            kill_tagged(tag);
            panic!("processes of the run left running: {pids:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(format!("-{pid}"))
        .status();
}

/// No `vesper` process at all may be running (used by tests that start no launcher).
pub fn assert_no_vesper_left() {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let found = Command::new("pgrep")
            .arg("-x")
            .arg("vesper")
            .output()
            .expect("pgrep runs");
        let pids = String::from_utf8_lossy(&found.stdout).trim().to_string();
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            let _ = Command::new("pkill")
                .arg("-KILL")
                .arg("-x")
                .arg("vesper")
                .status();
            panic!("vesper processes left running: {pids}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `command` with `VESPER_TEST_READY_FILE` set to a fresh path; when the run
/// creates that file, `action` gets its contents (e.g. a pid to signal).
pub fn run_acting_when_ready(
    mut command: Command,
    timeout: Duration,
    action: impl FnOnce(String) + Send + 'static,
) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ready = dir.path().join("ready");
    command.env("VESPER_TEST_READY_FILE", &ready);
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        action(std::fs::read_to_string(&ready).unwrap_or_default());
    });
    let output = run(command, timeout, None);
    watcher.join().expect("the watcher thread ends");
    output
}

/// `pkill -KILL -f pattern`: kill -9 every process of a run (and its launcher).
pub fn kill_9_matching(pattern: &str) {
    let _ = Command::new("pkill")
        .args(["-KILL", "-f", pattern])
        .status();
}

pub fn mpirun(ranks: u32, args: &[&str], timeout_s: u64) -> Output {
    run(
        mpirun_command(ranks, args),
        Duration::from_secs(timeout_s),
        None,
    )
}

pub fn alone(args: &[&str], timeout_s: u64) -> Output {
    run(alone_command(args), Duration::from_secs(timeout_s), None)
}

/// Writes a script into `dir` and returns its path as a string.
pub fn write_script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("script written");
    path.display().to_string()
}

pub fn script_arg(name: &str) -> String {
    test_script(name).display().to_string()
}
