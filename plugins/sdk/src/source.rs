//! Reading the user's rows.
//!
//! The host answers in pages, with an opaque cursor from one page to the next. [`sessions`] and
//! [`breaks`] hide that: they are iterators that fetch the next page when the last one is used
//! up, so a plugin never holds more than one page and never touches a cursor.

use crate::{
    BreakPage, BreakRecord, Profile, QueryError, ServerRecord, SessionPage, SessionRecord,
};

/// How many rows the iterators ask for per page. The host may return fewer (its cap is 500
/// unless the operator changed it); the iterators follow whatever it returns.
pub const PAGE_SIZE: u32 = 500;

/// The host's queries, as the `user-data` interface defines them. [`Host`] answers them in a
/// component and [`Fixture`](crate::Fixture) in tests; a plugin's code takes `impl UserData` so
/// that both work.
pub trait UserData {
    /// The user's profile.
    fn profile(&mut self) -> Result<Profile, QueryError>;
    /// A page of sessions with their breaks, by check-in.
    fn sessions(&mut self, after: Option<&str>, limit: u32) -> Result<SessionPage, QueryError>;
    /// A page of breaks, by start.
    fn breaks(&mut self, after: Option<&str>, limit: u32) -> Result<BreakPage, QueryError>;
    /// The servers the user has sessions in.
    fn servers(&mut self) -> Result<Vec<ServerRecord>, QueryError>;
}

/// The capability the host bound to the requesting user, reached through the component's
/// imports. Only usable inside a component; in a native build every call is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Host;

#[cfg(target_arch = "wasm32")]
impl UserData for Host {
    fn profile(&mut self) -> Result<Profile, QueryError> {
        crate::bindings::clocky::plugin::user_data::get_profile()
    }

    fn sessions(&mut self, after: Option<&str>, limit: u32) -> Result<SessionPage, QueryError> {
        crate::bindings::clocky::plugin::user_data::sessions(after, limit)
    }

    fn breaks(&mut self, after: Option<&str>, limit: u32) -> Result<BreakPage, QueryError> {
        crate::bindings::clocky::plugin::user_data::breaks(after, limit)
    }

    fn servers(&mut self) -> Result<Vec<ServerRecord>, QueryError> {
        crate::bindings::clocky::plugin::user_data::servers()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl UserData for Host {
    fn profile(&mut self) -> Result<Profile, QueryError> {
        Err(QueryError::Unavailable)
    }

    fn sessions(&mut self, _: Option<&str>, _: u32) -> Result<SessionPage, QueryError> {
        Err(QueryError::Unavailable)
    }

    fn breaks(&mut self, _: Option<&str>, _: u32) -> Result<BreakPage, QueryError> {
        Err(QueryError::Unavailable)
    }

    fn servers(&mut self) -> Result<Vec<ServerRecord>, QueryError> {
        Err(QueryError::Unavailable)
    }
}

/// Every session of the user, oldest check-in first, each with its breaks. Stops after the
/// first error, which it yields.
pub fn sessions<S: UserData>(source: &mut S) -> Pages<'_, S, SessionRecord> {
    Pages::new(source, |source, after| {
        source
            .sessions(after, PAGE_SIZE)
            .map(|page| (page.sessions, page.next))
    })
}

/// Every break of the user across all sessions, earliest start first. Stops after the first
/// error, which it yields.
pub fn breaks<S: UserData>(source: &mut S) -> Pages<'_, S, BreakRecord> {
    Pages::new(source, |source, after| {
        source
            .breaks(after, PAGE_SIZE)
            .map(|page| (page.breaks, page.next))
    })
}

type Fetch<S, T> = fn(&mut S, Option<&str>) -> Result<(Vec<T>, Option<String>), QueryError>;

/// Rows read page by page; see [`sessions`] and [`breaks`], and for server-wide plugins
/// [`server::sessions`](crate::server::sessions) and [`server::members`](crate::server::members).
#[derive(Debug)]
pub struct Pages<'s, S, T> {
    source: &'s mut S,
    fetch: Fetch<S, T>,
    page: std::vec::IntoIter<T>,
    /// Where the next page starts: `Some(None)` before the first page, `None` after the last.
    next: Option<Option<String>>,
}

impl<'s, S, T> Pages<'s, S, T> {
    pub(crate) fn new(source: &'s mut S, fetch: Fetch<S, T>) -> Self {
        Pages {
            source,
            fetch,
            page: Vec::new().into_iter(),
            next: Some(None),
        }
    }
}

impl<S, T> Iterator for Pages<'_, S, T> {
    type Item = Result<T, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.page.next() {
                return Some(Ok(row));
            }
            let after = self.next.take()?;
            match (self.fetch)(self.source, after.as_deref()) {
                Ok((rows, next)) => {
                    // An empty page ends the walk even if the host offers a cursor, so a host
                    // bug cannot make a plugin loop.
                    if !rows.is_empty() {
                        self.next = next.map(Some);
                    }
                    self.page = rows.into_iter();
                }
                Err(error) => return Some(Err(error)),
            }
        }
    }
}
