//! The events table of the lake: its Arrow schema, rows built from log records, and Parquet
//! files written atomically (a temporary name, fsync, rename, directory fsync) and read back.

use std::fs::{self, File};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    BooleanBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tenure_domain::Timestamp;
use tenure_ingest::logged::LogRecord;

use crate::{LakeError, Offset};

/// Rows per Parquet row group.
const ROW_GROUP: usize = 256 * 1024;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The events table's schema; docs/lake.md describes each column.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("offset", DataType::UInt64, false),
                Field::new("message_id", DataType::Utf8, false),
                Field::new("type", DataType::Utf8, false),
                Field::new("event", DataType::Utf8, true),
                Field::new("user_id", DataType::Utf8, true),
                Field::new("anonymous_id", DataType::Utf8, true),
                Field::new("account_id", DataType::Utf8, true),
                Field::new("group_id", DataType::Utf8, true),
                Field::new("previous_id", DataType::Utf8, true),
                Field::new("timestamp", ts(), false),
                Field::new("original_timestamp", ts(), true),
                Field::new("sent_at", ts(), true),
                Field::new("received_at", ts(), false),
                Field::new("write_key", DataType::Utf8, false),
                Field::new("imported", DataType::Boolean, false),
                Field::new("properties", DataType::Utf8, false),
                Field::new("traits", DataType::Utf8, false),
                Field::new("context", DataType::Utf8, false),
                Field::new("violations", DataType::Utf8, true),
            ]))
        })
        .clone()
}

fn micros(t: &Timestamp) -> i64 {
    t.timestamp_micros()
}

/// Accumulates rows for one file.
pub struct Rows {
    offset: UInt64Builder,
    message_id: StringBuilder,
    kind: StringBuilder,
    event: StringBuilder,
    user_id: StringBuilder,
    anonymous_id: StringBuilder,
    account_id: StringBuilder,
    group_id: StringBuilder,
    previous_id: StringBuilder,
    timestamp: TimestampMicrosecondBuilder,
    original_timestamp: TimestampMicrosecondBuilder,
    sent_at: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    write_key: StringBuilder,
    imported: BooleanBuilder,
    properties: StringBuilder,
    traits: StringBuilder,
    context: StringBuilder,
    violations: StringBuilder,
    len: usize,
    /// The first and last log offsets in these rows.
    pub first: Offset,
    pub last: Offset,
}

impl Default for Rows {
    fn default() -> Self {
        Rows::new()
    }
}

fn json(map: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}

impl Rows {
    pub fn new() -> Rows {
        let t = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        Rows {
            offset: UInt64Builder::new(),
            message_id: StringBuilder::new(),
            kind: StringBuilder::new(),
            event: StringBuilder::new(),
            user_id: StringBuilder::new(),
            anonymous_id: StringBuilder::new(),
            account_id: StringBuilder::new(),
            group_id: StringBuilder::new(),
            previous_id: StringBuilder::new(),
            timestamp: t(),
            original_timestamp: t(),
            sent_at: t(),
            received_at: t(),
            write_key: StringBuilder::new(),
            imported: BooleanBuilder::new(),
            properties: StringBuilder::new(),
            traits: StringBuilder::new(),
            context: StringBuilder::new(),
            violations: StringBuilder::new(),
            len: 0,
            first: Offset::MAX,
            last: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the event of `record` (at log offset `offset`); records that hold no event (a
    /// rejection, a duplicate, an erased record) add nothing.
    pub fn push(&mut self, offset: Offset, record: &LogRecord) {
        let Some(m) = &record.message else { return };
        self.offset.append_value(offset);
        self.message_id
            .append_value(m.message_id.as_deref().unwrap_or_default());
        self.kind.append_value(m.kind.name());
        self.event
            .append_option(m.event.as_deref().or(m.name.as_deref()));
        self.user_id.append_option(m.user_id.as_deref());
        self.anonymous_id.append_option(m.anonymous_id.as_deref());
        self.account_id.append_option(m.account_id.as_deref());
        self.group_id.append_option(m.group_id.as_deref());
        self.previous_id.append_option(m.previous_id.as_deref());
        self.timestamp.append_value(micros(&m.timestamp));
        self.original_timestamp
            .append_option(m.original_timestamp.as_ref().map(micros));
        self.sent_at.append_option(m.sent_at.as_ref().map(micros));
        self.received_at.append_value(micros(&m.received_at));
        self.write_key.append_value(&record.write_key);
        self.imported.append_value(record.import);
        self.properties.append_value(json(&m.properties));
        self.traits.append_value(json(&m.traits));
        self.context.append_value(json(&m.context));
        if record.violations.is_empty() {
            self.violations.append_null();
        } else {
            self.violations.append_value(
                serde_json::to_string(&record.violations).unwrap_or_else(|_| "[]".to_owned()),
            );
        }
        self.len += 1;
        self.first = self.first.min(offset);
        self.last = self.last.max(offset);
    }

    /// The rows as one Arrow batch.
    pub fn finish(mut self) -> Result<RecordBatch, LakeError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.offset.finish()),
            Arc::new(self.message_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.event.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.anonymous_id.finish()),
            Arc::new(self.account_id.finish()),
            Arc::new(self.group_id.finish()),
            Arc::new(self.previous_id.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.original_timestamp.finish()),
            Arc::new(self.sent_at.finish()),
            Arc::new(self.received_at.finish()),
            Arc::new(self.write_key.finish()),
            Arc::new(self.imported.finish()),
            Arc::new(self.properties.finish()),
            Arc::new(self.traits.finish()),
            Arc::new(self.context.finish()),
            Arc::new(self.violations.finish()),
        ];
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Syncs a directory, so a rename or removal in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Writes `batches` to `path` atomically: whole and durable, or not at all.
pub fn write_file(path: &Path, batches: &[RecordBatch]) -> Result<u64, LakeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP)
        .build();
    // The events table's schema (or, for a projection of it, the batches' own).
    let schema = batches.first().map_or_else(schema, |b| b.schema());
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
    for b in batches {
        writer.write(b)?;
    }
    let file = writer.into_inner()?;
    file.sync_all().map_err(io(&tmp))?;
    let bytes = file.metadata().map_err(io(&tmp))?.len();
    drop(file);
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)?;
    Ok(bytes)
}

/// Reads a whole Parquet file of the events table.
pub fn read_file(path: &Path) -> Result<Vec<RecordBatch>, LakeError> {
    let file = File::open(path).map_err(io(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(64 * 1024)
        .build()?;
    let mut out = Vec::new();
    for batch in reader {
        out.push(batch?);
    }
    Ok(out)
}

/// Reads only the named columns of a Parquet file of the events table (in schema order).
pub fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<RecordBatch>, LakeError> {
    let file = File::open(path).map_err(io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask =
        parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()?;
    let mut out = Vec::new();
    for batch in reader {
        out.push(batch?);
    }
    Ok(out)
}

/// A string column of a batch of the events table, by name.
pub fn strings<'b>(batch: &'b RecordBatch, name: &str) -> Option<&'b StringArray> {
    batch.column_by_name(name)?.as_any().downcast_ref()
}

/// The `offset` column of a batch of the events table.
pub fn offsets(batch: &RecordBatch) -> Option<&UInt64Array> {
    batch.column_by_name("offset")?.as_any().downcast_ref()
}

/// Whether row `i` of a nullable string column equals one of `values`.
pub fn is_any(column: &StringArray, i: usize, values: &std::collections::BTreeSet<String>) -> bool {
    column.is_valid(i) && values.contains(column.value(i))
}

/// Row `i` of a batch of the events table as a JSON object, JSON-text columns parsed and
/// timestamps in RFC 3339.
pub fn row_json(batch: &RecordBatch, i: usize) -> serde_json::Value {
    use arrow_array::{BooleanArray, TimestampMicrosecondArray};
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        let value = if column.is_null(i) {
            Value::Null
        } else if let Some(a) = column.as_any().downcast_ref::<StringArray>() {
            let text = a.value(i);
            match name {
                "properties" | "traits" | "context" | "violations" => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
                }
                _ => Value::String(text.to_owned()),
            }
        } else if let Some(a) = column.as_any().downcast_ref::<UInt64Array>() {
            Value::from(a.value(i))
        } else if let Some(a) = column.as_any().downcast_ref::<BooleanArray>() {
            Value::Bool(a.value(i))
        } else if let Some(a) = column.as_any().downcast_ref::<TimestampMicrosecondArray>() {
            chrono::DateTime::from_timestamp_micros(a.value(i))
                .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
                .unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        out.insert(name.to_owned(), value);
    }
    Value::Object(out)
}
