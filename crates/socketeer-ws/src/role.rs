//! [`Role`]: which end of a connection an endpoint is.

/// Which end of the connection this endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts connections; receives masked frames, sends unmasked ones.
    Server,
    /// Opens connections; masks every frame it sends.
    Client,
}
