//! Slurm: `srun vesper`, `sbatch --wait` with the template, a drain on SIGUSR1 and
//! a resume, exit statuses through Slurm. Needs the one-node Slurm that
//! `scripts/test.sh` starts (`slurm/cluster.sh start`); set `VESPER_SKIP_SLURM=1`
//! to run the rest of the suite without it.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

fn slurm_available() -> bool {
    if std::env::var_os("VESPER_SKIP_SLURM").is_some() {
        eprintln!("VESPER_SKIP_SLURM is set: Slurm tests skipped");
        return false;
    }
    assert!(
        std::env::var_os("SLURM_CONF").is_some(),
        "no Slurm: run the suite with scripts/test.sh (it starts a one-node Slurm), or set VESPER_SKIP_SLURM=1"
    );
    true
}

fn srun(ranks: u32, args: &[&str]) -> Command {
    let mut command = Command::new("srun");
    command
        .args(["--mpi=pmix", "-n", &ranks.to_string()])
        .arg(vesper())
        .args(args);
    mpi_env(&mut command);
    command
}

#[test]
fn add_workers_under_srun_is_a_clear_runtime_error() {
    let _serial = serial();
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        "grow.py",
        "import vesper\ntry:\n    vesper.add_workers(1)\nexcept RuntimeError as error:\n    print('refused:', error)\n",
    );
    let output = run(srun(2, &[&script]), Duration::from_secs(120), None);
    output
        .assert_status(0)
        .assert_stdout_has("refused: add_workers cannot spawn processes under srun");
}

#[test]
fn srun_runs_the_pipeline() {
    let _serial = serial();
    if !slurm_available() {
        return;
    }
    let script = repo().join("examples/pipeline.py").display().to_string();
    let output = run(srun(4, &[&script, "4"]), Duration::from_secs(180), None);
    output
        .assert_status(0)
        .assert_stdout_has("240000 words, 13 distinct")
        .assert_stderr_has("on 3 workers (Slurm job ");
}

/// `sbatch --wait` of the one-node template running `script`, logging to `log`.
fn sbatch_command(root: &str, script: &[&str], log: &std::path::Path) -> Command {
    let mut command = Command::new("sbatch");
    command
        .arg("--wait")
        .arg(format!("--output={}", log.display()))
        .arg(repo().join("slurm/vesper-1node.sbatch"))
        .args(script)
        .env("VESPER_DFS_ROOT", root)
        .env("VESPER", vesper());
    mpi_env(&mut command);
    command
}

/// Runs the template to its end; returns its status and its log.
fn sbatch_wait(dir: &std::path::Path, root: &str, script: &[&str]) -> (i32, String) {
    let log = dir.join("job.out");
    let output = run(
        sbatch_command(root, script, &log),
        Duration::from_secs(240),
        None,
    );
    (
        output.status,
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn sbatch_template_reports_success_and_failure() {
    let _serial = serial();
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let ok = write_script(
        dir.path(),
        "ok.py",
        "import vesper\nprint('workers', vesper.wait_for_workers(timeout=60))\n",
    );
    let (status, log) = sbatch_wait(dir.path(), &root, &[&ok]);
    assert_eq!(status, 0, "{log}");
    assert!(log.contains("workers 3"), "{log}");
    let bad = write_script(dir.path(), "bad.py", "raise SystemExit(1)\n");
    let (status, log) = sbatch_wait(dir.path(), &root, &[&bad]);
    assert_ne!(status, 0, "a failing script must fail the batch job: {log}");
}

#[test]
fn a_time_limit_warning_drains_and_the_next_job_resumes() {
    let _serial = serial();
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let script = script_arg("resume.py");
    // First job: parts written, then SIGUSR1 through Slurm (scancel --signal) while it sleeps.
    let first_log = dir.path().join("first.out");
    let first = sbatch_command(&root, &[&script, "first"], &first_log);
    let output = run_acting_when_ready(first, Duration::from_secs(240), |_| {
        let _ = Command::new("scancel")
            .args(["--batch", "--signal=USR1", "--name=vesper"])
            .status();
    });
    let log = std::fs::read_to_string(&first_log).unwrap_or_default();
    assert_eq!(output.status, 3, "the drained job exits 3: {log}");
    assert!(
        log.contains("parts written") && log.contains("resume"),
        "{log}"
    );
    let (status, log) = sbatch_wait(dir.path(), &root, &[&script, "second"]);
    let _ = status;
    assert!(
        log.contains("skipped 6") && log.contains("total 15"),
        "{log}"
    );
}
