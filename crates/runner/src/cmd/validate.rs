//! `conveyor validate` and `conveyor schema`. Errors print through [`print_errors`], the
//! same way for every command that reads job files.

use std::io::Write as _;

use crate::cli::{Format, ValidateArgs};
use crate::exit::Exit;
use crate::spec::{Loader, ParseOptions, json_schema, print_errors};

/// `conveyor validate`: checks the files, prints every error; exit 0 or 2.
///
/// # Errors
///
/// Writing the output failed.
pub fn validate(args: ValidateArgs) -> anyhow::Result<Exit> {
    match Loader::new(ParseOptions::default()).paths(&args.paths).validate() {
        Ok(v) => {
            if args.format == Format::Human {
                let files = v.files().count();
                let jobs = v.job_count();
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "ok: {jobs} job{} in {files} file{}",
                    if jobs == 1 { "" } else { "s" },
                    if files == 1 { "" } else { "s" }
                )?;
            }
            Ok(Exit::Success)
        }
        Err(errors) => {
            print_errors(&errors, args.format)?;
            Ok(Exit::Usage)
        }
    }
}

/// `conveyor schema`: the JSON Schema of job files, pretty-printed on stdout.
///
/// # Errors
///
/// Writing the output failed.
pub fn schema() -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &json_schema())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(Exit::Success)
}
