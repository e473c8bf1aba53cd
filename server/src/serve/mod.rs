//! `fractal serve`.

/// Options of `fractal serve`.
#[derive(clap::Args)]
pub struct ServeArgs {}

/// Runs the server until SIGTERM.
pub fn run(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("the server is not built yet in this commit")
}
