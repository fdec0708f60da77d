//! PLACEHOLDER until the real module lands (being written separately).
#![allow(missing_docs, unused)]
use bytes::BytesMut;
#[derive(Debug, Clone)]
pub struct DeflateConfig {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
    pub compression_level: u32,
    pub min_compress_size: usize,
}
impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            compression_level: 1,
            min_compress_size: 32,
        }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}
#[derive(Debug, thiserror::Error)]
pub enum DeflateError {
    #[error("corrupt")]
    Corrupt,
    #[error("too big")]
    TooBig { limit: usize },
    #[error("negotiation")]
    Negotiation(String),
}
pub fn server_negotiate(_offers: &str, _config: &DeflateConfig) -> Option<(DeflateParams, String)> {
    None
}
pub fn client_offer(_config: &DeflateConfig) -> String {
    String::new()
}
pub fn client_negotiate(
    _response: &str,
    _config: &DeflateConfig,
) -> Result<DeflateParams, DeflateError> {
    Err(DeflateError::Negotiation("unsupported".into()))
}
#[derive(Debug)]
pub struct PerMessageDeflate;
impl PerMessageDeflate {
    pub fn new(_role: crate::Role, _params: DeflateParams, _config: &DeflateConfig) -> Self {
        PerMessageDeflate
    }
    pub fn should_compress(&self, _len: usize) -> bool {
        false
    }
    pub fn compress(&mut self, _payload: &[u8], _out: &mut BytesMut) -> Result<(), DeflateError> {
        Err(DeflateError::Corrupt)
    }
    pub fn decompress(
        &mut self,
        _p: &[u8],
        _fin: bool,
        _max: usize,
        _out: &mut BytesMut,
    ) -> Result<(), DeflateError> {
        Err(DeflateError::Corrupt)
    }
}
