//! The DFS: round trips, integrity, replication, crash safety, offline tools.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn block_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for rank in std::fs::read_dir(root).unwrap().flatten() {
        if rank.file_name().to_string_lossy().starts_with("rank-") {
            for block in std::fs::read_dir(rank.path()).unwrap().flatten() {
                files.push(block.path());
            }
        }
    }
    files
}

#[test]
fn files_round_trip_between_ranks() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut command = mpirun_command(
        3,
        &["--block-size", "1MiB", &script_arg("dfs_roundtrip.py")],
    );
    command.env("VESPER_TEST_DIR", dir.path());
    let output = run(command, Duration::from_secs(300), None);
    output.assert_status(0);
    for name in ["zero", "one", "block-1", "block", "block+1", "big"] {
        output.assert_stdout_has(&format!("OK {name} "));
    }
    for line in [
        "text",
        "namespace",
        "traversal",
        "concurrent readers",
        "put get",
    ] {
        output.assert_stdout_has(&format!("OK {line}"));
    }
}

#[test]
fn a_lost_replica_is_survived_and_reported_by_fsck() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs");
    let root_arg = root.display().to_string();
    let script = script_arg("dfs_write.py");
    mpirun(
        3,
        &[
            "--dfs-root",
            &root_arg,
            "--replication",
            "2",
            &script,
            "write",
        ],
        60,
    )
    .assert_status(0)
    .assert_stdout_has("replicas 2")
    .assert_stdout_has("job replicas 2");
    alone(&["dfs", "fsck", "--root", &root_arg], 30)
        .assert_status(0)
        .assert_stdout_has("0 missing, 0 corrupt");
    // Delete one replica of every block of one rank.
    let victim = block_files(&root)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("rank-1"))
        .expect("rank 1 holds a block");
    std::fs::remove_file(&victim).unwrap();
    mpirun(3, &["--dfs-root", &root_arg, &script, "read"], 60)
        .assert_status(0)
        .assert_stdout_has("read ok True");
    alone(&["dfs", "fsck", "--root", &root_arg], 30)
        .assert_status(1)
        .assert_stdout_has("UNDER");
}

#[test]
fn a_flipped_byte_is_detected() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs");
    let root_arg = root.display().to_string();
    let script = script_arg("dfs_write.py");
    mpirun(2, &["--dfs-root", &root_arg, &script, "write"], 60).assert_status(0);
    for file in block_files(&root) {
        let mut bytes = std::fs::read(&file).unwrap();
        if bytes.len() > 100 {
            bytes[100] ^= 0xff;
            std::fs::write(&file, bytes).unwrap();
        }
    }
    let output = mpirun(2, &["--dfs-root", &root_arg, &script, "read"], 60);
    output
        .assert_stdout_has("read failed:")
        .assert_stdout_has("/data/file.bin")
        .assert_stdout_has("checksum");
    alone(&["dfs", "fsck", "--root", &root_arg], 30)
        .assert_status(1)
        .assert_stdout_has("CORRUPT");
}

#[test]
fn committed_files_survive_kill_9_and_uncommitted_never_appear() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let command = mpirun_command(
        2,
        &["--dfs-root", &root, &script_arg("dfs_write.py"), "crash"],
    );
    let output = run_acting_when_ready(command, Duration::from_secs(90), |_| {
        kill_9_matching("dfs_write.py crash")
    });
    assert_ne!(output.status, 0);
    let listing = alone(&["dfs", "ls", "--root", &root], 30);
    listing.assert_status(0).assert_stdout_has("/committed.bin");
    assert!(
        !listing.stdout.contains("uncommitted"),
        "{}",
        listing.stdout
    );
    let cat = alone(&["dfs", "cat", "--root", &root, "committed.bin"], 30);
    assert_eq!(cat.stdout, "safe".repeat(1000));
}

#[test]
fn offline_tools_work_without_mpi() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let local = dir.path().join("in.txt");
    std::fs::write(&local, "offline data\n").unwrap();
    let local_arg = local.display().to_string();
    // A run creates the root; then the tools put, ls, cat, get, rm, fsck.
    let script = write_script(
        dir.path(),
        "empty.py",
        "import vesper\nvesper.dfs.write_bytes('seed', b'x')\n",
    );
    mpirun(1, &["--dfs-root", &root, &script], 60).assert_status(0);
    alone(
        &["dfs", "put", "--root", &root, &local_arg, "in/copy.txt"],
        30,
    )
    .assert_status(0);
    alone(&["dfs", "ls", "--root", &root], 30)
        .assert_stdout_has("/in/copy.txt")
        .assert_stdout_has("/seed");
    assert_eq!(
        alone(&["dfs", "cat", "--root", &root, "/in/copy.txt"], 30).stdout,
        "offline data\n"
    );
    let back = dir.path().join("back.txt").display().to_string();
    alone(&["dfs", "get", "--root", &root, "in/copy.txt", &back], 30).assert_status(0);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "offline data\n");
    alone(&["dfs", "rm", "--root", &root, "-r", "in"], 30).assert_status(0);
    assert!(!alone(&["dfs", "ls", "--root", &root], 30)
        .stdout
        .contains("copy"));
    alone(&["dfs", "fsck", "--root", &root], 30).assert_status(0);
    alone(
        &["dfs", "ls", "--root", &dir.path().display().to_string()],
        30,
    )
    .assert_status(1)
    .assert_stderr_has("not a persistent DFS root");
    // The files written offline are visible to the next run.
    let reader = write_script(
        dir.path(),
        "read.py",
        "import vesper\nprint(vesper.dfs.read_bytes('seed'))\n",
    );
    mpirun(2, &["--dfs-root", &root, &reader], 60)
        .assert_status(0)
        .assert_stdout_has("b'x'");
}

#[test]
fn a_smaller_run_reads_what_a_larger_run_wrote() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let writer = write_script(
        dir.path(),
        "write.py",
        "import vesper\n@vesper.as_job\ndef put(i, outputs):\n    with vesper.open(outputs[0], 'w') as f:\n        f.write(f'part {i} from rank {vesper.rank()}')\n\
         for i in range(9):\n    put(i, outputs=[f'parts/{i}'])\n",
    );
    let reader = write_script(
        dir.path(),
        "read.py",
        "import vesper\nparts = [vesper.dfs.read_bytes(p).decode() for p in vesper.dfs.ls('parts')]\n\
         print('read', len(parts), 'ranks', sorted({p.rsplit(' ', 1)[1] for p in parts}))\n",
    );
    mpirun(4, &["--dfs-root", &root, &writer], 120).assert_status(0);
    let output = mpirun(2, &["--dfs-root", &root, &reader], 120);
    output
        .assert_status(0)
        .assert_stdout_has("read 9 ranks ['1', '2', '3']");
}
