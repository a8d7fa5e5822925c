//! `COPY … FROM STDIN` in PostgreSQL's text format, for the writers that
//! stream a group's new rows (events, fingerprints, the journal).

use sqlx::PgConnection;

/// `COPY ... FROM STDIN` rows in the text format: fields separated by tabs,
/// rows ended by a newline, `\N` for NULL, and a backslash escaping the
/// four characters that would otherwise break a row.
pub(crate) struct CopyText(String);

impl CopyText {
    /// An empty buffer of `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        CopyText(String::with_capacity(capacity))
    }

    /// Appends a text field, escaped.
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        if value.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
            for c in value.chars() {
                match c {
                    '\\' => self.0.push_str("\\\\"),
                    '\t' => self.0.push_str("\\t"),
                    '\n' => self.0.push_str("\\n"),
                    '\r' => self.0.push_str("\\r"),
                    c => self.0.push(c),
                }
            }
        } else {
            self.0.push_str(value);
        }
        self.0.push('\t');
        self
    }

    /// Appends an integer field.
    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        use std::fmt::Write;
        write!(self.0, "{value}\t").expect("writing to a String");
        self
    }

    /// Appends a NULL field.
    pub(crate) fn null(&mut self) -> &mut Self {
        self.0.push_str("\\N\t");
        self
    }

    /// Replaces the last field's tab with the row's newline.
    pub(crate) fn end_row(&mut self) {
        let tab = self.0.pop();
        debug_assert_eq!(tab, Some('\t'), "a row has at least one field");
        self.0.push('\n');
    }
}

/// Sends `rows` to a `COPY ... FROM STDIN` statement.
pub(crate) async fn copy_in(db: &mut PgConnection, statement: &str, rows: CopyText) -> Result<u64, sqlx::Error> {
    let mut copy = db.copy_in_raw(statement).await?;
    copy.send(rows.0.into_bytes()).await?;
    copy.finish().await
}
