//! The spine: launch under mpirun and alone, argv and sys.path, venvs, workers,
//! exit statuses, signals, the interactive prompt, `vesper info`.

mod common;
use common::*;
use std::time::Duration;

const RUNTIME_PY: &str = r#"
import os, sys, vesper
print("argv", sys.argv)
print("path0", sys.path[0])
n = vesper.wait_for_workers(timeout=60)
ws = vesper.workers()
assert n == vesper.size() - 1 == len(ws), (n, vesper.size(), ws)
assert vesper.is_scheduler() and vesper.rank() == 0
for w in ws:
    assert w.cores >= 1 and w.memory > 0 and w.host, w
print("workers", sorted(w.rank for w in ws))
assert not any(w.busy for w in vesper.workers())
@vesper.as_job
def hold(seconds):
    import time
    time.sleep(seconds)
if ws:
    job = hold(2)
    import time
    deadline = time.time() + 20
    while not any(w.busy for w in vesper.workers()) and time.time() < deadline:
        time.sleep(0.02)
    print("busy seen", any(w.busy for w in vesper.workers()))
    job.wait(timeout=30)
    print("busy after", any(w.busy for w in vesper.workers()))
try:
    vesper.wait_for_workers(n=vesper.size() + 5, timeout=0.5)
    print("no timeout")
except TimeoutError:
    print("timeout ok")
"#;

fn runtime_check(output: &Output, script: &str, workers: u32) {
    output.assert_status(0);
    output.assert_stdout_has(&format!("argv ['{script}', 'one', '--two']"));
    let dir = std::path::Path::new(script)
        .parent()
        .unwrap()
        .display()
        .to_string();
    output.assert_stdout_has(&format!("path0 {dir}"));
    let ranks: Vec<String> = (1..=workers).map(|r| r.to_string()).collect();
    output.assert_stdout_has(&format!("workers [{}]", ranks.join(", ")));
    output.assert_stdout_has("timeout ok");
    if workers > 0 {
        output
            .assert_stdout_has("busy seen True")
            .assert_stdout_has("busy after False");
    }
}

#[test]
fn runs_under_mpirun_with_1_2_and_4_ranks() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "runtime.py", RUNTIME_PY);
    for ranks in [1, 2, 4] {
        let output = mpirun(ranks, &[&script, "one", "--two"], 120);
        runtime_check(&output, &script, ranks - 1);
    }
}

#[test]
fn runs_alone_with_spawned_workers() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "runtime.py", RUNTIME_PY);
    let output = alone(&["--workers", "2", &script, "one", "--two"], 120);
    runtime_check(&output, &script, 2);
}

#[test]
fn hello_example_reports_every_worker() {
    let _serial = serial();
    let script = repo().join("examples/hello.py").display().to_string();
    let output = mpirun(3, &[&script], 120);
    output
        .assert_status(0)
        .assert_stdout_has("2 workers registered");
    assert_eq!(
        output.stdout.matches("  worker ").count(),
        2,
        "{}",
        output.stdout
    );
}

#[test]
fn an_active_venv_is_honoured() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let made = std::process::Command::new(env!("VESPER_TEST_PYTHON"))
        .args(["-m", "venv", "--system-site-packages"])
        .arg(&venv)
        .status()
        .expect("python runs");
    assert!(made.success(), "venv creation failed");
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::write(site.join("venv_marker.py"), "WHERE = 'inside the venv'\n").unwrap();
    let script = write_script(
        dir.path(),
        "venv.py",
        "import sys, venv_marker\nprint(venv_marker.WHERE, sys.prefix)\n",
    );
    let mut command = mpirun_command(2, &[&script]);
    command.env("VIRTUAL_ENV", &venv);
    let output = run(command, Duration::from_secs(120), None);
    output
        .assert_status(0)
        .assert_stdout_has("inside the venv")
        .assert_stdout_has(&venv.display().to_string());
}

#[test]
fn exit_statuses_follow_the_contract() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let raises = write_script(
        dir.path(),
        "raises.py",
        "def f():\n    raise ValueError('boom here')\nf()\n",
    );
    mpirun(2, &[&raises], 60)
        .assert_status(1)
        .assert_stderr_has("ValueError: boom here")
        .assert_stderr_has("line 2");
    let syntax = write_script(dir.path(), "syntax.py", "x = (\n");
    mpirun(2, &[&syntax], 60)
        .assert_status(1)
        .assert_stderr_has("SyntaxError");
    let exits = write_script(dir.path(), "exits.py", "import sys\nsys.exit(7)\n");
    mpirun(2, &[&exits], 60).assert_status(7);
    let missing = dir.path().join("missing.py").display().to_string();
    let output = alone(&[&missing], 30);
    output
        .assert_status(2)
        .assert_stderr_has("cannot read script");
    assert_eq!(
        output.stderr.lines().count(),
        1,
        "one line: {}",
        output.stderr
    );
    alone(&["--no-such-flag", &raises], 30).assert_status(2);
    alone(&["--block-size", "lots", &raises], 30)
        .assert_status(2)
        .assert_stderr_has("invalid size");
    mpirun(2, &["--replication", "0", &raises], 60).assert_status(2);
}

/// Sends `signal` to the run's rank 0 ("vesper") or to its launcher ("launcher")
/// once the script has written its pid to the ready file.
fn signal_when_ready(command: std::process::Command, signal: &str, who: &str) -> Output {
    let signal = signal.to_string();
    let to_launcher = who == "launcher";
    run_acting_when_ready(command, Duration::from_secs(90), move |pid| {
        let pid = pid.trim();
        let target = if to_launcher {
            format!("$(ps -o ppid= -p {pid})")
        } else {
            pid.to_string()
        };
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{signal} {target}"))
            .status();
    })
}

const SIGNALLED_PY: &str = "import os, time, vesper\nvesper.wait_for_workers()\nopen(os.environ['VESPER_TEST_READY_FILE'] + '.tmp', 'w').write(str(os.getpid()))\nos.rename(os.environ['VESPER_TEST_READY_FILE'] + '.tmp', os.environ['VESPER_TEST_READY_FILE'])\ntime.sleep(60)\nprint('not interrupted')\n";

#[test]
fn sigterm_and_sigint_stop_a_run_alone_with_status_3() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "signalled.py", SIGNALLED_PY);
    for signal in ["TERM", "INT"] {
        let output = signal_when_ready(
            alone_command(&["--workers", "2", &script]),
            signal,
            "vesper",
        );
        output.assert_status(3).assert_stderr_has("stopped");
        assert!(!output.stdout.contains("not interrupted"));
    }
}

#[test]
fn signals_to_mpirun_stop_every_rank() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "signalled.py", SIGNALLED_PY);
    // SIGUSR1 (Slurm's time-limit warning) is forwarded by mpirun: vesper drains and exits 3.
    let output = signal_when_ready(mpirun_command(3, &[&script]), "USR1", "launcher");
    output.assert_status(3).assert_stderr_has("stopped");
    // SIGTERM makes Open MPI's mpirun end the job itself (its own status); vesper
    // still drains and no rank is left (checked by `run`).
    let output = signal_when_ready(mpirun_command(3, &[&script]), "TERM", "launcher");
    assert_ne!(output.status, 0);
    assert!(!output.stdout.contains("not interrupted"));
}

#[test]
fn interactive_prompt_reads_standard_input() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "setup.py", "import vesper\nanswer = 21\n");
    let input =
        "print('doubled', answer * 2)\nprint('squares', vesper.map(lambda x: x * x, [1, 2, 3]))\n";
    let output = run(
        mpirun_command(2, &["-i", &script]),
        Duration::from_secs(60),
        Some(input),
    );
    output
        .assert_status(0)
        .assert_stdout_has("doubled 42")
        .assert_stdout_has("squares [1, 4, 9]");
    let output = run(
        alone_command(&["--workers", "1", "-i"]),
        Duration::from_secs(60),
        Some("print('rank', vesper.rank())\n"),
    );
    output.assert_status(0).assert_stdout_has("rank 0");
}

#[test]
fn info_describes_the_node() {
    let _serial = serial();
    let output = alone(&["info"], 30);
    output
        .assert_status(0)
        .assert_stdout_has("cores:")
        .assert_stdout_has("Open MPI")
        .assert_stdout_has("thread level:    multiple");
    output.assert_stdout_has("local rank 0");
}

#[test]
fn add_workers_grows_the_run_under_mpirun_and_alone() {
    let _serial = serial();
    let script = script_arg("grow.py");
    mpirun(2, &[&script], 120)
        .assert_status(0)
        .assert_stdout_has("workers [1, 2, 3]")
        .assert_stdout_has("new workers ran jobs");
    alone(&["--workers", "1", &script], 120)
        .assert_status(0)
        .assert_stdout_has("workers [1, 2, 3]");
}
