//! Parquet: `ParquetRecordBatchReaderBuilder` with a `ProjectionMask`, so unprojected columns
//! are never decoded.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatchReader;
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::errors::ParquetError;

use crate::{FileFormat, OpenOptions, Opened, Plan, Reader, SourceError, arrow_error, strip_kind};

fn invalid(path: &Path, e: ParquetError) -> SourceError {
    match e {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => SourceError::io(path, *io),
            Err(inner) => SourceError::Parquet {
                path: path.to_path_buf(),
                message: inner.to_string(),
            },
        },
        other => SourceError::Parquet {
            path: path.to_path_buf(),
            message: strip_kind(&other.to_string()).to_string(),
        },
    }
}

pub(crate) fn read_error(path: &Path, e: ArrowError) -> SourceError {
    arrow_error(FileFormat::Parquet, path, e)
}

fn builder(path: &Path, file: File) -> Result<ParquetRecordBatchReaderBuilder<File>, SourceError> {
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| invalid(path, e))
}

pub(crate) fn schema(path: &Path, file: File) -> Result<SchemaRef, SourceError> {
    Ok(builder(path, file)?.schema().clone())
}

pub(crate) fn open(path: &Path, file: File, options: &OpenOptions) -> Result<Opened, SourceError> {
    let builder = builder(path, file)?;
    let full = builder.schema().clone();
    let total_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).ok();
    let mut plan = Plan::new(path, &full, options.projection.as_deref())?;
    let roots = builder.parquet_schema().root_schema().get_fields().len();
    let builder = builder.with_batch_size(options.batch_size);
    let builder = match plan.read.take() {
        // Arrow's top-level fields are the Parquet root columns, one for one.
        Some(read) if roots == full.fields().len() => {
            let mask = ProjectionMask::roots(builder.parquet_schema(), read.iter().copied());
            plan.read = Some(read);
            builder.with_projection(mask)
        }
        // Should the two ever differ, stay correct: decode everything and pick afterwards.
        Some(read) => {
            plan.read = Some(read);
            plan = plan.decode_all();
            builder
        }
        None => builder,
    };
    let reader = builder.build().map_err(|e| invalid(path, e))?;
    let schema = plan.output_schema(&reader.schema()).map_err(|e| read_error(path, e))?;
    Ok(Opened {
        reader: Reader::Parquet(reader),
        schema,
        positions: plan.positions,
        total_rows,
    })
}
