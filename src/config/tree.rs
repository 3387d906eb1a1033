//! (being written)
use super::{Config, ConfigError};
use std::path::Path;
pub fn load_file(_path: &Path, _base: &Path) -> Result<Config, ConfigError> { unimplemented!() }
pub fn load_text(_t: &str, _n: &Path, _base: &Path) -> Result<Config, ConfigError> { unimplemented!() }
