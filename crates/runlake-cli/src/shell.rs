//! The interactive SQL shell: line editing, history kept across sessions, statements
//! that span lines until a `;`.

use std::path::PathBuf;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::output::{Format, one_line};
use crate::session::Session;

const HELP: &str = "\
Type SQL statements ending with ';' (they may span lines).
  \\q, quit, exit   leave the shell (Ctrl-D works too)
  \\?, help         this help
  SHOW TABLES;     what you can query; SHOW FUNCTIONS; lists every function
  SELECT * FROM 'file.parquet' LIMIT 5;   query a file by path";

fn history_path() -> Option<PathBuf> {
    std::env::var_os("RUNLAKE_HISTORY")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".runlake_history")))
}

pub async fn run(session: &Session, format: Format) -> crate::error::Result<()> {
    let mut editor = DefaultEditor::new().map_err(|e| format!("cannot start the shell: {e}"))?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    outln!(
        "runlake {} SQL shell. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    )?;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "runlake> "
        } else {
            "     ..> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() {
                    match trimmed {
                        "" => continue,
                        "\\q" | "quit" | "exit" | "quit;" | "exit;" => break,
                        "\\?" | "help" | "\\h" => {
                            outln!("{HELP}")?;
                            continue;
                        }
                        _ => {}
                    }
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if trimmed.ends_with(';') {
                    let sql = std::mem::take(&mut buffer);
                    let _ = editor.add_history_entry(sql.trim_end());
                    let mut stdout = std::io::stdout();
                    let started = std::time::Instant::now();
                    match session.run_script(&sql, format, &mut stdout).await {
                        Ok(()) => eprintln!("({:.3}s)", started.elapsed().as_secs_f64()),
                        Err(e) => eprintln!("error: {}", one_line(&e.to_string())),
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("runlake: error: {e}");
                break;
            }
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}
