//! The SMT solver the proofs run on: cvc5, as a subprocess speaking
//! SMT-LIB on its standard input and output. Which program (configured,
//! else `CVC5` from the environment, else `cvc5` on `PATH`), how long one
//! query may take, and a runtime of its own to drive it from any caller.

use cedar_policy_symcc::solver::LocalSolver;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// How long one solver query may take unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The environment variable naming the solver when nothing is configured.
pub const SOLVER_VAR: &str = "CVC5";

/// The program looked for on `PATH` when nothing names one.
pub const DEFAULT_PROGRAM: &str = "cvc5";

/// Where the proofs get their solver, and how long they may wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofSettings {
    /// The solver program and what named it (`[policies] solver`,
    /// `--solver`); `None`: [`SOLVER_VAR`], else [`DEFAULT_PROGRAM`] on `PATH`.
    pub solver: Option<(PathBuf, String)>,
    /// How long one query may take; a query still unanswered then refuses
    /// the set (an unproven set never serves).
    pub timeout: Duration,
}

impl Default for ProofSettings {
    fn default() -> Self {
        ProofSettings {
            solver: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The solver program, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolverProgram {
    pub program: OsString,
    /// `from [policies] solver`, `from CVC5`, `on PATH`.
    pub found: String,
}

impl fmt::Display for SolverProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` {}",
            PathBuf::from(&self.program).display(),
            self.found
        )
    }
}

impl ProofSettings {
    /// Settings naming `program` as the solver, named by `by`.
    pub fn with_solver(program: impl Into<PathBuf>, by: impl Into<String>) -> Self {
        ProofSettings {
            solver: Some((program.into(), by.into())),
            ..ProofSettings::default()
        }
    }

    /// The program to run: the configured one, else [`SOLVER_VAR`], else
    /// [`DEFAULT_PROGRAM`] from `PATH`.
    pub fn program(&self) -> SolverProgram {
        if let Some((path, by)) = &self.solver {
            return SolverProgram {
                program: path.clone().into_os_string(),
                found: format!("from {by}"),
            };
        }
        match std::env::var_os(SOLVER_VAR) {
            Some(path) if !path.is_empty() => SolverProgram {
                program: path,
                found: format!("from {SOLVER_VAR}"),
            },
            _ => SolverProgram {
                program: DEFAULT_PROGRAM.into(),
                found: "on PATH".to_string(),
            },
        }
    }

    /// Start the solver (inside a tokio runtime). It is killed when dropped,
    /// and is told the same time limit per query (it then answers
    /// `unknown`, which refuses the set like a timeout).
    pub(crate) fn spawn(&self) -> Result<LocalSolver, String> {
        let program = self.program();
        let limit = format!("--tlimit-per={}", self.timeout.as_millis().max(1));
        let mut command = tokio::process::Command::new(&program.program);
        command.args(["--lang", "smt", &limit]).kill_on_drop(true);
        LocalSolver::from_command(&mut command).map_err(|e| match e {
            cedar_policy_symcc::solver::SolverError::Io(io)
                if io.kind() == std::io::ErrorKind::NotFound =>
            {
                format!("no solver: {program} is not found (install cvc5, or name it with [policies] solver or {SOLVER_VAR})")
            }
            other => format!("the solver {program} does not start: {}", error_chain(&other)),
        })
    }

    /// Whether the solver starts and says it is cvc5: `Ok` with its version
    /// line, or why proofs are off. Bounded by [`Self::timeout`]. For
    /// reports (`config check`); loads find out by starting it.
    pub fn probe(&self) -> Result<String, String> {
        let program = self.program();
        let timeout = self.timeout;
        let asked = block_on(async move {
            let mut command = tokio::process::Command::new(&program.program);
            command.arg("--version").kill_on_drop(true);
            match tokio::time::timeout(timeout, command.output()).await {
                Err(_) => Err(format!(
                    "the solver {program} did not answer `--version` within {} ms",
                    timeout.as_millis()
                )),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                    "no solver: {program} is not found (install cvc5, or name it with [policies] solver or {SOLVER_VAR})"
                )),
                Ok(Err(e)) => Err(format!("the solver {program} does not start: {e}")),
                Ok(Ok(out)) => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    match text.lines().next() {
                        Some(line) if out.status.success() && line.contains("cvc5") => {
                            Ok(format!("{} at {program}", line.trim()))
                        }
                        _ => Err(format!(
                            "the solver {program} does not say it is cvc5 (`--version`)"
                        )),
                    }
                }
            }
        });
        asked.map_err(|e| format!("cannot run the solver: {e}"))?
    }
}

/// An error with its sources, one after the other.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Run `work` to its end on a runtime of its own, on a thread of its own:
/// callable from anywhere (a blocking task, an async start, a plain
/// thread), never inside the caller's runtime.
pub(crate) fn block_on<T: Send>(work: impl Future<Output = T> + Send) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(work))
            })
            .join()
            .map_err(|_| std::io::Error::other("the proof thread stopped unexpectedly"))?
    })
}
