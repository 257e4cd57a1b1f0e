//! One module per subcommand.

pub mod enforce;
pub mod fingerprint;
pub mod learn;
pub mod live;
pub mod replay;
