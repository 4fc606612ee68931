//! The backend basic-auth password (`proxy.backendAuth`): supplied to
//! `iis-rewrite envoy` from a file or an environment variable, never printed by `import` or
//! `explain`. The user name is not a secret; the password, and the `Authorization` value made
//! from it, are.

use std::fmt;
use std::path::{Path, PathBuf};

use iis_rewrite_filter::config::BackendAuth;
use iis_rewrite_filter::decision::Decision;
use iis_rewrite_filter::FilterConfig;

/// What `explain` shows instead of a secret.
pub const MASK: &str = "***";

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    File(PathBuf),
    Env(String),
}

/// Why the backend credentials could not be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// A password source without a user (neither `--backend-user` nor `proxy.backendAuth`).
    NoUser,
    /// `proxy.backendAuth` without a password and no source given.
    NoPassword,
    /// The user name cannot be sent in Basic credentials.
    BadUser,
    Unreadable {
        path: PathBuf,
        reason: String,
    },
    /// `--backend-password-env` with an empty name or one containing `=`.
    EnvUnset(String),
    /// An empty password, or one with a line break or other control character.
    BadPassword(String),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::NoUser => f.write_str(
                "a backend password was given but no user: add --backend-user USER (or \
                 proxy.backendAuth.user in the JSON configuration)",
            ),
            SecretError::NoPassword => f.write_str(
                "proxy.backendAuth has no password: give --backend-password-file FILE or \
                 --backend-password-env VAR",
            ),
            SecretError::BadUser => f.write_str(
                "--backend-user: a Basic-auth user name cannot be empty or contain ':' or \
                 control characters",
            ),
            SecretError::Unreadable { path, reason } => {
                write!(f, "--backend-password-file {}: {reason}", path.display())
            }
            SecretError::EnvUnset(v) => {
                write!(
                    f,
                    "--backend-password-env {v}: the variable is not set or not UTF-8"
                )
            }
            SecretError::BadPassword(from) => write!(
                f,
                "the backend password from {from} is empty or contains control characters"
            ),
        }
    }
}

impl std::error::Error for SecretError {}

fn read_password(source: &PasswordSource) -> Result<String, SecretError> {
    let (raw, from) = match source {
        PasswordSource::File(p) => (
            read_small(p).map_err(|reason| SecretError::Unreadable {
                path: p.clone(),
                reason,
            })?,
            format!("file {}", p.display()),
        ),
        PasswordSource::Env(v) => (
            std::env::var(v).unwrap_or_default(),
            format!("variable {v}"),
        ),
    };
    // A file usually ends with a newline; the password does not.
    let pw = raw.strip_suffix('\n').unwrap_or(&raw);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    if pw.is_empty() || pw.chars().any(char::is_control) {
        return Err(SecretError::BadPassword(from));
    }
    Ok(pw.to_string())
}

fn read_small(p: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(p).map_err(|e| e.to_string())?;
    let mut s = String::new();
    f.take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Puts the backend credentials into `config.proxy.backendAuth` for `iis-rewrite envoy`: a
/// password file is read now and its content embedded; an environment variable is only named
/// (`passwordEnv`), the filter reads it from Envoy's environment when it loads. Returns whether
/// the configuration now carries the password itself.
pub fn apply(
    config: &mut FilterConfig,
    user: Option<&str>,
    source: Option<&PasswordSource>,
) -> Result<bool, SecretError> {
    if let Some(u) = user {
        if u.is_empty() || u.contains(':') || u.chars().any(char::is_control) {
            return Err(SecretError::BadUser);
        }
        let proxy = config.proxy.get_or_insert_with(Default::default);
        let old = proxy.backend_auth.take().unwrap_or_default();
        proxy.backend_auth = Some(BackendAuth {
            user: u.to_string(),
            ..old
        });
    }
    let auth = config.proxy.as_mut().and_then(|p| p.backend_auth.as_mut());
    match (auth, source) {
        (None, None) => Ok(false),
        (None, Some(_)) => Err(SecretError::NoUser),
        (Some(a), Some(PasswordSource::Env(var))) => {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(SecretError::EnvUnset(var.clone()));
            }
            a.password.clear();
            a.password_env = Some(var.clone());
            Ok(false)
        }
        (Some(a), Some(src)) => {
            a.password = read_password(src)?;
            a.password_env = None;
            Ok(true)
        }
        (Some(a), None) if a.password.is_empty() && a.password_env.is_none() => {
            Err(SecretError::NoPassword)
        }
        (Some(_), None) => Ok(true),
    }
}

/// The environment variables the filter reads passwords from (`passwordEnv`, server level and
/// farms), for `vm_config.environment_variables.host_env_keys`.
pub fn env_keys(config: &FilterConfig) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let farms = config.web_farms.iter().filter_map(|f| f.protocol.as_ref());
    for p in config.proxy.iter().chain(farms) {
        if let Some(k) = p.backend_auth.as_ref().and_then(|a| a.password_env.clone()) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys
}

/// The configuration as `import` writes it: passwords left out (`iis-rewrite envoy` asks for
/// them again; a placeholder could be mistaken for the password). Returns whether one was.
pub fn mask_config(config: &mut FilterConfig) -> bool {
    let mut masked = false;
    let mut mask = |a: &mut Option<BackendAuth>| {
        if let Some(a) = a {
            if !a.password.is_empty() {
                a.password.clear();
                masked = true;
            }
        }
    };
    if let Some(p) = config.proxy.as_mut() {
        mask(&mut p.backend_auth);
    }
    for f in &mut config.web_farms {
        if let Some(p) = f.protocol.as_mut() {
            mask(&mut p.backend_auth);
        }
    }
    masked
}

/// The decision as `explain` shows it: the `Authorization` the filter adds is `Basic ***`.
pub fn mask_decision(config: &FilterConfig, decision: &mut Decision) {
    let has_auth = config
        .proxy
        .as_ref()
        .is_some_and(|p| p.backend_auth.is_some())
        || config.web_farms.iter().any(|f| {
            f.protocol
                .as_ref()
                .is_some_and(|p| p.backend_auth.is_some())
        });
    if !has_auth {
        return;
    }
    for e in &mut decision.request_headers {
        if &*e.name == "authorization" {
            if let Some(v) = e.value.as_mut() {
                *v = format!("Basic {MASK}").into();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn password_from_file_and_env() {
        let dir = std::env::temp_dir().join(format!("iis-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "s3cr:et\n").unwrap();
        let mut c = FilterConfig::default();
        assert!(apply(&mut c, Some("svc"), Some(&PasswordSource::File(f.clone()))).unwrap());
        let a = c.proxy.as_ref().unwrap().backend_auth.as_ref().unwrap();
        assert_eq!((a.user.as_str(), a.password.as_str()), ("svc", "s3cr:et"));
        assert!(mask_config(&mut c));
        assert_eq!(
            c.proxy
                .as_ref()
                .unwrap()
                .backend_auth
                .as_ref()
                .unwrap()
                .password,
            ""
        );
        std::fs::write(&f, "a\nb\n").unwrap();
        assert!(matches!(
            apply(&mut c, None, Some(&PasswordSource::File(f))),
            Err(SecretError::BadPassword(_))
        ));
        let mut c = FilterConfig::default();
        assert_eq!(
            apply(&mut c, None, Some(&PasswordSource::Env("X".into()))),
            Err(SecretError::NoUser)
        );
        assert_eq!(apply(&mut c, Some("a:b"), None), Err(SecretError::BadUser));
        assert_eq!(
            apply(&mut c, Some("svc"), None),
            Err(SecretError::NoPassword)
        );
        // The variable is only named: its value is read by the filter inside Envoy.
        assert_eq!(
            apply(&mut c, Some("svc"), Some(&PasswordSource::Env("PW".into()))),
            Ok(false)
        );
        let a = c.proxy.as_ref().unwrap().backend_auth.as_ref().unwrap();
        assert_eq!(
            (a.password.as_str(), a.password_env.as_deref()),
            ("", Some("PW"))
        );
        assert_eq!(
            apply(&mut c, None, Some(&PasswordSource::Env("A=B".into()))),
            Err(SecretError::EnvUnset("A=B".into()))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
