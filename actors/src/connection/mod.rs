//! Connection actors.
