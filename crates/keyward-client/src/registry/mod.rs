//! The registry of named remote apps ([`OAuth`], [`RemoteApp`]): one API over OAuth 1.0a,
//! OAuth 2.0 and OpenID Connect, its configuration, the flow state kept between redirect
//! and callback, and the token hooks.

mod app;
pub mod config;
mod drivers;
mod error;
mod fixes;
mod fleet;
mod logout;
mod request;
pub mod state;
mod token;
pub mod url;

pub use crate::flow::callback;
pub use crate::flow::{Callback, CallbackError};
pub use app::{AppHooks, OAuth, OAuthBuilder, Redirect, RemoteApp};
pub use config::{AppConfig, ClientKwargs, ConfigError, ConfigSources, Overwrite, Protocol, Quirks};
pub use error::{Error, ErrorKind};
pub use fixes::{FixHooks, slack_token_response};
pub use fleet::{
    DEFAULT_REFRESH_LOCK_TTL, DEFAULT_REFRESH_LOCK_WAIT, FleetRefresh, MemoryRefreshLock, RefreshLock,
    RefreshLockError,
};
pub use logout::{
    BackchannelLogout, BackchannelLogoutDone, BackchannelReceiver, BackchannelRejection, LOGINS_KEY,
    MAX_BACKCHANNEL_BYTES, SessionLogin,
};
pub use request::ApiRequest;
pub use state::{StateCacheError, StateError, StateStore};
pub use token::{AppToken, FetchToken, HookError, OAuth1Token, TokenUpdate, UpdateToken};
