//! The `vesper` binary: parse the command line and hand over to `launch`.

use vesper::cli::{self, Command};

fn main() {
    let status = match cli::parse() {
        Command::Run(args) => vesper::launch::run(*args),
        Command::Info => vesper::launch::info(),
        Command::Dfs(args) => vesper::dfs::offline::run(args),
    };
    std::process::exit(status);
}
