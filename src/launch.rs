//! Starting a rank: check the command line's inputs, start MPI on the engine
//! thread (spawning workers when there is no launcher), pin the process, open the
//! block store, then run Python on the main thread (the script on rank 0, the task
//! loop on workers) while the engine serves MPI. Returns the exit status.

use crate::cli::RunArgs;
use crate::config::Config;
use crate::coordinator::{Coordinator, Shared};
use crate::dfs::store::BlockStore;
use crate::engine::{self, DataNode, EngineHandle};
use crate::progress::Progress;
use crate::protocol::{Message, WorkerInfo, PROTOCOL_VERSION};
use crate::py::{self, Runtime};
use crate::topology;
use crate::transport::{self, BufferPool, Transport};
use crate::worker::WorkerNode;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// Exit status for bad usage (as clap uses).
pub const EXIT_USAGE: i32 = 2;

struct Setup {
    coordinator: Option<Shared>,
    rank: u32,
    size: Arc<std::sync::atomic::AtomicU32>,
    store: Arc<BlockStore>,
    pool: BufferPool,
    temporary_root: Option<PathBuf>,
}

fn print_once(message: &str) {
    if transport::launcher_rank().unwrap_or(0) == 0 {
        eprintln!("vesper: {message}");
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("vesper={level}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("vesper=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn check_script(script: &Option<PathBuf>, interactive: bool) -> Result<(), String> {
    match script {
        None if interactive => Ok(()),
        None => Err(
            "no script given: run `vesper SCRIPT.py [ARGS...]`, or `vesper -i` for a prompt".into(),
        ),
        Some(path) => match std::fs::File::open(path) {
            Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => Ok(()),
            Ok(_) => Err(format!("cannot run {}: it is not a file", path.display())),
            Err(error) => Err(format!("cannot read script {}: {error}", path.display())),
        },
    }
}

fn spawn_count(config: &Config) -> u32 {
    if transport::launched_by_launcher() {
        return config.workers.unwrap_or(0);
    }
    config
        .workers
        .unwrap_or_else(|| topology::node_info().cores.max(1))
}

fn storage_root(config: &Config) -> std::io::Result<(PathBuf, Option<PathBuf>)> {
    if let Some(root) = &config.dfs_root {
        std::fs::create_dir_all(root)?;
        return Ok((root.clone(), None));
    }
    let tag = std::env::var("SLURM_JOB_ID")
        .map(|id| format!("slurm{id}-"))
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("vesper-{tag}{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok((dir.clone(), Some(dir)))
}

pub fn run(args: RunArgs) -> i32 {
    init_logging(&args.log_level);
    let config = args.config();
    if let Err(message) = check_script(&args.script, args.interactive) {
        print_once(&message);
        return EXIT_USAGE;
    }
    if let Some(root) = &config.dfs_root {
        if let Err(error) = std::fs::create_dir_all(root) {
            print_once(&format!(
                "cannot use --dfs-root {}: {error}",
                root.display()
            ));
            return EXIT_USAGE;
        }
    }
    let (setup_sender, setup_receiver) = crossbeam_channel::bounded::<Result<Setup, String>>(1);
    let (local_sender, local_receiver) = crossbeam_channel::unbounded();
    let (task_sender, task_receiver) = crossbeam_channel::unbounded();
    let engine_config = config.clone();
    let spawn = spawn_count(&config);
    let engine_thread = std::thread::Builder::new()
        .name("vesper-engine".into())
        .spawn(move || {
            engine_main(
                engine_config,
                spawn,
                setup_sender,
                local_receiver,
                task_sender,
            )
        })
        .expect("the engine thread starts");
    let setup = match setup_receiver.recv() {
        Ok(Ok(setup)) => setup,
        Ok(Err(message)) => {
            print_once(&message);
            return 1;
        }
        Err(_) => return 1,
    };
    let quiet = config.quiet;
    let runtime = Runtime {
        engine: EngineHandle::new(local_sender, engine_thread.thread().clone()),
        rank: setup.rank,
        size: setup.size,
        store: setup.store,
        config,
        tasks: (setup.rank != 0).then_some(task_receiver),
        pool: setup.pool,
        progress: std::sync::Mutex::new(
            setup
                .coordinator
                .clone()
                .map(|coordinator| Progress::start(coordinator, quiet)),
        ),
        coordinator: setup.coordinator,
    };
    let status = if setup.rank == 0 {
        py::run_scheduler(
            runtime,
            args.script.clone(),
            args.args.clone(),
            args.interactive,
        )
    } else {
        py::run_worker(runtime);
        0
    };
    let _ = engine_thread.join();
    if let Some(root) = setup.temporary_root {
        let _ = std::fs::remove_dir_all(root);
    }
    status
}

fn engine_main(
    config: Config,
    spawn: u32,
    setup: crossbeam_channel::Sender<Result<Setup, String>>,
    locals: crossbeam_channel::Receiver<engine::Local>,
    tasks: crossbeam_channel::Sender<Option<crate::protocol::Task>>,
) {
    engine::block_python_signals();
    let mut transport = match Transport::start(spawn) {
        Ok(transport) => transport,
        Err(error) => {
            let _ = setup.send(Err(format!("{error:#}")));
            return;
        }
    };
    let share = topology::pin(transport.local_rank(), transport.local_size(), config.pin);
    if !share.pinned && config.pin != crate::config::PinMode::None {
        tracing::warn!(
            "rank {} could not be pinned to its cores (no usable topology); it runs unpinned",
            transport.rank()
        );
    }
    let rank = transport.rank();
    let ranks = transport.size();
    let opened = storage_root(&config).and_then(|(root, temporary)| {
        Ok((
            Arc::new({
                let mut store = BlockStore::open(&root, rank, temporary.is_none())?;
                if temporary.is_none() {
                    store.adopt(&root, ranks);
                }
                store
            }),
            temporary,
        ))
    });
    let (store, temporary_root) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            let _ = setup.send(Err(format!(
                "cannot open the DFS block store on rank {rank}: {error}"
            )));
            transport.abort(1);
        }
    };
    let pool = transport.pool();
    let coordinator = if rank == 0 {
        match Coordinator::new(config.clone(), transport.size(), store.clone(), &transport) {
            Ok(node) => Some(Shared::new(node)),
            Err(error) => {
                let _ = setup.send(Err(format!("cannot open the DFS journal: {error}")));
                transport.abort(1);
            }
        }
    } else {
        None
    };
    let _ = setup.send(Ok(Setup {
        coordinator: coordinator.clone(),
        rank,
        size: transport.size_handle(),
        store: store.clone(),
        pool: pool.clone(),
        temporary_root,
    }));
    if let Some(mut node) = coordinator {
        engine::run(&mut transport, &mut node, &locals);
    } else {
        let info = WorkerInfo {
            rank,
            host: topology::hostname(),
            cores: share.cores,
            memory_bytes: share.memory_bytes,
            gpus: share.gpus,
            pid: std::process::id(),
            cpuset: share.cpuset,
            busy: false,
        };
        let held_blocks = if config.dfs_root.is_some() {
            store.held()
        } else {
            Vec::new()
        };
        transport.send(
            0,
            &Message::Hello {
                protocol_version: PROTOCOL_VERSION,
                info,
                held_blocks,
            },
        );
        let mut node = WorkerNode::new(DataNode::new(store, rank, pool), tasks);
        engine::run(&mut transport, &mut node, &locals);
    }
    // MPI_Finalize waits for every rank and the launcher; if the launcher is gone
    // (mpirun killed) it would wait forever. No rank may be left running.
    std::thread::spawn(|| {
        std::thread::sleep(FINALIZE_TIMEOUT);
        exit_now(EXIT_STATUS.load(Ordering::SeqCst));
    });
    drop(transport);
    if rank != 0 {
        // A worker whose Python thread is stuck in a job must still leave.
        std::thread::spawn(|| {
            std::thread::sleep(FINALIZE_TIMEOUT);
            exit_now(0);
        });
    }
}

/// How long finalising MPI (and a worker's last job) may take before the rank leaves anyway.
const FINALIZE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The status rank 0 will exit with, known before MPI is finalised.
pub static EXIT_STATUS: AtomicI32 = AtomicI32::new(0);

fn exit_now(status: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit ends the process at once; nothing else is needed.
    unsafe { libc::_exit(status) }
}

/// `vesper info`: what this node looks like and how local ranks would be pinned.
pub fn info() -> i32 {
    let node = topology::node_info();
    println!("host:            {}", node.host);
    println!(
        "cores:           {} ({} hardware threads)",
        node.cores, node.pus
    );
    println!(
        "memory:          {:.1} GiB",
        node.memory_bytes as f64 / (1u64 << 30) as f64
    );
    println!("gpus:            {}", node.gpus);
    println!("allowed cpuset:  {}", node.allowed_cpuset);
    println!("this process:    {}", node.process_cpuset);
    println!("mpi library:     {}", transport::library_version());
    println!("mpi standard:    {}", transport::standard_version());
    match Transport::start(0) {
        Ok(transport) => {
            println!("thread level:    {}", transport.threading_name());
            let local_size = if transport.local_size() > 1 {
                transport.local_size()
            } else {
                node.cores.max(1)
            };
            println!("pinning (auto) of {local_size} local ranks:");
            for local in 0..local_size {
                let plan = topology::plan_share(local, local_size, crate::config::PinMode::Auto);
                match plan {
                    Some((set, cores)) => {
                        println!("  local rank {local}: {cores} cores, cpuset {set}")
                    }
                    None => println!("  local rank {local}: not pinned (no topology)"),
                }
            }
        }
        Err(error) => println!("thread level:    unknown ({error})"),
    }
    println!(
        "vesper:          {} (protocol {PROTOCOL_VERSION})",
        env!("CARGO_PKG_VERSION")
    );
    0
}
