//! Reading a CSV file whole: its header, and its rows numbered as a
//! spreadsheet numbers them (the header is row 1), a row that is not UTF-8
//! set aside with its reason instead of stopping the file.

use std::path::Path;

use crate::error::{Error, Result};

/// One CSV file read whole: its header and its rows, numbered as a
/// spreadsheet numbers them (header = row 1).
pub struct Csv {
    pub file: String,
    pub headers: Vec<String>,
    pub rows: Vec<(usize, csv::StringRecord)>,
    /// Rows that could not be read (not UTF-8), with the reason.
    pub unreadable: Vec<(usize, String)>,
}

impl Csv {
    /// Read `path`; `label` names it in the summary and in row references.
    pub fn read(path: &Path, label: &str, delimiter: u8) -> Result<Csv> {
        let file = std::fs::File::open(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).delimiter(delimiter).from_reader(file);
        let bad = |e: csv::Error| Error::Usage(format!("{}: not a readable CSV file: {e}", path.display()));
        let headers = reader.byte_headers().map_err(bad)?.clone();
        let headers = csv::StringRecord::from_byte_record(headers)
            .map_err(|_| Error::Usage(format!("{}: the header row is not UTF-8 text", path.display())))?;
        let mut csv = Csv {
            file: label.to_string(),
            headers: headers.iter().map(|h| h.trim().to_string()).collect(),
            rows: Vec::new(),
            unreadable: Vec::new(),
        };
        for (i, record) in reader.byte_records().enumerate() {
            let row = i + 2;
            match csv::StringRecord::from_byte_record(record.map_err(bad)?) {
                Ok(r) => csv.rows.push((row, r)),
                Err(e) => csv.unreadable.push((row, format!("not valid UTF-8 text ({e})"))),
            }
        }
        Ok(csv)
    }

    /// The index of a column, which must be there.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.find(name).ok_or_else(|| {
            let h = crate::error::hint(name, self.headers.iter().map(String::as_str));
            Error::Usage(format!("{}: no column {name:?}{h} (the header has: {})", self.file, self.headers.join(", ")))
        })
    }

    /// The index of a column, ignoring case and surrounding spaces.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| h == name)
            .or_else(|| self.headers.iter().position(|h| h.eq_ignore_ascii_case(name)))
    }
}

/// A cell, trimmed; empty when the row is short.
pub fn cell(r: &csv::StringRecord, i: usize) -> &str {
    r.get(i).unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_like_a_spreadsheet_and_bad_text_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, b"\xEF\xBB\xBFName , Amount\nA,1\n\"B\nsecond line\",2\n\xff,3\nshort\n").unwrap();
        let csv = Csv::read(&path, "x.csv", b',').unwrap();
        assert_eq!(csv.headers, ["Name", "Amount"], "trimmed, without the byte-order mark");
        assert_eq!(csv.column("amount").unwrap(), 1, "case does not matter");
        let rows: Vec<(usize, &str, &str)> = csv.rows.iter().map(|(n, r)| (*n, cell(r, 0), cell(r, 1))).collect();
        assert_eq!(rows, [(2, "A", "1"), (3, "B\nsecond line", "2"), (5, "short", "")]);
        assert_eq!(csv.unreadable.len(), 1);
        assert_eq!(csv.unreadable[0].0, 4);
        let err = csv.column("Amout").unwrap_err().to_string();
        assert!(err.contains("no column \"Amout\" (did you mean \"Amount\"?)"), "{err}");
    }
}
