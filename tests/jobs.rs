//! Jobs: the DAG, failures, the no-hang rule, resume after kill -9.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn the_job_contract_holds_under_mpirun() {
    let _serial = serial();
    let output = mpirun(4, &[&script_arg("jobs_contract.py")], 300);
    output.assert_status(1); // the failing scenarios make the run's status 1
    for line in [
        "diamond",
        "fan-out fan-in",
        "chain",
        "retry",
        "timeout",
        "missing input",
        "duplicate outputs",
        "permission and missing output",
        "unpicklable",
        "oversized",
        "nested",
        "all",
    ] {
        output.assert_stdout_has(&format!("OK {line}"));
    }
    output
        .assert_stdout_has("[talker#")
        .assert_stdout_has("hello from a job");
    output.assert_stderr_has(" failed, ");
}

#[test]
fn a_final_failure_cancels_dependants_and_exits_1() {
    let _serial = serial();
    let output = mpirun(3, &[&script_arg("jobs_failure.py")], 120);
    output.assert_status(1);
    output
        .assert_stdout_has("JobsFailed 3")
        .assert_stdout_has("states failed cancelled cancelled done");
    output.assert_stderr_has("4 jobs: 1 done, 1 failed, 2 cancelled, 0 skipped");
}

#[test]
fn jobs_run_with_spawned_workers_too() {
    let _serial = serial();
    let output = alone(&["--workers", "2", &script_arg("jobs_failure.py")], 120);
    output
        .assert_status(1)
        .assert_stdout_has("states failed cancelled cancelled done");
}

#[test]
fn a_killed_run_resumes_on_a_persistent_root() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let script = script_arg("resume.py");
    let first = mpirun_command(3, &["--dfs-root", &root, &script, "first"]);
    let output = run_acting_when_ready(first, Duration::from_secs(120), |_| {
        kill_9_matching("resume.py first")
    });
    assert_ne!(output.status, 0);
    output.assert_stdout_has("parts written");
    let second = mpirun(3, &["--dfs-root", &root, &script, "second"], 120);
    second
        .assert_status(0)
        .assert_stdout_has("skipped 6")
        .assert_stdout_has("total 15");
    second.assert_stderr_has("7 jobs: 1 done, 0 failed, 0 cancelled, 6 skipped");
}

#[test]
fn a_progress_line_is_drawn_on_a_terminal_unless_quiet() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        "progress.py",
        "import time, vesper\n@vesper.as_job\ndef slow(i):\n    time.sleep(0.05)\nfor i in range(30):\n    slow(i)\n",
    );
    // `script` gives the run a terminal; `alone_command` sets VESPER_QUIET, so unset it.
    let on_terminal = |quiet: bool| {
        let vesper_command = format!(
            "{} --workers 2 {} {script}",
            vesper().display(),
            if quiet { "--quiet" } else { "" }
        );
        let mut command = std::process::Command::new("script");
        command.args(["-qec", &vesper_command, "/dev/null"]);
        mpi_env(&mut command);
        command.env_remove("VESPER_QUIET");
        run(command, Duration::from_secs(60), None)
    };
    let drawn = on_terminal(false);
    drawn
        .assert_status(0)
        .assert_stdout_has("/30 jobs |")
        .assert_stdout_has("30 jobs: 30 done");
    let quiet = on_terminal(true);
    quiet.assert_status(0).assert_stdout_has("30 jobs: 30 done");
    assert!(!quiet.stdout.contains("/30 jobs |"), "{}", quiet.stdout);
    // Not a terminal: no progress line either.
    let mut piped = alone_command(&["--workers", "2", &script]);
    piped.env_remove("VESPER_QUIET");
    let output = run(piped, Duration::from_secs(60), None);
    assert!(!output.stderr.contains("/30 jobs |"), "{}", output.stderr);
}
