//! Reads a query whole with this crate (binary COPY → Arrow, batches of 8,192 rows) and prints
//! `rows=N columns=N batches=N`: the client process whose wall time and peak memory
//! `cargo xtask bench` measures in its PostgreSQL scenario, which starts the server, loads the
//! table and runs this.
//!
//! ```sh
//! pg_read URL_ENV 'SELECT * FROM bench'
//! ```
//!
//! `URL_ENV` names the environment variable holding the connection URL (never an argument, so
//! it shows in no process list).

use std::process::ExitCode;

const BATCH_SIZE: usize = 8192;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url_env, query] = args.as_slice() else {
        eprintln!("usage: pg_read URL_ENV QUERY");
        return ExitCode::from(2);
    };
    let config = dotsync_source_postgres::PostgresSourceConfig {
        url_env: url_env.clone(),
        query: Some(query.clone()),
        ..Default::default()
    };
    let source = match dotsync_source_postgres::open(&config, None, BATCH_SIZE) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let columns = source.schema().fields().len();
    let (mut rows, mut batches) = (0usize, 0usize);
    for batch in source {
        match batch {
            Ok(batch) => {
                rows += batch.num_rows();
                batches += 1;
            }
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("rows={rows} columns={columns} batches={batches}");
    ExitCode::SUCCESS
}
