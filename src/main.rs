//! The `blankroot` binary: parse arguments, run, print errors as `error:`/`caused by:`/`hint:`
//! and exit with the error's code (2 input, 3 environment, 4 external command, 1 other).

use clap::Parser;

fn main() {
    let cli = blankroot::cli::Cli::parse();
    if let Err(e) = blankroot::cli::run(cli) {
        eprintln!("{}", e.render());
        std::process::exit(e.kind.exit_code());
    }
}
