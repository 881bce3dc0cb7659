//! Identifiers.
//!
//! Discord ids (snowflakes) are unsigned 64-bit integers; SQL integers are signed. Every snowflake
//! Discord has issued, and every one it will issue before 2084, is below 2^63, so Clocky stores
//! them unchanged as positive `i64` and refuses anything larger rather than wrapping it into a
//! negative number that would sort and print wrongly. This module is the only place where the two
//! representations meet.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a number is not a usable id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// Zero is never a Discord id.
    #[error("0 is not a Discord id")]
    Zero,
    /// Above what a signed 64-bit database column holds.
    #[error("{0} is larger than any Discord id Clocky can store (at most 9223372036854775807)")]
    TooLarge(u64),
    /// A negative number read back from the database, which Clocky never writes.
    #[error("the database holds a negative id, {0}")]
    Negative(i64),
    /// Not a number at all.
    #[error("{0:?} is not a Discord id: expected a number such as 123456789012345678")]
    NotANumber(String),
}

/// Converts a database integer to the unsigned form used everywhere else.
pub fn from_sql(value: i64) -> Result<u64, IdError> {
    u64::try_from(value).map_err(|_| IdError::Negative(value))
}

/// Converts an unsigned id to its database form.
pub fn to_sql(value: u64) -> Result<i64, IdError> {
    i64::try_from(value).map_err(|_| IdError::TooLarge(value))
}

macro_rules! snowflake {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            /// Checks that `value` is a storable Discord id.
            pub fn new(value: u64) -> Result<Self, IdError> {
                if value == 0 {
                    return Err(IdError::Zero);
                }
                to_sql(value)?;
                Ok(Self(value))
            }

            /// Reads a stored id back.
            pub fn from_sql(value: i64) -> Result<Self, IdError> {
                Self::new(from_sql(value)?)
            }

            /// The id as Discord writes it.
            pub fn get(self) -> u64 {
                self.0
            }

            /// The id as the database stores it. Cannot fail: `new` checked the range.
            pub fn sql(self) -> i64 {
                i64::try_from(self.0).unwrap_or(i64::MAX)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, IdError> {
                let value = text.trim().parse::<u64>().map_err(|_| IdError::NotANumber(text.to_owned()))?;
                Self::new(value)
            }
        }
    };
}

snowflake!(
    /// A Discord user.
    UserId
);
snowflake!(
    /// A Discord server (guild).
    ServerId
);

/// Clocky's own id for an export job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Clocky's own id for a work session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub i64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_storable_snowflake_round_trips_exactly() {
        let id = UserId::new(9_223_372_036_854_775_807).unwrap();
        assert_eq!(id.sql(), i64::MAX);
        assert_eq!(UserId::from_sql(id.sql()).unwrap(), id);
        assert_eq!(id.to_string(), "9223372036854775807");
    }

    #[test]
    fn a_real_snowflake_is_kept_digit_for_digit() {
        let id: UserId = "123456789012345678".parse().unwrap();
        assert_eq!(id.get(), 123_456_789_012_345_678);
        assert_eq!(id.sql(), 123_456_789_012_345_678);
    }

    #[test]
    fn out_of_range_and_garbage_ids_are_refused() {
        assert_eq!(UserId::new(0), Err(IdError::Zero));
        assert_eq!(UserId::new(1 << 63), Err(IdError::TooLarge(1 << 63)));
        assert_eq!(UserId::from_sql(-5), Err(IdError::Negative(-5)));
        assert!(matches!(
            "12ab".parse::<ServerId>(),
            Err(IdError::NotANumber(_))
        ));
        assert_eq!(ServerId::new(1).unwrap().get(), 1);
    }
}
