//! The OpenID Provider.

pub mod backchannel;
pub mod end_session;
mod pending_core;
