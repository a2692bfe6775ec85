//! DFS path rules: POSIX-like, relative paths taken from `/`, and nothing that could
//! name a location outside the DFS (no `.`/`..`/empty components, no NUL).

use crate::config::PATH_BYTES_MAX;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PathError {
    #[error("invalid DFS path {0:?}: the path is empty")]
    Empty(String),
    #[error("invalid DFS path {0:?}: it contains a NUL byte")]
    Nul(String),
    #[error("invalid DFS path {0:?}: it is longer than {PATH_BYTES_MAX} bytes")]
    TooLong(String),
    #[error("invalid DFS path {0:?}: empty, '.' and '..' components are not allowed")]
    Component(String),
}

/// Returns the canonical form `/a/b` of a DFS path, or why it is not one.
pub fn normalize(path: &str) -> Result<String, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty(path.into()));
    }
    if path.contains('\0') {
        return Err(PathError::Nul(path.into()));
    }
    if path.len() > PATH_BYTES_MAX {
        return Err(PathError::TooLong(
            path.chars().take(40).collect::<String>() + "...",
        ));
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    if body.is_empty() {
        return Err(PathError::Empty(path.into()));
    }
    if body
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(PathError::Component(path.into()));
    }
    Ok(format!("/{body}"))
}

/// The canonical form of a listing prefix: like a path, but `/` and `""` mean everything.
pub fn normalize_prefix(prefix: &str) -> Result<String, PathError> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok("/".into());
    }
    normalize(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_start_at_the_root() {
        assert_eq!(normalize("a/b.txt").unwrap(), "/a/b.txt");
        assert_eq!(normalize("/a/b.txt").unwrap(), "/a/b.txt");
    }

    #[test]
    fn escapes_are_refused() {
        for bad in [
            "",
            "/",
            "..",
            "../etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "a/.",
            "a\0b",
            "a/",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize(&"x".repeat(PATH_BYTES_MAX + 1)).is_err());
    }

    #[test]
    fn prefixes_allow_the_root() {
        assert_eq!(normalize_prefix("/").unwrap(), "/");
        assert_eq!(normalize_prefix("data/").unwrap(), "/data");
    }
}
