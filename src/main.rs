//! `botgate --config FILE`: loads the config, starts the gateway, runs until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use botgate::gateway::StartError;
use botgate::{Config, Gateway};
use clap::Parser;

// jemalloc rather than glibc's malloc: the command path allocates and frees small buffers
// per message (JSON values, frames, store rows) and glibc's malloc cost it 5-15 % of its
// throughput in the benchmark; idle memory per connection is the same with both (README,
// "Benchmark").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A message broker for QQ bots: mirai-api-http v2 and OneBot v11 in front of any bot source.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, default_value = "config.yaml")]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Ask the running gateway's `/healthz` (on the configured `server:` listener) and exit 0
    /// if it answers 200; for container health checks.
    #[arg(long, conflicts_with = "check")]
    healthcheck: bool,
}

/// GETs `/healthz` on the `server:` listener of `config`.
async fn probe_health(config: &Config) -> Result<(), String> {
    let host = match config.server.host.as_str() {
        "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h => h,
    };
    let url = format!("http://{host}:{}/healthz", config.server.port);
    let client = awc::Client::builder().timeout(std::time::Duration::from_secs(3)).finish();
    let resp = client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", resp.status()))
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("botgate: {}: {e}", cli.config.display());
            return ExitCode::from(2);
        }
    };
    if cli.check {
        println!("{}: ok", cli.config.display());
        return ExitCode::SUCCESS;
    }
    if cli.healthcheck {
        return match actix_web::rt::System::new().block_on(probe_health(&config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("botgate: unhealthy: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let result = actix_web::rt::System::new().block_on(async move {
        // A key that proves unusable only at start-up (a data_dir that cannot be written) is
        // a config error like any other: exit code 2.
        let gateway = Gateway::start(config).await.map_err(|e| {
            let code = if matches!(e, StartError::Config(_)) { 2 } else { 1 };
            (code, e.to_string())
        })?;
        gateway.run_until_stopped().await.map_err(|e| (1, e.to_string()))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            eprintln!("botgate: {e}");
            ExitCode::from(code)
        }
    }
}
