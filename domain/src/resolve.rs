//! Finding projects and templates by id or by name, with "did you mean" when nothing fits.

use chatrixcd_ports::semaphore::{Project, Template};

use crate::grammar::suggest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    NotFound { what: &'static str, given: String, suggestion: Option<String>, known: Vec<String> },
    Ambiguous { what: &'static str, given: String, candidates: Vec<String> },
}

impl ResolveError {
    pub fn describe(&self) -> String {
        match self {
            Self::NotFound { what, given, suggestion: Some(s), .. } => {
                format!("No {what} `{given}`. Did you mean `{s}`?")
            }
            Self::NotFound { what, given, known, .. } if !known.is_empty() && known.len() <= 12 => {
                format!("No {what} `{given}`. Known: {}.", known.join(", "))
            }
            Self::NotFound { what, given, .. } => format!("No {what} `{given}`."),
            Self::Ambiguous { what, given, candidates } => {
                format!("`{given}` matches several {what}s: {}. Use the id or the full name.", candidates.join(", "))
            }
        }
    }
}

/// Something with an id and a name.
pub trait Named {
    fn id_text(&self) -> String;
    fn name(&self) -> &str;
}

impl Named for Project {
    fn id_text(&self) -> String {
        self.id.to_string()
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Template {
    fn id_text(&self) -> String {
        self.id.to_string()
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// By exact id, then exact name (case-insensitive), then a unique name prefix.
pub fn find<'a, T: Named>(what: &'static str, items: &'a [T], given: &str) -> Result<&'a T, ResolveError> {
    let wanted = given.trim_start_matches('#');
    if let Some(hit) = items.iter().find(|i| i.id_text() == wanted) {
        return Ok(hit);
    }
    if let Some(hit) = items.iter().find(|i| i.name().eq_ignore_ascii_case(given)) {
        return Ok(hit);
    }
    let lower = given.to_lowercase();
    let prefixed: Vec<&T> = items.iter().filter(|i| i.name().to_lowercase().starts_with(&lower)).collect();
    match prefixed.as_slice() {
        [one] if !given.is_empty() => Ok(one),
        [] | [_] => Err(ResolveError::NotFound {
            what,
            given: given.to_owned(),
            suggestion: suggest(given, items.iter().map(Named::name)).map(str::to_owned),
            known: items.iter().map(|i| format!("{} ({})", i.name(), i.id_text())).collect(),
        }),
        many => Err(ResolveError::Ambiguous {
            what,
            given: given.to_owned(),
            candidates: many.iter().map(|i| format!("{} ({})", i.name(), i.id_text())).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatrixcd_ports::ProjectId;

    fn projects() -> Vec<Project> {
        [(1, "ops"), (2, "web"), (3, "webshop")]
            .into_iter()
            .map(|(id, name)| Project { id: ProjectId::new(id), name: name.into() })
            .collect()
    }

    #[test]
    fn resolution_table() {
        let p = projects();
        assert_eq!(find("project", &p, "1").unwrap().name, "ops");
        assert_eq!(find("project", &p, "#2").unwrap().name, "web");
        assert_eq!(find("project", &p, "OPS").unwrap().name, "ops");
        assert_eq!(find("project", &p, "webs").unwrap().name, "webshop");
        assert_eq!(find("project", &p, "web").unwrap().name, "web");
        assert!(matches!(find("project", &p, "we"), Err(ResolveError::Ambiguous { .. })));
        let err = find("project", &p, "osp").unwrap_err();
        assert_eq!(err.describe(), "No project `osp`. Did you mean `ops`?");
        assert!(find("project", &p, "9").unwrap_err().describe().contains("Known: ops (1)"));
    }
}
