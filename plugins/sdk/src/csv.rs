//! CSV documents that are safe to open in a spreadsheet.
//!
//! Quoting and escaping are the `csv` crate's: a cell with a comma, a quote or a line break is
//! quoted, and quotes inside it are doubled. Lines end in CRLF, as RFC 4180 asks.
//!
//! A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` as a formula, and some also
//! treat a leading tab or carriage return that way. Server and user names are chosen by other
//! people, so a name like `=HYPERLINK(...)` could run in the reader's spreadsheet. Every cell
//! that begins with one of those characters is written with a leading apostrophe, which
//! spreadsheets show as text. Clocky's own numbers, dates and times never begin with one.

use crate::ExportError;

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as it is safe to write: unchanged, or with an apostrophe before a formula start.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A CSV document being written in memory, header first.
#[derive(Debug)]
pub struct CsvDocument {
    writer: ::csv::Writer<Vec<u8>>,
    columns: usize,
    rows: u64,
}

impl CsvDocument {
    /// Starts a document with `header` as its first row.
    pub fn new(header: &[&str]) -> Result<CsvDocument, ExportError> {
        let writer = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::CRLF)
            .from_writer(Vec::new());
        let mut document = CsvDocument {
            writer,
            columns: header.len(),
            rows: 0,
        };
        document.write(header.iter().copied())?;
        Ok(document)
    }

    /// Appends one row; every cell is [neutralised](neutralise). A row with another number of
    /// cells than the header is a bug in the plugin and fails the export.
    pub fn row<'c>(&mut self, cells: impl IntoIterator<Item = &'c str>) -> Result<(), ExportError> {
        self.write(cells)?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written after the header.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The document's bytes.
    pub fn finish(self) -> Result<Vec<u8>, ExportError> {
        self.writer
            .into_inner()
            .map_err(|error| ExportError::Internal(format!("could not finish the CSV: {error}")))
    }

    fn write<'c>(&mut self, cells: impl IntoIterator<Item = &'c str>) -> Result<(), ExportError> {
        let cells: Vec<_> = cells.into_iter().map(neutralise).collect();
        if cells.len() != self.columns {
            return Err(ExportError::Internal(format!(
                "a CSV row has {} cells for {} columns",
                cells.len(),
                self.columns
            )));
        }
        self.writer
            .write_record(cells.iter().map(|cell| cell.as_bytes()))
            .map_err(|error| ExportError::Internal(format!("could not write CSV: {error}")))
    }
}

/// Reads a CSV document back into rows of cells, header included: for plugin tests, which
/// should assert what a spreadsheet would read rather than the escaped bytes.
///
/// # Panics
///
/// When the bytes are not CSV in UTF-8, which is what such a test checks.
pub fn read_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    reader
        .records()
        .map(|record| {
            let record = record.expect("the document is CSV in UTF-8");
            record.iter().map(str::to_owned).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_get_an_apostrophe_and_nothing_else_changes() {
        assert_eq!(neutralise("=1+1"), "'=1+1");
        assert_eq!(neutralise("+SUM(A1)"), "'+SUM(A1)");
        assert_eq!(neutralise("-2"), "'-2");
        assert_eq!(neutralise("@cmd"), "'@cmd");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("Work Server"), "Work Server");
        assert_eq!(neutralise("a=b"), "a=b");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn quoting_is_by_the_book() {
        let mut document = CsvDocument::new(&["a", "b"]).unwrap();
        document.row(["x,y", "say \"hi\""]).unwrap();
        document.row(["two\nlines", "🙂"]).unwrap();
        let text = String::from_utf8(document.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",🙂\r\n"
        );
    }

    #[test]
    fn a_row_of_the_wrong_width_fails() {
        let mut document = CsvDocument::new(&["a", "b"]).unwrap();
        assert!(document.row(["only one"]).is_err());
    }
}
