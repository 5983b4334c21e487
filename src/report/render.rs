//! Rendering reports with minijinja templates: the built-in ones are compiled into the binary
//! (`templates/reports/`), and a plan's `[reports] templates` folder may replace any of them.
//! HTML templates (`.html`) are auto-escaped; text templates are not.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

/// The built-in templates, by name.
pub const BUILT_IN: [(&str, &str); 5] = [
    (
        "daily.html",
        include_str!("../../templates/reports/daily.html"),
    ),
    (
        "daily.txt",
        include_str!("../../templates/reports/daily.txt"),
    ),
    (
        "final.html",
        include_str!("../../templates/reports/final.html"),
    ),
    (
        "final.txt",
        include_str!("../../templates/reports/final.txt"),
    ),
    (
        "style.html",
        include_str!("../../templates/reports/style.html"),
    ),
];

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read report template {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("report template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

/// The templates, ready to render.
pub struct Templates {
    environment: Environment<'static>,
}

impl Templates {
    /// The built-in templates, with those found in `overrides` (when given) replacing them.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, RenderError> {
        let mut environment = Environment::new();
        environment.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        environment.set_keep_trailing_newline(true);
        environment.add_filter("pad", |text: String, width: usize| {
            format!("{text:<width$}")
        });
        environment.add_filter("rpad", |text: String, width: usize| {
            format!("{text:>width$}")
        });
        for (name, source) in BUILT_IN {
            let text = match overrides.map(|dir| dir.join(name)) {
                Some(path) if path.is_file() => {
                    std::fs::read_to_string(&path).map_err(|source| RenderError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => source.to_string(),
            };
            environment
                .add_template_owned(name, text)
                .map_err(|source| RenderError::Template {
                    name: name.to_string(),
                    source,
                })?;
        }
        Ok(Templates { environment })
    }

    /// Renders template `name` with `report` as its context (`report.<field>`).
    pub fn render(&self, name: &str, report: &impl Serialize) -> Result<String, RenderError> {
        let failed = |source| RenderError::Template {
            name: name.to_string(),
            source,
        };
        let template = self.environment.get_template(name).map_err(failed)?;
        template
            .render(minijinja::context! { report => minijinja::Value::from_serialize(report) })
            .map_err(failed)
    }
}

/// A report rendered in both forms.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedReport {
    pub subject: String,
    pub text: String,
    pub html: String,
}
