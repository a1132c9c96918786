//! The registry of named remote apps and its configuration.

pub mod callback;
pub mod config;
pub mod state;
pub mod url;

pub use config::{AppConfig, ClientKwargs, ConfigError, ConfigSources, Overwrite, Protocol, Quirks};
