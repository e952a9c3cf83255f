//! What is a secret's own among the rules of vault objects ([`crate::object`]): the size of its value.

use crate::error::{Error, Result};

/// Largest secret value, in bytes (Key Vault: 25k).
pub const MAX_VALUE_BYTES: usize = 25 * 1024;

/// Checks a secret value's size.
pub fn validate_value(value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid_input(format_args!(
            "The secret value is {} bytes; the maximum is {MAX_VALUE_BYTES} bytes.",
            value.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_limit_is_in_bytes() {
        assert!(validate_value(&"a".repeat(MAX_VALUE_BYTES)).is_ok());
        assert!(validate_value(&"a".repeat(MAX_VALUE_BYTES + 1)).is_err());
        assert!(validate_value(&"é".repeat(MAX_VALUE_BYTES / 2 + 1)).is_err());
    }
}
