//! The progress line rank 0 draws on a terminal while jobs run: done, running,
//! waiting, failed, of the total. Off when stderr is not a terminal or with
//! `--quiet`. It reads the coordinator's counts; it never touches MPI or Python.

use crate::coordinator::Shared;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Redraw period of the progress line.
const REFRESH: Duration = Duration::from_millis(200);

pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts the progress line if stderr is a terminal and `quiet` is off.
    pub fn start(coordinator: Shared, quiet: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vesper-progress".into())
            .spawn(move || draw(coordinator, flag))
            .ok();
        Progress { stop, thread }
    }

    /// Clears the line and stops drawing.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn draw(coordinator: Shared, stop: Arc<AtomicBool>) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("vesper {bar:30} {pos}/{len} jobs {msg} [{elapsed}]")
            .expect("valid template"),
    );
    while !stop.load(Ordering::SeqCst) {
        let (counts, workers) = coordinator.counts();
        let total: u64 = counts.iter().sum();
        if total > 0 {
            let finished = counts[3] + counts[4] + counts[5] + counts[6];
            bar.set_length(total);
            bar.set_position(finished);
            bar.set_message(format!(
                "| {} running, {} waiting, {} failed, {} cancelled | {workers} workers",
                counts[2],
                counts[0] + counts[1],
                counts[4],
                counts[5]
            ));
        }
        std::thread::sleep(REFRESH);
    }
    bar.finish_and_clear();
}
