//! Rows in PostgreSQL's binary `COPY` format, for the bulk inserts of a
//! catch-up: the timeline's segments and the tracking rows of new orders.
//!
//! `COPY … FROM STDIN (FORMAT binary)` skips the executor's per-row work
//! that `INSERT … SELECT FROM unnest(…)` pays (a tuple formed per row
//! through the plan), and the server parses no text. The format is small
//! and stable (PostgreSQL's `COPY` docs, "Binary Format"): a signature and
//! two zero words, per row a field count and per field a length-prefixed
//! value in the type's binary send format, and a -1 trailer. An array's
//! send format (`array_send`) is its dimensions, its element type and the
//! elements, each length-prefixed like a field. We encode only the types
//! these tables need, and one-dimensional arrays of four of them; sqlx
//! offers the raw `COPY` channel but no encoder for it.

use time::OffsetDateTime;
use uuid::Uuid;

/// The signature, the flags word and the header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 UTC.
const PG_EPOCH_MICROS: i128 = 946_684_800_000_000;

/// The element type of an array, as `pg_type` numbers them.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
enum ElementType {
    Int8 = 20,
    Text = 25,
    Timestamptz = 1184,
    Uuid = 2950,
}

/// A growing buffer of rows with a fixed number of fields each.
pub(crate) struct CopyRows {
    buf: Vec<u8>,
    fields: i16,
}

impl CopyRows {
    pub(crate) fn new(fields: i16) -> Self {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(HEADER);
        Self { buf, fields }
    }

    /// Starts a row; exactly `fields` values must follow.
    pub(crate) fn row(&mut self) {
        self.buf.extend_from_slice(&self.fields.to_be_bytes());
    }

    pub(crate) fn text(&mut self, value: &str) {
        self.value(value.as_bytes());
    }

    /// A `json` value: its binary form is its text (`json_recv`), which the
    /// server checks to be valid JSON as it would from text.
    pub(crate) fn json(&mut self, value: &str) {
        self.value(value.as_bytes());
    }

    pub(crate) fn int8(&mut self, value: i64) {
        self.value(&value.to_be_bytes());
    }

    pub(crate) fn uuid(&mut self, value: Uuid) {
        self.value(value.as_bytes());
    }

    pub(crate) fn timestamptz(&mut self, value: OffsetDateTime) {
        let micros = value.unix_timestamp_nanos() / 1000 - PG_EPOCH_MICROS;
        // Every date `time` can hold is microseconds within an i64.
        self.value(&(micros as i64).to_be_bytes());
    }

    pub(crate) fn text_array<S: AsRef<str>>(&mut self, values: &[S]) {
        self.array(ElementType::Text, values, |rows, v| rows.text(v.as_ref()));
    }

    pub(crate) fn int8_array(&mut self, values: &[i64]) {
        self.array(ElementType::Int8, values, |rows, v| rows.int8(*v));
    }

    pub(crate) fn uuid_array(&mut self, values: &[Uuid]) {
        self.array(ElementType::Uuid, values, |rows, v| rows.uuid(*v));
    }

    pub(crate) fn timestamptz_array(&mut self, values: &[OffsetDateTime]) {
        self.array(ElementType::Timestamptz, values, |rows, v| {
            rows.timestamptz(*v)
        });
    }

    /// The finished stream, trailer included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }

    /// A one-dimensional array without nulls. Its elements are written like
    /// fields, so `element` is one of the scalar writers; the array's own
    /// length is known only at the end and filled in then.
    fn array<T>(&mut self, element_type: ElementType, values: &[T], element: fn(&mut Self, &T)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        for word in [1, 0, element_type as i32, values.len() as i32, 1] {
            // Dimensions, has-nulls flag, element type, then the length and
            // lower bound of the one dimension.
            self.buf.extend_from_slice(&word.to_be_bytes());
        }
        for value in values {
            element(self, value);
        }
        let length = (self.buf.len() - start - 4) as i32;
        self.buf[start..start + 4].copy_from_slice(&length.to_be_bytes());
    }

    fn value(&mut self, bytes: &[u8]) {
        // Values come from one event of a NATS message (at most a few MiB),
        // far below the format's i32 length limit.
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_its_field_count_then_length_prefixed_values() {
        let mut rows = CopyRows::new(2);
        rows.row();
        rows.text("ab");
        rows.int8(7);

        let bytes = rows.finish();

        let body = &bytes[HEADER.len()..];
        assert_eq!(&body[..2], &2i16.to_be_bytes());
        assert_eq!(&body[2..8], &[0, 0, 0, 2, b'a', b'b']);
        assert_eq!(&body[8..20], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(&body[20..], &(-1i16).to_be_bytes());
    }

    #[test]
    fn an_array_is_its_dimension_and_element_type_then_length_prefixed_elements() {
        let mut rows = CopyRows::new(1);
        rows.row();
        rows.int8_array(&[7, 8]);

        let bytes = rows.finish();

        let field = &bytes[HEADER.len() + 2..bytes.len() - 2];
        let words: Vec<i32> = field
            .chunks(4)
            .map(|w| i32::from_be_bytes(w.try_into().unwrap()))
            .collect();
        // Length, 1 dimension, no nulls, int8, 2 elements from index 1,
        // then each element as length 8 and two words of value.
        assert_eq!(words, [44, 1, 0, 20, 2, 1, 8, 0, 7, 8, 0, 8]);
    }

    #[test]
    fn timestamps_count_microseconds_from_the_year_2000() {
        let mut rows = CopyRows::new(1);
        rows.row();
        rows.timestamptz(time::macros::datetime!(2000-01-01 00:00:01.5 UTC));

        let bytes = rows.finish();

        let value = &bytes[HEADER.len() + 2 + 4..HEADER.len() + 2 + 12];
        assert_eq!(value, &1_500_000i64.to_be_bytes());
    }
}
