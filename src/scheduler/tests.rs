//! Scheduler behaviour, driven directly (no MPI, no Python).

use super::*;
use std::cell::RefCell;

fn spec(name: &str, inputs: &[&str], outputs: &[&str]) -> JobSpec {
    JobSpec {
        name: name.into(),
        function: 1,
        function_bytes: vec![],
        arguments: vec![],
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        resources: Resources {
            cores: 1,
            memory_bytes: 0,
            gpus: 0,
        },
        retries: 0,
        timeout_ms: None,
    }
}

fn worker() -> Resources {
    Resources {
        cores: 2,
        memory_bytes: 1 << 30,
        gpus: 0,
    }
}

/// A tiny DFS + driver: runs every dispatched job to success, committing outputs.
struct Sim {
    scheduler: Scheduler,
    files: RefCell<HashSet<String>>,
}

impl Sim {
    fn new(workers: u32) -> Sim {
        let mut scheduler = Scheduler::new();
        for rank in 1..=workers {
            scheduler.worker_joined(rank, worker());
        }
        Sim {
            scheduler,
            files: RefCell::new(HashSet::new()),
        }
    }
    fn submit(&mut self, spec: JobSpec) -> Result<(JobId, JobState), SubmitError> {
        let files = self.files.borrow().clone();
        self.scheduler.submit(spec, &|p| files.contains(p), false)
    }
    fn dispatch(&mut self) -> Vec<JobId> {
        self.scheduler
            .dispatch(&|_| HashMap::new())
            .into_iter()
            .flat_map(|(_, jobs)| jobs)
            .collect()
    }
    fn succeed(&mut self, id: JobId) {
        let outputs = self.scheduler.spec(id).outputs.clone();
        let attempt = self.scheduler.job(id).unwrap().attempts;
        for path in &outputs {
            self.files.borrow_mut().insert(path.clone());
        }
        self.scheduler.succeeded(id, attempt, vec![]);
        for path in &outputs {
            self.scheduler.path_committed(path);
        }
    }
    fn run_all(&mut self) -> Vec<JobId> {
        let mut order = Vec::new();
        loop {
            let batch = self.dispatch();
            if batch.is_empty() {
                return order;
            }
            for id in batch {
                self.succeed(id);
                order.push(id);
            }
        }
    }
    fn state(&self, id: JobId) -> JobState {
        self.scheduler.job(id).unwrap().state.clone()
    }
}

#[test]
fn a_diamond_runs_in_dependency_order() {
    let mut sim = Sim::new(2);
    let a = sim.submit(spec("a", &[], &["/a"])).unwrap().0;
    let b = sim.submit(spec("b", &["/a"], &["/b"])).unwrap().0;
    let c = sim.submit(spec("c", &["/a"], &["/c"])).unwrap().0;
    let d = sim.submit(spec("d", &["/b", "/c"], &["/d"])).unwrap().0;
    assert_eq!(sim.state(d), JobState::Waiting);
    let order = sim.run_all();
    assert_eq!(order[0], a);
    assert_eq!(*order.last().unwrap(), d);
    assert!(order.contains(&b) && order.contains(&c));
    assert!(sim.scheduler.all_finished());
}

#[test]
fn duplicate_live_outputs_are_refused_until_the_writer_finishes() {
    let mut sim = Sim::new(1);
    let a = sim.submit(spec("a", &[], &["/x"])).unwrap().0;
    assert!(matches!(
        sim.submit(spec("b", &[], &["/x"])),
        Err(SubmitError::DuplicateOutput { .. })
    ));
    sim.dispatch();
    sim.succeed(a);
    assert!(sim.submit(spec("c", &[], &["/x"])).is_ok());
}

#[test]
fn a_final_failure_cancels_dependants_transitively_and_spares_the_rest() {
    let mut sim = Sim::new(2);
    let a = sim.submit(spec("a", &[], &["/a"])).unwrap().0;
    let b = sim.submit(spec("b", &["/a"], &["/b"])).unwrap().0;
    let c = sim.submit(spec("c", &["/b"], &["/c"])).unwrap().0;
    let free = sim.submit(spec("free", &[], &["/free"])).unwrap().0;
    sim.dispatch();
    sim.scheduler.failed(
        a,
        1,
        Failure {
            error_type: "ValueError".into(),
            message: "boom".into(),
        },
    );
    sim.succeed(free);
    assert_eq!(
        [sim.state(a), sim.state(b), sim.state(c), sim.state(free)],
        [
            JobState::Failed,
            JobState::Cancelled,
            JobState::Cancelled,
            JobState::Done
        ]
    );
}

#[test]
fn retries_go_to_another_worker() {
    let mut sim = Sim::new(2);
    let mut job = spec("flaky", &[], &[]);
    job.retries = 1;
    let id = sim.submit(job).unwrap().0;
    sim.dispatch();
    let first = sim.scheduler.job(id).unwrap().worker.unwrap();
    sim.scheduler.failed(
        id,
        1,
        Failure {
            error_type: "E".into(),
            message: "once".into(),
        },
    );
    assert_eq!(sim.state(id), JobState::Ready);
    sim.dispatch();
    let second = sim.scheduler.job(id).unwrap().worker.unwrap();
    assert_ne!(first, second);
    sim.scheduler.failed(
        id,
        2,
        Failure {
            error_type: "E".into(),
            message: "twice".into(),
        },
    );
    assert_eq!(sim.state(id), JobState::Failed);
}

#[test]
fn a_missing_input_fails_instead_of_hanging() {
    let mut sim = Sim::new(1);
    let lost = sim
        .submit(spec("lost", &["/nowhere"], &["/out"]))
        .unwrap()
        .0;
    let after = sim.submit(spec("after", &["/out"], &[])).unwrap().0;
    let failed = sim.scheduler.fail_unsatisfiable(&|_| false);
    assert_eq!(failed, vec![lost]);
    assert_eq!(
        sim.scheduler.job(lost).unwrap().error_type,
        "MissingInputError"
    );
    assert!(sim.scheduler.job(lost).unwrap().error.contains("/nowhere"));
    assert_eq!(sim.state(after), JobState::Cancelled);
}

#[test]
fn a_cycle_fails_instead_of_hanging() {
    let mut sim = Sim::new(1);
    let a = sim.submit(spec("a", &["/b"], &["/a"])).unwrap().0;
    let b = sim.submit(spec("b", &["/a"], &["/b"])).unwrap().0;
    sim.scheduler.fail_unsatisfiable(&|_| false);
    assert_eq!(sim.state(a), JobState::Failed);
    assert!(matches!(
        sim.state(b),
        JobState::Failed | JobState::Cancelled
    ));
    assert!(sim.scheduler.all_finished());
}

#[test]
fn nothing_is_failed_while_work_is_running() {
    let mut sim = Sim::new(1);
    sim.submit(spec("w", &[], &["/w"])).unwrap();
    sim.submit(spec("r", &["/w"], &[])).unwrap();
    sim.dispatch();
    assert!(sim.scheduler.fail_unsatisfiable(&|_| false).is_empty());
}

#[test]
fn oversized_requests_are_refused_at_submission() {
    let mut sim = Sim::new(1);
    let mut big = spec("big", &[], &[]);
    big.resources.cores = 64;
    let error = sim.submit(big).unwrap_err();
    assert!(error.to_string().contains("64 cores"), "{error}");
}

#[test]
fn jobs_prefer_the_worker_holding_their_input() {
    let mut sim = Sim::new(3);
    sim.files.borrow_mut().insert("/data".into());
    let id = sim.submit(spec("near", &["/data"], &[])).unwrap().0;
    let plan = sim
        .scheduler
        .dispatch(&|_| HashMap::from([(3, 100), (1, 10)]));
    assert_eq!(plan, vec![(3, vec![id])]);
}

#[test]
fn resume_skips_jobs_whose_outputs_exist() {
    let mut scheduler = Scheduler::new();
    let (_, state) = scheduler
        .submit(spec("done", &[], &["/x"]), &|p| p == "/x", true)
        .unwrap();
    assert_eq!(state, JobState::Skipped);
}

#[test]
fn many_short_jobs_are_spread_and_prefetched() {
    let mut sim = Sim::new(4);
    for i in 0..1000 {
        sim.submit(spec(&format!("j{i}"), &[], &[])).unwrap();
    }
    let plan = sim.scheduler.dispatch(&|_| HashMap::new());
    assert_eq!(plan.len(), 4);
    assert!(plan.iter().all(|(_, jobs)| jobs.len() > 1));
    let first: Vec<JobId> = plan.into_iter().flat_map(|(_, jobs)| jobs).collect();
    let count = first.len();
    for id in first {
        sim.succeed(id);
    }
    assert_eq!(count + sim.run_all().len(), 1000);
    assert!(sim.scheduler.all_finished());
}

/// A small deterministic generator, so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Random DAGs run by a simulated cluster that finishes dispatched jobs in random
/// order, fails some attempts, and lets the script wait (the no-hang rule). Checks
/// the invariants of the contract for every seed; a failing seed is reproducible.
#[test]
fn random_dags_in_random_order_keep_the_contract() {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for seed in 1..=300u64 {
        let mut rng = Rng(seed * 0x9e37_79b9_7f4a_7c15);
        let mut sim = Sim::new(1 + rng.below(4) as u32);
        let jobs = 5 + rng.below(40);
        // Job i writes /p{i}; it reads a few earlier paths, sometimes a path nobody writes.
        let mut fails_always = HashSet::new();
        let mut flaky = HashSet::new();
        for i in 0..jobs {
            let mut inputs: Vec<String> = (0..rng.below(3))
                .filter(|_| i > 0)
                .map(|_| format!("/p{}", rng.below(i)))
                .collect();
            if rng.below(20) == 0 {
                inputs.push("/nobody-writes-this".into());
            }
            inputs.sort();
            inputs.dedup();
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let output = format!("/p{i}");
            let mut job = spec(&format!("j{i}"), &refs, &[&output]);
            job.retries = rng.below(2) as u32;
            let id = sim.submit(job).expect("valid submission").0;
            match rng.below(10) {
                0 => {
                    fails_always.insert(id);
                }
                1 => {
                    flaky.insert(id);
                }
                _ => {}
            }
        }
        let mut running: Vec<JobId> = Vec::new();
        let mut committed_at_dispatch: HashMap<JobId, bool> = HashMap::new();
        for _round in 0..10_000 {
            for id in sim.dispatch() {
                let inputs = sim.scheduler.spec(id).inputs.clone();
                let ready = inputs.iter().all(|p| sim.files.borrow().contains(p));
                committed_at_dispatch.insert(id, ready);
                assert!(
                    ready,
                    "seed {seed}: job {id} dispatched before its inputs existed"
                );
                running.push(id);
            }
            if running.is_empty() {
                let files = sim.files.borrow().clone();
                sim.scheduler.fail_unsatisfiable(&|p| files.contains(p));
                if sim.scheduler.all_finished() {
                    break;
                }
                continue;
            }
            let id = running.swap_remove(rng.below(running.len() as u64) as usize);
            let attempt = sim.scheduler.job(id).unwrap().attempts;
            if fails_always.contains(&id) || (flaky.contains(&id) && attempt == 1) {
                sim.scheduler.failed(
                    id,
                    attempt,
                    Failure {
                        error_type: "E".into(),
                        message: "boom".into(),
                    },
                );
            } else {
                sim.succeed(id);
            }
        }
        assert!(
            sim.scheduler.all_finished(),
            "seed {seed}: jobs left unfinished (a hang)"
        );
        for id in 1..=jobs {
            let job = sim.scheduler.job(id).unwrap();
            *seen
                .entry(format!("{:?} {}", job.state, job.error_type))
                .or_default() += 1;
            assert!(
                job.attempts <= job.spec.retries + 1,
                "seed {seed}: job {id} ran too often"
            );
            match job.state {
                JobState::Done => {
                    assert!(
                        !fails_always.contains(&id),
                        "seed {seed}: a job that always fails is done"
                    );
                    assert!(sim.files.borrow().contains(&job.spec.outputs[0]));
                }
                JobState::Failed => assert!(
                    fails_always.contains(&id)
                        || (flaky.contains(&id) && job.spec.retries == 0)
                        || job.error_type == "MissingInputError",
                    "seed {seed}: job {id} failed for no reason: {}",
                    job.error
                ),
                JobState::Cancelled => {
                    // Some input's writer did not succeed.
                    let blocked = job.spec.inputs.iter().any(|path| {
                        (1..=jobs).any(|w| {
                            let writer = sim.scheduler.job(w).unwrap();
                            writer.spec.outputs.contains(path) && writer.state != JobState::Done
                        })
                    });
                    assert!(
                        blocked,
                        "seed {seed}: job {id} cancelled though its writers succeeded"
                    );
                }
                ref other => panic!("seed {seed}: job {id} ended {other:?}"),
            }
        }
    }
    // The seeds exercise every ending: success, failure, no-hang failure, cancellation.
    for ending in [
        "Done ",
        "Failed E",
        "Failed MissingInputError",
        "Cancelled Cancelled",
    ] {
        assert!(
            seen.get(ending).copied().unwrap_or(0) > 0,
            "no job ended {ending:?}: {seen:?}"
        );
    }
}
