#![recursion_limit = "256"]
//! `chatrixcd`: a Matrix ChatOps bot for Semaphore UI.
//!
//! This crate is the only one that knows every adapter: it reads the command line, wires the
//! adapters into the domain and runs the event loop.

mod access_config;
mod check;
mod config;
mod demo;
mod export;
mod logging;
mod login;
mod migrate_config;
mod serve;
mod sim;
mod verify;
mod webhook_config;
mod webhook_test;

use std::process::ExitCode;

use chatrixcd::{runtime, wiring};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "chatrixcd", version, about = "A Matrix ChatOps bot for Semaphore UI", long_about = None, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole bot in this terminal against a simulated Semaphore: no configuration needed
    /// (the default when no command is given).
    Demo(demo::DemoArgs),
    /// Run the bot on Matrix with the given configuration.
    Run(serve::RunArgs),
    /// Serve a simulated Semaphore UI over HTTP (REST and websocket), seeded with the demo data,
    /// for trying clients and for tests.
    SimSemaphore(sim::SimArgs),
    /// Write what the bot keeps (run history, audit log) as CSV to stdout.
    Export(export::ExportArgs),
    /// Validate a configuration file and reach Matrix and every Semaphore instance; each problem
    /// is named by its key.
    Check(check::CheckArgs),
    /// Work on a configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Log in to Matrix by single sign-on (once); `run` reuses the saved session.
    Login(login::LoginArgs),
    /// End-to-end encryption from the terminal: status, emoji verification, recovery key. The bot
    /// must be stopped meanwhile.
    Verify(verify::VerifyArgs),
    /// The webhook endpoint: send a signed test delivery to the running bot.
    #[command(subcommand)]
    Webhook(webhook_test::WebhookCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Rewrite ChatrixCD's `semaphore` section as the instance `default` of
    /// `semaphore_instances`, keeping every comment; the old file stays as `<file>.backup`.
    Migrate(migrate_config::MigrateArgs),
}

/// deser-hjson panics on some texts; `chatrixcd_domain::hjson::from_str` catches that and says the
/// file cannot be read. The default panic hook would first print the panic's message to stderr,
/// and the standard library's message for a bad slice quotes up to 256 bytes of the text: the
/// top of a config.json, the Matrix password with it. Those panics stay silent; any other
/// prints as before.
fn quiet_hjson_reader_panics() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|at| at.file().contains("deser-hjson-")) {
            print(info);
        }
    }));
}

// A fatal error before logging is set up can only be told on stderr.
#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    quiet_hjson_reader_panics();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chatrixcd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            // ChatrixCD's habit: `chatrixcd` in a directory with a config.json runs the bot.
            None if std::path::Path::new("config.json").exists() => serve::run(serve::RunArgs::default()).await,
            None => demo::run(demo::DemoArgs::default()).await,
            Some(Command::Demo(args)) => demo::run(args).await,
            Some(Command::Run(args)) => serve::run(args).await,
            Some(Command::SimSemaphore(args)) => sim::run(args).await,
            Some(Command::Export(args)) => export::run(args).await,
            Some(Command::Login(args)) => login::run(args).await,
            Some(Command::Verify(args)) => verify::run(args).await,
            Some(Command::Webhook(command)) => webhook_test::run(command).await,
            Some(Command::Config(ConfigCommand::Migrate(args))) => migrate_config::run(&args),
            Some(Command::Check(args)) => match check::run(args).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!("the check found problems (see above)")),
                Err(e) => Err(e),
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatrixcd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// A secret on the command line is in the process list, which every user of the machine
    /// can read: each flag that takes a token can be given by a variable instead, whose value
    /// `--help` does not print.
    #[test]
    fn every_token_flag_can_come_from_the_environment() {
        let cli = Cli::command();
        let mut seen = Vec::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments().filter(|a| a.get_id().as_str().contains("token")) {
                let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default().to_owned();
                assert!(env.starts_with("CHATRIXCD_"), "{} --{}: no variable", sub.get_name(), arg.get_id());
                assert!(
                    arg.is_hide_env_values_set(),
                    "{} --{}: --help would print its value",
                    sub.get_name(),
                    arg.get_id()
                );
                seen.push(format!("{} {env}", sub.get_name()));
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            ["demo CHATRIXCD_SEMAPHORE_TOKEN", "login CHATRIXCD_LOGIN_TOKEN", "sim-semaphore CHATRIXCD_SIM_TOKEN"]
        );
    }
}
