//! How Clocky shows a Discord username.
//!
//! Discord moved most accounts to unique names without a discriminator; those report the
//! discriminator `0`. Accounts that still have one are shown the old way, `name#1234`.

/// Shows a username with its discriminator when it has one: `alice#0042`, or `alice` for `0`.
pub fn display_username(name: &str, discriminator: u16) -> String {
    if discriminator == 0 {
        name.to_owned()
    } else {
        format!("{name}#{discriminator:04}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_style_names_have_no_discriminator() {
        assert_eq!(display_username("alice", 0), "alice");
    }

    #[test]
    fn legacy_names_keep_four_digits() {
        assert_eq!(display_username("alice", 1234), "alice#1234");
        assert_eq!(display_username("bob", 7), "bob#0007");
    }
}
