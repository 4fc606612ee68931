//! A site's `physicalPath` (a Windows path such as `%SystemDrive%\inetpub\wwwroot`) mapped to a
//! directory on this machine, where its web.config is looked for.
//!
//! Environment variables IIS expands in physical paths are replaced by their values on a default
//! Windows installation; a drive (`C:`) is a directory given by the user, by default the one
//! holding applicationHost.config (so a copy of the server's files laid out as on the drive
//! works as it is). Windows file names are case-insensitive, so each component is matched
//! case-insensitively when the exact name is absent. UNC paths are not mapped.

use std::path::{Path, PathBuf};

/// Why a physical path could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// `%NAME%` that has no known value.
    UnknownVariable(String),
    /// `\\server\share\…`.
    Unc,
    /// Neither `X:\…` nor a path this machine can use.
    NotAbsolute,
}

impl std::fmt::Display for PathProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathProblem::UnknownVariable(v) => write!(f, "%{v}% has no known value"),
            PathProblem::Unc => f.write_str("a network (UNC) path is not mapped"),
            PathProblem::NotAbsolute => f.write_str("not an absolute Windows path (X:\\…)"),
        }
    }
}

/// The values of the variables found in physical paths on a default Windows installation.
fn variable(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "systemdrive" => "C:",
        "systemroot" | "windir" => "C:\\Windows",
        "programfiles" => "C:\\Program Files",
        "programfiles(x86)" => "C:\\Program Files (x86)",
        "programdata" | "allusersprofile" => "C:\\ProgramData",
        "public" => "C:\\Users\\Public",
        _ => return None,
    })
}

/// Expands `%NAME%` references.
pub fn expand(path: &str) -> Result<String, PathProblem> {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('%') {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find('%') else {
            out.push_str(rest.get(start..).unwrap_or_default());
            return Ok(out);
        };
        let name = after.get(..end).unwrap_or_default();
        out.push_str(variable(name).ok_or_else(|| PathProblem::UnknownVariable(name.into()))?);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// The local directory for `physical_path`: `drive_root` stands for the drive's root.
pub fn map(physical_path: &str, drive_root: &Path) -> Result<PathBuf, PathProblem> {
    let expanded = expand(physical_path.trim())?;
    if expanded.starts_with("\\\\") || expanded.starts_with("//") {
        return Err(PathProblem::Unc);
    }
    let bytes = expanded.as_bytes();
    let has_drive = bytes.len() >= 2
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.get(1) == Some(&b':');
    if !has_drive {
        return Err(PathProblem::NotAbsolute);
    }
    let mut dir = drive_root.to_path_buf();
    for part in expanded
        .get(2..)
        .unwrap_or_default()
        .split(['\\', '/'])
        .filter(|p| !p.is_empty() && *p != ".")
    {
        dir = child_ignoring_case(&dir, part);
    }
    Ok(dir)
}

/// `dir/name`, or the entry of `dir` whose name equals `name` ignoring case.
pub fn child_ignoring_case(dir: &Path, name: &str) -> PathBuf {
    let exact = dir.join(name);
    if exact.exists() {
        return exact;
    }
    std::fs::read_dir(dir)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
                .map(|e| e.path())
        })
        .unwrap_or(exact)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn variables_and_drives() {
        assert_eq!(
            expand("%SystemDrive%\\inetpub\\wwwroot").unwrap(),
            "C:\\inetpub\\wwwroot"
        );
        assert_eq!(expand("%windir%\\x").unwrap(), "C:\\Windows\\x");
        assert_eq!(
            expand("%NOPE%\\x"),
            Err(PathProblem::UnknownVariable("NOPE".into()))
        );
        assert_eq!(expand("50%").unwrap(), "50%");
        let root = Path::new("/srv/copy");
        assert_eq!(
            map("%SystemDrive%\\inetpub\\lync", root).unwrap(),
            PathBuf::from("/srv/copy/inetpub/lync")
        );
        assert_eq!(
            map("D:/sites/a/", root).unwrap(),
            PathBuf::from("/srv/copy/sites/a")
        );
        assert_eq!(map("\\\\fs\\share", root), Err(PathProblem::Unc));
        assert_eq!(map("inetpub", root), Err(PathProblem::NotAbsolute));
    }

    #[test]
    fn components_match_ignoring_case() {
        let dir = std::env::temp_dir().join(format!("iis-pp-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("InetPub").join("WWWRoot")).unwrap();
        let mapped = map("C:\\inetpub\\wwwroot", &dir).unwrap();
        assert_eq!(mapped, dir.join("InetPub").join("WWWRoot"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
