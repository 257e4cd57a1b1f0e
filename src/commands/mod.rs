//! One module per subcommand.

pub mod fingerprint;
