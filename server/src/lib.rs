//! The Fractal LBA reference server and the `fractal` tool's commands.

pub mod cli;
pub mod serve;
