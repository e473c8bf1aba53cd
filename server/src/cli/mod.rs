//! The tool subcommands of `fractal` (pcs-id, canonical, sign, verify, keygen, ring).

/// Tool subcommands.
#[derive(clap::Subcommand)]
pub enum ToolCommand {}

impl ToolCommand {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {}
    }
}
