//! What a run did, for `--report run.html` and `--trace run.json`: the coordinator
//! records one event per job attempt and per map-reduce chunk (only when a flag
//! asks for it), plus run-wide counters, and this module renders them. It does no
//! I/O and knows nothing of MPI or Python: `render_trace` and `render_html` return
//! strings the coordinator writes.

use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap};

/// One job attempt or map-reduce chunk, as it ran on a worker.
#[derive(Clone, Debug)]
pub struct Event {
    /// "job" or "chunk".
    pub kind: &'static str,
    pub name: String,
    pub id: u64,
    pub attempt: u32,
    pub worker: u32,
    /// Microseconds since the run started.
    pub start_us: u64,
    pub duration_us: u64,
    /// "done", "failed" (an attempt that raised, retried or not).
    pub outcome: &'static str,
    pub error: String,
}

/// A job's place in the DAG, for the critical path.
#[derive(Clone, Debug, Default)]
pub struct JobNode {
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub state: String,
}

/// Everything the report shows.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub command_line: String,
    pub vesper_version: String,
    pub mpi_version: String,
    pub wall_s: f64,
    pub workers: Vec<(u32, String)>,
    pub events: Vec<Event>,
    pub jobs: BTreeMap<u64, JobNode>,
    /// Jobs per state: waiting, ready, running, done, failed, cancelled, skipped.
    pub counts: [u64; 7],
    pub dfs_bytes_written: u64,
    pub dfs_bytes_read_local: u64,
    pub dfs_bytes_read_remote: u64,
    pub userview_operations: u64,
}

/// Records events while the run goes on.
#[derive(Default)]
pub struct Recorder {
    pub run: Run,
}

impl Recorder {
    pub fn record(&mut self, event: Event) {
        self.run.events.push(event);
    }
}

/// The longest chain of successful jobs linked by files, by run time: (names, seconds).
pub fn critical_path(run: &Run) -> (Vec<String>, f64) {
    let mut duration: HashMap<u64, u64> = HashMap::new();
    for event in run
        .events
        .iter()
        .filter(|e| e.kind == "job" && e.outcome == "done")
    {
        duration.insert(event.id, event.duration_us);
    }
    let producer: HashMap<&str, u64> = run
        .jobs
        .iter()
        .flat_map(|(id, job)| job.outputs.iter().map(move |path| (path.as_str(), *id)))
        .collect();
    // Longest path ending at each job; jobs may be submitted before their producers,
    // so this walks the DAG with memoisation rather than in id order.
    let mut best: HashMap<u64, (u64, Option<u64>)> = HashMap::new();
    fn visit(
        id: u64,
        run: &Run,
        producer: &HashMap<&str, u64>,
        duration: &HashMap<u64, u64>,
        best: &mut HashMap<u64, (u64, Option<u64>)>,
        depth: usize,
    ) -> u64 {
        if let Some((total, _)) = best.get(&id) {
            return *total;
        }
        let own = duration.get(&id).copied().unwrap_or(0);
        let mut longest = (0, None);
        if depth < 100_000 {
            for path in run
                .jobs
                .get(&id)
                .map(|j| j.inputs.as_slice())
                .unwrap_or(&[])
            {
                if let Some(&before) = producer.get(path.as_str()) {
                    if before != id {
                        let total = visit(before, run, producer, duration, best, depth + 1);
                        if total > longest.0 {
                            longest = (total, Some(before));
                        }
                    }
                }
            }
        }
        best.insert(id, (own + longest.0, longest.1));
        own + longest.0
    }
    let mut end = None;
    let mut end_total = 0;
    for id in run.jobs.keys() {
        let total = visit(*id, run, &producer, &duration, &mut best, 0);
        if total > end_total {
            end_total = total;
            end = Some(*id);
        }
    }
    let mut names = Vec::new();
    while let Some(id) = end {
        names.push(
            run.jobs
                .get(&id)
                .map(|j| j.name.clone())
                .unwrap_or_default(),
        );
        end = best.get(&id).and_then(|(_, before)| *before);
    }
    names.reverse();
    (names, end_total as f64 / 1e6)
}

fn summary(run: &Run) -> Json {
    let mut busy: BTreeMap<u32, u64> = BTreeMap::new();
    for event in &run.events {
        *busy.entry(event.worker).or_default() += event.duration_us;
    }
    let retries = run
        .events
        .iter()
        .filter(|e| e.kind == "job" && e.attempt > 1)
        .count();
    let (path, path_s) = critical_path(run);
    let c = run.counts;
    json!({
        "jobs": {"waiting": c[0], "ready": c[1], "running": c[2], "done": c[3], "failed": c[4],
                 "cancelled": c[5], "skipped": c[6]},
        "retries": retries,
        "busy_s_total": busy.values().sum::<u64>() as f64 / 1e6,
        "busy_s_by_worker": busy.iter().map(|(w, us)| (w.to_string(), *us as f64 / 1e6)).collect::<BTreeMap<_, _>>(),
        "critical_path": path,
        "critical_path_s": path_s,
        "dfs": {"bytes_written": run.dfs_bytes_written, "bytes_read_local": run.dfs_bytes_read_local,
                "bytes_read_remote": run.dfs_bytes_read_remote},
        "userview_operations": run.userview_operations,
        "command_line": run.command_line,
        "vesper_version": run.vesper_version,
        "mpi_version": run.mpi_version,
        "wall_s": run.wall_s,
        "workers": run.workers.iter().map(|(r, h)| json!({"rank": r, "host": h})).collect::<Vec<_>>(),
    })
}

/// The Chrome trace-event format (Perfetto, chrome://tracing): one complete event
/// ("ph": "X") per job attempt and chunk, one thread lane per worker.
pub fn render_trace(run: &Run) -> String {
    let mut events: Vec<Json> = run
        .events
        .iter()
        .map(|e| {
            json!({"name": e.name, "cat": e.kind, "ph": "X", "ts": e.start_us, "dur": e.duration_us,
                   "pid": 0, "tid": e.worker,
                   "args": {"id": e.id, "attempt": e.attempt, "outcome": e.outcome, "error": e.error}})
        })
        .collect();
    for (rank, host) in &run.workers {
        events.push(
            json!({"name": "thread_name", "ph": "M", "pid": 0, "tid": rank,
                           "args": {"name": format!("worker {rank} ({host})")}}),
        );
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms", "otherData": summary(run)}).to_string()
}

/// A self-contained HTML page: the data inline as JSON, drawn by inline script as
/// SVG (no network, no library).
pub fn render_html(run: &Run) -> String {
    let data = json!({
        "summary": summary(run),
        "events": run.events.iter().map(|e| json!({
            "kind": e.kind, "name": e.name, "id": e.id, "attempt": e.attempt, "worker": e.worker,
            "start": e.start_us, "dur": e.duration_us, "outcome": e.outcome, "error": e.error,
        })).collect::<Vec<_>>(),
    });
    // Inside <script>, "</" would end the element: escape it.
    let data = data.to_string().replace("</", "<\\/");
    TEMPLATE.replace("__VESPER_DATA__", &data)
}

const TEMPLATE: &str = include_str!("report.html");

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        id: u64,
        worker: u32,
        start_us: u64,
        duration_us: u64,
        outcome: &'static str,
    ) -> Event {
        Event {
            kind: "job",
            name: format!("j{id}"),
            id,
            attempt: 1,
            worker,
            start_us,
            duration_us,
            outcome,
            error: String::new(),
        }
    }

    fn node(name: &str, inputs: &[&str], outputs: &[&str]) -> JobNode {
        JobNode {
            name: name.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            state: "done".into(),
        }
    }

    #[test]
    fn the_critical_path_follows_the_longest_chain_of_files() {
        let mut run = Run::default();
        run.jobs.insert(1, node("a", &[], &["/a"]));
        run.jobs.insert(2, node("fast", &["/a"], &["/b"]));
        run.jobs.insert(3, node("slow", &["/a"], &["/c"]));
        run.jobs.insert(4, node("end", &["/b", "/c"], &[]));
        run.events = vec![
            event(1, 1, 0, 10, "done"),
            event(2, 1, 10, 5, "done"),
            event(3, 2, 10, 50, "done"),
            event(4, 1, 60, 1, "done"),
        ];
        let (path, seconds) = critical_path(&run);
        assert_eq!(path, vec!["a", "slow", "end"]);
        assert!((seconds - 61e-6).abs() < 1e-12);
    }

    #[test]
    fn the_trace_has_one_complete_event_per_attempt() {
        let run = Run {
            workers: vec![(1, "h".into())],
            events: vec![event(1, 1, 0, 10, "failed"), event(1, 1, 20, 10, "done")],
            ..Run::default()
        };
        let trace: Json = serde_json::from_str(&render_trace(&run)).unwrap();
        let complete = trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .count();
        assert_eq!(complete, 2);
    }

    #[test]
    fn html_is_self_contained_and_escapes_script_ends() {
        let failed = Event {
            error: "</script><b>".into(),
            ..event(1, 1, 0, 1, "failed")
        };
        let run = Run {
            events: vec![failed],
            ..Run::default()
        };
        let html = render_html(&run);
        assert!(!html.contains("</script><b>"));
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    }
}
