//! The command line's SQL: the lake's [`runlake_engine::sql::Session`], with results printed
//! in the chosen format.

use std::io::Write;
use std::sync::Arc;

use datafusion::common::Result;
use futures::StreamExt;
use runlake_engine::sql::Outcome;
use runlake_lake::Lake;

use crate::output::{Format, Printer};

/// A SQL session over the lake that prints what it runs.
pub struct Session {
    inner: runlake_engine::sql::Session,
}

/// The engine's session on `lake`, files readable by path, its queries run on `cluster`
/// (`df://HOST:PORT`) when one is given.
pub async fn open_engine(lake: &Lake, cluster: Option<&str>) -> Result<runlake_engine::Session> {
    let options = runlake_engine::SessionOptions {
        allow_files: true,
        cluster: cluster.map(str::to_string),
        ..Default::default()
    };
    runlake_engine::Session::open_on(lake.clone(), options).await
}

impl Session {
    /// Opens a session on `lake`, files readable by path, on `cluster` when given.
    pub async fn open(lake: Lake, cluster: Option<&str>) -> Result<Self> {
        Ok(Self {
            inner: open_engine(&lake, cluster).await?,
        })
    }

    pub fn warnings(&self) -> &[String] {
        self.inner.warnings()
    }

    /// Runs every statement of `text` in order, printing each result to `out`.
    pub async fn run_script(&self, text: &str, format: Format, out: &mut dyn Write) -> Result<()> {
        let mut printer = Printer::new(format);
        for statement in runlake_engine::sql::Session::parse(text)? {
            match self.inner.run(statement).await? {
                Outcome::Written { summary, .. } => {
                    let df = self
                        .inner
                        .ctx()
                        .sql(&format!(
                            "SELECT '{}' AS result",
                            summary.replace('\'', "''")
                        ))
                        .await?;
                    print(df, &mut printer, out).await?;
                }
                Outcome::Query(df) => print(df, &mut printer, out).await?,
            }
        }
        printer.finish(out)?;
        Ok(())
    }
}

async fn print(
    df: datafusion::dataframe::DataFrame,
    printer: &mut Printer,
    out: &mut dyn Write,
) -> Result<()> {
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    printer.begin(&schema, out)?;
    while let Some(batch) = stream.next().await {
        printer.batch(&batch?, out)?;
    }
    printer.end(out)?;
    Ok(())
}
