//! The `blankroot` binary: parse arguments, run, print errors as `error:`/`caused by:`/`hint:`
//! and exit with the error's code (`blankroot --help` lists them: 2 input, 3 environment,
//! 4 external command, 5 output not written, 141 output closed by its reader, 1 other).

use blankroot::output;
use clap::Parser;

fn main() {
    let code = match blankroot::cli::Cli::try_parse() {
        Ok(cli) => match blankroot::cli::run(cli) {
            Ok(()) => 0,
            Err(e) => output::exit_code_after_report(&e),
        },
        Err(e) => blankroot::cli::clap_exit(&e),
    };
    std::process::exit(code);
}
