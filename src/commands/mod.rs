//! One module per subcommand.

pub mod fingerprint;
pub mod learn;
pub mod replay;
