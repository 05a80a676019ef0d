//! The `dealflow` command. All the work is in the library; this parses
//! arguments, prints, and turns outcomes into exit codes.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
