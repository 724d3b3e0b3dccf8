//! The page templates (minijinja, HTML auto-escaped) and the logo: the
//! built-in ones ship inside the binary; an operator's `pages_dir` may
//! replace any template by name and add `logo.svg` or `logo.png`.

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Output, State, UndefinedBehavior};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The built-in templates, by the file name that replaces each.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../assets/pages/layout.html"),
    ),
    (
        "sign-in.html",
        include_str!("../../../assets/pages/sign-in.html"),
    ),
    (
        "sign-up.html",
        include_str!("../../../assets/pages/sign-up.html"),
    ),
    (
        "invitation.html",
        include_str!("../../../assets/pages/invitation.html"),
    ),
    (
        "verify-email.html",
        include_str!("../../../assets/pages/verify-email.html"),
    ),
    (
        "forgot-password.html",
        include_str!("../../../assets/pages/forgot-password.html"),
    ),
    (
        "reset-password.html",
        include_str!("../../../assets/pages/reset-password.html"),
    ),
];

/// The logo files looked for in `pages_dir`, with their content types.
const LOGOS: [(&str, &str); 2] = [("logo.svg", "image/svg+xml"), ("logo.png", "image/png")];

/// The stylesheet in `pages_dir` that themes the console.
pub const CONSOLE_THEME: &str = "console.css";

/// Where the page shows the logo from.
pub const LOGO_PATH: &str = "/.wrnexus/logo";

/// Why the pages could not be loaded; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PagesError {
    #[error("`{}`: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}`: not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("`{}`:{line}: {message}", path.display())]
    Template {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// An operator's logo.
#[derive(Debug)]
pub struct Logo {
    pub bytes: axum::body::Bytes,
    pub content_type: &'static str,
    /// A strong entity tag of the bytes.
    pub etag: String,
}

struct Inner {
    env: Environment<'static>,
    /// Where each template came from, for error messages.
    sources: Vec<(&'static str, PathBuf)>,
    logo: Option<Logo>,
    /// `console.css` from `pages_dir`: the operator's theme of the console.
    console_theme: Option<axum::body::Bytes>,
}

/// The templates the pages render with, the logo they show, and the
/// instance-wide sign-in providers the sign-in page offers.
#[derive(Clone)]
pub struct Pages(Arc<Inner>, Arc<[ProviderLink]>);

/// An instance-wide provider on the sign-in page: "Continue with
/// {display_name}", signing in at `/.wrnexus/sso/start?provider={name}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderLink {
    pub name: String,
    pub display_name: String,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("sources", &self.0.sources)
            .field("logo", &self.0.logo.as_ref().map(|l| l.content_type))
            .finish()
    }
}

impl Default for Pages {
    /// The built-in templates. They are tested to load; should one not,
    /// the error is logged and the page answers 500.
    fn default() -> Self {
        Pages::load(None).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the built-in page templates do not load");
            Pages(
                Arc::new(Inner {
                    env: environment(),
                    sources: Vec::new(),
                    logo: None,
                    console_theme: None,
                }),
                Arc::from(Vec::new()),
            )
        })
    }
}

/// Escape text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Prints values escaped for HTML in `.html` templates (paths keep their
/// `/`, unlike minijinja's own escaping); none and undefined print nothing.
fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), minijinja::Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    let text = value.to_string();
    let escaped = match state.auto_escape() {
        AutoEscape::Html if !value.is_safe() => escape(&text),
        _ => text,
    };
    out.write_str(&escaped).map_err(minijinja::Error::from)
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_formatter(formatter);
    // A misspelt variable is an error (found by the trial render at load);
    // `{% if name %}` still works for values that may be absent.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, PagesError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PagesError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn etag(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

impl Pages {
    /// The built-in templates, each replaced by the file of the same name
    /// in `dir` when there is one, and the first logo found there. Every
    /// template is parsed and rendered with sample values, so a
    /// broken one stops the start, naming its file and line.
    pub fn load(dir: Option<&Path>) -> Result<Self, PagesError> {
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            return Err(PagesError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let mut env = environment();
        let mut sources = Vec::new();
        for &(name, built_in) in BUILT_IN {
            let replacement = match dir {
                Some(dir) => read(&dir.join(name))?.map(|bytes| (dir.join(name), bytes)),
                None => None,
            };
            let (origin, text) = match replacement {
                Some((path, bytes)) => {
                    let text = String::from_utf8(bytes).map_err(|_| PagesError::Template {
                        path: path.clone(),
                        line: 1,
                        message: "not UTF-8 text".to_string(),
                    })?;
                    (path, text)
                }
                None => (
                    Path::new("control-plane/assets/pages").join(name),
                    built_in.to_string(),
                ),
            };
            env.add_template_owned(name, text)
                .map_err(|e| template_error(&origin, &e))?;
            sources.push((name, origin));
        }
        let mut logo = None;
        if let Some(dir) = dir {
            for (file, content_type) in LOGOS {
                if let Some(bytes) = read(&dir.join(file))? {
                    logo = Some(Logo {
                        etag: etag(&bytes),
                        bytes: bytes.into(),
                        content_type,
                    });
                    break;
                }
            }
        }
        let console_theme = match dir {
            Some(dir) => read(&dir.join(CONSOLE_THEME))?.map(axum::body::Bytes::from),
            None => None,
        };
        let pages = Pages(
            Arc::new(Inner {
                env,
                sources,
                logo,
                console_theme,
            }),
            Arc::from(Vec::new()),
        );
        pages.trial()?;
        Ok(pages)
    }

    /// Render every page with sample values, with and without an error.
    fn trial(&self) -> Result<(), PagesError> {
        for (page, context) in super::trial_contexts(self.logo().is_some()) {
            self.render(page.template(), context)
                .map_err(|e| self.error(&e))?;
        }
        Ok(())
    }

    /// The file a minijinja error points into, with its line.
    fn error(&self, e: &minijinja::Error) -> PagesError {
        let name = e.name().unwrap_or("sign-in.html");
        let path = self
            .0
            .sources
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| PathBuf::from(name), |(_, p)| p.clone());
        template_error(&path, e)
    }

    /// Render the template `name` with `context`.
    pub fn render(&self, name: &str, context: Value) -> Result<String, minijinja::Error> {
        self.0.env.get_template(name)?.render(context)
    }

    /// Log a render error with the file and line it points at.
    pub fn log_error(&self, e: &minijinja::Error) {
        tracing::error!(error = %self.error(e), "rendering a page failed");
    }

    /// The operator's console theme (`console.css` in `pages_dir`), if any.
    pub fn console_theme(&self) -> Option<&axum::body::Bytes> {
        self.0.console_theme.as_ref()
    }

    /// These pages, offering `providers` on the sign-in page.
    pub fn with_providers(mut self, providers: Vec<ProviderLink>) -> Self {
        self.1 = Arc::from(providers);
        self
    }

    /// The instance-wide providers the sign-in page offers.
    pub fn providers(&self) -> &[ProviderLink] {
        &self.1
    }

    /// The operator's logo, if `pages_dir` holds one.
    pub fn logo(&self) -> Option<&Logo> {
        self.0.logo.as_ref()
    }
}

fn template_error(path: &Path, e: &minijinja::Error) -> PagesError {
    let message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    PagesError::Template {
        path: path.to_path_buf(),
        line: e.line().unwrap_or(1),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_load() {
        let pages = Pages::load(None).unwrap();
        assert!(pages.logo().is_none());
        assert_eq!(pages.0.sources.len(), BUILT_IN.len());
    }

    #[test]
    fn values_are_escaped_but_paths_keep_their_slashes() {
        let mut env = environment();
        env.add_template("t.html", "<a href=\"{{ a }}\">{{ b }}</a>{{ c }}")
            .unwrap();
        let out = env
            .get_template("t.html")
            .and_then(|t| t.render(minijinja::context! { a => "/x?y=1&z", b => "<b>'\"", c => () }))
            .unwrap();
        assert_eq!(out, "<a href=\"/x?y=1&amp;z\">&lt;b&gt;&#39;&quot;</a>");
    }

    #[test]
    fn a_broken_template_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sign-in.html"),
            "<h1>Sign in</h1>\n<p>\n{% if error %}\n",
        )
        .unwrap();
        let err = Pages::load(Some(dir.path())).unwrap_err().to_string();
        let file = dir.path().join("sign-in.html").display().to_string();
        assert!(err.starts_with(&format!("`{file}`:")), "{err}");
        assert!(err.contains("syntax error"), "{err}");

        std::fs::write(
            dir.path().join("sign-in.html"),
            "<p>\n{{ retrun_to }}</p>\n",
        )
        .unwrap();
        let err = Pages::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains(&format!("`{file}`:2:")), "{err}");
        assert!(err.contains("undefined"), "{err}");

        // An error's message printed without `{% if error %}`: found at
        // load, not when the first person opens the page.
        std::fs::write(
            dir.path().join("sign-in.html"),
            "<p>{{ email }}</p>\n<p>{{ error.message }}</p>\n",
        )
        .unwrap();
        let err = Pages::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains(&format!("`{file}`:2:")), "{err}");
    }
}
