//! The mail templates (minijinja): for each message a subject, a plain-text
//! body and an HTML body (`control-plane/assets/mail/`, the HTML ones on a
//! shared `layout.html`, values HTML-escaped). An operator's
//! `[mail] templates_dir` replaces any file by name; every template is
//! rendered with sample values at load, so a broken one stops the start
//! naming its file and line.

use super::Message;
use super::dates::datetime;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Output, State, UndefinedBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// The built-in templates, by the file name that replaces each.
const BUILT_IN: [(&str, &str); 16] = [
    ("layout.html", include_str!("../../assets/mail/layout.html")),
    (
        "verify_email.subject.txt",
        include_str!("../../assets/mail/verify_email.subject.txt"),
    ),
    (
        "verify_email.txt",
        include_str!("../../assets/mail/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("../../assets/mail/verify_email.html"),
    ),
    (
        "reset_password.subject.txt",
        include_str!("../../assets/mail/reset_password.subject.txt"),
    ),
    (
        "reset_password.txt",
        include_str!("../../assets/mail/reset_password.txt"),
    ),
    (
        "reset_password.html",
        include_str!("../../assets/mail/reset_password.html"),
    ),
    (
        "password_changed.subject.txt",
        include_str!("../../assets/mail/password_changed.subject.txt"),
    ),
    (
        "password_changed.txt",
        include_str!("../../assets/mail/password_changed.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../../assets/mail/password_changed.html"),
    ),
    (
        "invitation.subject.txt",
        include_str!("../../assets/mail/invitation.subject.txt"),
    ),
    (
        "invitation.txt",
        include_str!("../../assets/mail/invitation.txt"),
    ),
    (
        "invitation.html",
        include_str!("../../assets/mail/invitation.html"),
    ),
    (
        "payment_failed.subject.txt",
        include_str!("../../assets/mail/payment_failed.subject.txt"),
    ),
    (
        "payment_failed.txt",
        include_str!("../../assets/mail/payment_failed.txt"),
    ),
    (
        "payment_failed.html",
        include_str!("../../assets/mail/payment_failed.html"),
    ),
];

/// Why the templates could not be loaded or a message rendered; each
/// names the file.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
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
    #[error("no mail template is called `{0}`")]
    Unknown(String),
}

/// One message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    pub text: String,
    pub html: String,
}

struct Inner {
    env: Environment<'static>,
    /// Where each template came from, for error messages.
    sources: Vec<(&'static str, PathBuf)>,
}

/// The templates mail is rendered with. Cloning is cheap.
#[derive(Clone)]
pub struct MailTemplates(Arc<Inner>);

impl std::fmt::Debug for MailTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let replaced: Vec<&PathBuf> = self
            .0
            .sources
            .iter()
            .filter(|(_, p)| !p.starts_with(BUILT_IN_DIR))
            .map(|(_, p)| p)
            .collect();
        f.debug_struct("MailTemplates")
            .field("replaced", &replaced)
            .finish()
    }
}

/// Where the built-in templates are said to come from in errors.
const BUILT_IN_DIR: &str = "control-plane/assets/mail";

/// The built-in templates, loaded once.
static BUILT_IN_TEMPLATES: LazyLock<Option<MailTemplates>> = LazyLock::new(|| {
    MailTemplates::load(None)
        .map_err(|e| tracing::error!(error = %e, "the built-in mail templates do not load"))
        .ok()
});

impl Default for MailTemplates {
    /// The built-in templates (tested to load; should they not, the error
    /// is logged and rendering fails, leaving mail its stored text).
    fn default() -> Self {
        BUILT_IN_TEMPLATES.clone().unwrap_or_else(|| {
            MailTemplates(Arc::new(Inner {
                env: environment(),
                sources: Vec::new(),
            }))
        })
    }
}

/// Prints values escaped for HTML in `.html` templates (links keep their
/// `/`); none and undefined print nothing.
fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), minijinja::Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    let text = value.to_string();
    let escaped = match state.auto_escape() {
        AutoEscape::Html if !value.is_safe() => crate::api::pages::escape(&text),
        _ => text,
    };
    out.write_str(&escaped).map_err(minijinja::Error::from)
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_formatter(formatter);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_filter("datetime", datetime);
    env
}

fn read(path: &Path) -> Result<Option<String>, TemplateError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| TemplateError::Template {
                path: path.to_path_buf(),
                line: 1,
                message: "not UTF-8 text".to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TemplateError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The subject as one line: whitespace runs (newlines included) collapse.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl MailTemplates {
    /// The built-in templates, each replaced by the file of the same name
    /// in `dir` when there is one; every message is then rendered with
    /// sample values.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            return Err(TemplateError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let mut env = environment();
        let mut sources = Vec::new();
        for (name, built_in) in BUILT_IN {
            let replacement = match dir {
                Some(dir) => read(&dir.join(name))?.map(|text| (dir.join(name), text)),
                None => None,
            };
            let (origin, text) = replacement
                .unwrap_or_else(|| (Path::new(BUILT_IN_DIR).join(name), built_in.into()));
            env.add_template_owned(name, text)
                .map_err(|e| template_error(&origin, &e))?;
            sources.push((name, origin));
        }
        let templates = MailTemplates(Arc::new(Inner { env, sources }));
        for sample in super::samples::samples() {
            templates.render_message(&sample)?;
        }
        Ok(templates)
    }

    /// The files the templates came from (built-in ones under
    /// `control-plane/assets/mail/`).
    pub fn sources(&self) -> impl Iterator<Item = &Path> {
        self.0.sources.iter().map(|(_, p)| p.as_path())
    }

    /// Render `message`.
    pub fn render_message(&self, message: &Message) -> Result<Rendered, TemplateError> {
        self.render(message.template(), &message.data())
    }

    /// Render the template `name` with `data` (a JSON object, as kept in
    /// the outbox).
    pub fn render(&self, name: &str, data: &serde_json::Value) -> Result<Rendered, TemplateError> {
        if !BUILT_IN
            .iter()
            .any(|(file, _)| *file == format!("{name}.txt"))
        {
            return Err(TemplateError::Unknown(name.to_string()));
        }
        let env = &self.0.env;
        let context = Value::from(Serde(data));
        let get = |file: String, context: Value| {
            env.get_template(&file)
                .and_then(|t| t.render(context))
                .map_err(|e| self.error(&file, &e))
        };
        let subject = one_line(&get(format!("{name}.subject.txt"), context.clone())?);
        let text = get(format!("{name}.txt"), context)?;
        let mut with_subject = data.clone();
        if let Some(values) = with_subject.as_object_mut() {
            values.insert("subject".into(), subject.clone().into());
        }
        let html = get(format!("{name}.html"), Value::from(Serde(&with_subject)))?;
        Ok(Rendered {
            subject,
            text: format!("{}\n", text.trim_end()),
            html,
        })
    }

    /// The file a minijinja error points into (the error's own template,
    /// e.g. the layout, else `file`), with its line.
    fn error(&self, file: &str, e: &minijinja::Error) -> TemplateError {
        let name = e.name().unwrap_or(file);
        let path = self
            .0
            .sources
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| PathBuf::from(name), |(_, p)| p.clone());
        template_error(&path, e)
    }
}

fn template_error(path: &Path, e: &minijinja::Error) -> TemplateError {
    let message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    TemplateError::Template {
        path: path.to_path_buf(),
        line: e.line().unwrap_or(1),
        message,
    }
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;
