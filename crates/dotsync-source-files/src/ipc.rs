//! Arrow IPC: the file format (footer with block index, "Feather v2") and the stream format,
//! told apart by the file's leading magic.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::{FileReaderBuilder, StreamReader, read_footer_length};
use arrow_ipc::{Block, root_as_footer, root_as_message};
use arrow_schema::{ArrowError, Schema, SchemaRef};

use crate::{FileFormat, OpenOptions, Opened, Plan, Reader, SourceError, arrow_error};

const MAGIC: &[u8; 6] = b"ARROW1";
const CONTINUATION: [u8; 4] = [0xFF; 4];
/// Leading magic plus padding, trailing footer length plus magic.
const MIN_FILE_BYTES: u64 = 8 + 4 + 6;
const BUFFER_BYTES: usize = 256 * 1024;

pub(crate) enum IpcReader {
    File(arrow_ipc::reader::FileReader<BufReader<File>>),
    Stream(StreamReader<BufReader<File>>),
}

impl IpcReader {
    pub(crate) fn next_batch(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        match self {
            IpcReader::File(r) => r.next().transpose(),
            IpcReader::Stream(r) => r.next().transpose(),
        }
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> SourceError {
    SourceError::Arrow {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SourceError + '_ {
    move |e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            invalid(path, "the file ends early")
        } else {
            SourceError::io(path, e)
        }
    }
}

/// Whether the file starts with the IPC file format's magic (else: stream format).
fn is_file_format(path: &Path, file: &mut File) -> Result<bool, SourceError> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SourceError::io(path, e)),
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io(path))?;
    Ok(got == head.len() && &head == MAGIC)
}

/// What the footer of an IPC file says, checked so that the reader cannot be sent out of
/// bounds by a corrupt block index.
struct Footer {
    schema: Schema,
    total_rows: Option<u64>,
}

fn check_block(path: &Path, block: &Block, len: u64, what: &str) -> Result<(u64, usize), SourceError> {
    let bad = || {
        invalid(
            path,
            format!(
                "the footer lists a {what} block (offset {}, metadata {} bytes, body {} bytes) \
                 outside the file's {len} bytes",
                block.offset(),
                block.metaDataLength(),
                block.bodyLength()
            ),
        )
    };
    let offset = u64::try_from(block.offset()).map_err(|_| bad())?;
    let meta = u64::try_from(block.metaDataLength()).map_err(|_| bad())?;
    let body = u64::try_from(block.bodyLength()).map_err(|_| bad())?;
    let end = offset
        .checked_add(meta)
        .and_then(|e| e.checked_add(body))
        .ok_or_else(bad)?;
    if meta < 8 || end > len {
        return Err(bad());
    }
    Ok((offset, usize::try_from(meta).map_err(|_| bad())?))
}

/// Reads and checks the footer; with `count`, also adds up the row counts in each record
/// batch's (small) message header.
fn read_footer(path: &Path, file: &mut File, count: bool) -> Result<Footer, SourceError> {
    let len = file.metadata().map_err(io(path))?.len();
    if len < MIN_FILE_BYTES {
        return Err(invalid(path, format!("the file is only {len} bytes long")));
    }
    let mut tail = [0u8; 10];
    file.seek(SeekFrom::End(-10)).map_err(io(path))?;
    file.read_exact(&mut tail).map_err(io(path))?;
    let footer_len = read_footer_length(tail).map_err(|_| {
        invalid(
            path,
            "the file starts like an Arrow IPC file but has no valid footer (truncated?)",
        )
    })?;
    let footer_len_u64 = footer_len as u64;
    if footer_len_u64 > len - MIN_FILE_BYTES {
        return Err(invalid(
            path,
            format!("the footer claims {footer_len} bytes, more than the file holds"),
        ));
    }
    let mut footer_bytes = vec![0u8; footer_len];
    file.seek(SeekFrom::Start(len - 10 - footer_len_u64))
        .map_err(io(path))?;
    file.read_exact(&mut footer_bytes).map_err(io(path))?;
    let footer = root_as_footer(&footer_bytes).map_err(|e| invalid(path, format!("corrupt footer: {e}")))?;
    let fb_schema = footer
        .schema()
        .ok_or_else(|| invalid(path, "the footer has no schema"))?;
    let schema =
        arrow_ipc::convert::try_fb_to_schema(fb_schema).map_err(|e| arrow_error(FileFormat::Arrow, path, e))?;

    if let Some(dictionaries) = footer.dictionaries() {
        for block in dictionaries.iter() {
            check_block(path, block, len, "dictionary")?;
        }
    }
    let mut total: u64 = 0;
    let mut meta = Vec::new();
    for (i, block) in footer.recordBatches().into_iter().flatten().enumerate() {
        let (offset, meta_len) = check_block(path, block, len, "record batch")?;
        if !count {
            continue;
        }
        meta.resize(meta_len, 0);
        file.seek(SeekFrom::Start(offset)).map_err(io(path))?;
        file.read_exact(&mut meta).map_err(io(path))?;
        let body = if meta.starts_with(&CONTINUATION) {
            meta.get(8..)
        } else {
            meta.get(4..)
        }
        .unwrap_or_default();
        let rows = root_as_message(body)
            .ok()
            .and_then(|m| m.header_as_record_batch())
            .and_then(|rb| u64::try_from(rb.length()).ok())
            .ok_or_else(|| invalid(path, format!("record batch {i} has a corrupt header")))?;
        total = total
            .checked_add(rows)
            .ok_or_else(|| invalid(path, "the row counts overflow"))?;
    }
    file.seek(SeekFrom::Start(0)).map_err(io(path))?;
    Ok(Footer {
        schema,
        total_rows: count.then_some(total),
    })
}

pub(crate) fn schema(path: &Path, mut file: File) -> Result<SchemaRef, SourceError> {
    if is_file_format(path, &mut file)? {
        Ok(Arc::new(read_footer(path, &mut file, false)?.schema))
    } else {
        let reader =
            StreamReader::try_new(BufReader::new(file), None).map_err(|e| arrow_error(FileFormat::Arrow, path, e))?;
        Ok(reader.schema())
    }
}

pub(crate) fn open(path: &Path, mut file: File, options: &OpenOptions) -> Result<Opened, SourceError> {
    let err = |e: ArrowError| arrow_error(FileFormat::Arrow, path, e);
    if is_file_format(path, &mut file)? {
        let footer = read_footer(path, &mut file, true)?;
        let full = Arc::new(footer.schema);
        let plan = Plan::new(path, &full, options.projection.as_deref())?;
        let mut builder = FileReaderBuilder::new();
        if let Some(read) = &plan.read {
            builder = builder.with_projection(read.clone());
        }
        let reader = builder
            .build(BufReader::with_capacity(BUFFER_BYTES, file))
            .map_err(err)?;
        let schema = plan.output_schema(&reader.schema()).map_err(err)?;
        Ok(Opened {
            reader: Reader::Ipc(IpcReader::File(reader)),
            schema,
            positions: plan.positions,
            total_rows: footer.total_rows,
        })
    } else {
        let probe = StreamReader::try_new(BufReader::new(&mut file), None).map_err(err)?;
        let full = probe.schema();
        drop(probe);
        let plan = Plan::new(path, &full, options.projection.as_deref())?;
        file.seek(SeekFrom::Start(0)).map_err(io(path))?;
        let reader =
            StreamReader::try_new(BufReader::with_capacity(BUFFER_BYTES, file), plan.read.clone()).map_err(err)?;
        let decoded = match &plan.read {
            Some(read) => full.project(read).map_err(err)?,
            None => full.as_ref().clone(),
        };
        let schema = plan.output_schema(&decoded).map_err(err)?;
        Ok(Opened {
            reader: Reader::Ipc(IpcReader::Stream(reader)),
            schema,
            positions: plan.positions,
            total_rows: None,
        })
    }
}
