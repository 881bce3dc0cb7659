//! The checks a component passes before it may serve, apart from compiling and running it:
//! which version of Clocky's contract it was built for, what it imports, and so whose data it
//! reads.
//!
//! Both read only the component's type, so they run before anything of the plugin executes.
//! The check run against sample data, the last step, is in [`super::sample`].

use semver::Version;
use wasmtime::Engine;
use wasmtime::component::Component;

use super::{PluginError, Scope, WORLD_VERSION};

/// The package every plugin interface belongs to.
const PACKAGE: &str = "clocky:plugin";

/// The interface a plugin of the `exporter-plugin` world exports.
const EXPORTER: &str = "clocky:plugin/exporter";

/// WASI interfaces a plugin may import. Rust's standard library for `wasm32-wasip2` imports
/// some of these even when the plugin never uses them (standard error for panic messages, the
/// clocks, random numbers for hash maps). The host links them with nothing behind them that
/// reaches outside the sandbox: no variables, no arguments, standard output discarded.
const ALLOWED_WASI: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-",
];

/// Interfaces refused with a reason of their own, because a plugin author who imports one of
/// these most likely did so on purpose and should learn why it cannot work.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "wasi:filesystem/",
        "plugins may not read or write files; the host gives them the user's rows and stores \
         the document they return",
    ),
    ("wasi:sockets/", "plugins may not open network connections"),
    ("wasi:http/", "plugins may not make HTTP requests"),
];

/// The contract version the component was built for, read from the name of the exporter
/// interface it exports (`clocky:plugin/exporter@1.0.0`). Refuses a component that exports no
/// such interface, and one built for a version this host does not serve.
pub fn world_version(component: &Component, engine: &Engine) -> Result<Version, PluginError> {
    let component_type = component.component_type();
    let mut found = None;
    for (name, _) in component_type.exports(engine) {
        if let Some(rest) = name.strip_prefix(EXPORTER) {
            found = Some(parse_version(name, rest)?);
        }
    }
    let Some(version) = found else {
        return Err(PluginError::Contract(format!(
            "it exports no `{EXPORTER}` interface; build it for the `exporter-plugin` world in \
             Clocky's wit/ folder"
        )));
    };
    if !supported(&version) {
        return Err(PluginError::WorldVersion {
            plugin: version.to_string(),
            host: WORLD_VERSION.to_owned(),
        });
    }

    // Every other interface of the package it imports must come from the same version, so
    // that the host's answer to each one is the one the plugin was compiled against.
    for (name, _) in component_type.imports(engine) {
        if let Some(rest) = name.strip_prefix(PACKAGE) {
            let (_, versioned) = rest.split_once('@').unwrap_or((rest, ""));
            let imported = parse_version(name, &format!("@{versioned}"))?;
            if imported != version {
                return Err(PluginError::Contract(format!(
                    "it imports `{name}` but exports `{EXPORTER}@{version}`; build every part \
                     against one version of Clocky's wit/ folder"
                )));
            }
        }
    }
    Ok(version)
}

/// Whether this host serves plugins built for `version`: the same major version, and no
/// newer than the host's own (a newer minor version may import what this host lacks).
pub fn supported(version: &Version) -> bool {
    let host = host_version();
    version.pre.is_empty() && version.major == host.major && *version <= host
}

/// The host's own contract version.
pub fn host_version() -> Version {
    // The constant is written by hand next to the WIT package line; a unit test keeps the two
    // in step, so this cannot fail in a build that passed its tests.
    Version::parse(WORLD_VERSION).unwrap_or_else(|_| Version::new(1, 0, 0))
}

fn parse_version(name: &str, rest: &str) -> Result<Version, PluginError> {
    let text = rest.strip_prefix('@').unwrap_or_default();
    Version::parse(text).map_err(|_| {
        PluginError::Contract(format!(
            "`{name}` carries no usable version; build it against Clocky's wit/ folder, whose \
             package line gives one"
        ))
    })
}

/// Refuses a component that imports anything outside the allow-list: Clocky's own interfaces
/// and the harmless WASI ones in [`ALLOWED_WASI`]. Linking alone would not catch these,
/// because the host links all of WASI so that Rust's standard library loads. Returns the
/// imports, for the operator's report.
pub fn imports(component: &Component, engine: &Engine) -> Result<Vec<String>, PluginError> {
    let mut imported = Vec::new();
    for (name, _) in component.component_type().imports(engine) {
        if name.starts_with(PACKAGE) || ALLOWED_WASI.iter().any(|allowed| name.starts_with(allowed))
        {
            imported.push(name.to_owned());
            continue;
        }
        let reason = FORBIDDEN
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .map_or("Clocky does not offer it to plugins", |(_, reason)| reason);
        return Err(PluginError::ForbiddenImport {
            interface: name.to_owned(),
            reason: reason.to_owned(),
        });
    }
    Ok(imported)
}

/// The capability of a per-user plugin.
const USER_DATA: &str = "clocky:plugin/user-data@";

/// The capability of a server-wide plugin.
const SERVER_DATA: &str = "clocky:plugin/server-data@";

/// The first contract version with server-wide plugins.
const SERVER_SINCE: Version = Version::new(1, 2, 0);

/// Whose data a plugin reads, from the capability among its `imports`: `server-data` makes it
/// a server-wide plugin, anything else a per-user one (a plugin that imports neither reads
/// nothing, and is served as a per-user format). Refuses a plugin that imports both, and a
/// server-wide plugin that claims a contract version without server-wide plugins.
pub fn scope(imports: &[String], version: &Version) -> Result<Scope, PluginError> {
    let user = imports.iter().any(|name| name.starts_with(USER_DATA));
    let server = imports.iter().any(|name| name.starts_with(SERVER_DATA));
    match (user, server) {
        (true, true) => Err(PluginError::Contract(
            "imports both `user-data` and `server-data`; a plugin reads either one user's data \
             (the `exporter-plugin` world) or one server's sessions (`server-exporter-plugin`), \
             never both"
                .to_owned(),
        )),
        (false, true) if *version < SERVER_SINCE => Err(PluginError::Contract(format!(
            "imports `server-data` but exports the exporter of clocky:plugin@{version}; \
             server-wide plugins need clocky:plugin@{SERVER_SINCE} or later"
        ))),
        (false, true) => Ok(Scope::Server),
        (_, false) => Ok(Scope::User),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_constant_matches_the_wit_package_line() {
        let wit = include_str!("../../../wit/clocky.wit");
        let line = wit
            .lines()
            .find(|line| line.starts_with("package "))
            .expect("the WIT file has a package line");
        assert_eq!(line, format!("package clocky:plugin@{WORLD_VERSION};"));
    }

    #[test]
    fn the_imported_capability_decides_the_scope() {
        let names = |list: &[&str]| {
            list.iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>()
        };
        let current = host_version();
        let user = names(&["clocky:plugin/user-data@1.2.0", "clocky:plugin/log@1.2.0"]);
        let server = names(&["clocky:plugin/server-data@1.2.0", "clocky:plugin/log@1.2.0"]);
        let both = names(&[
            "clocky:plugin/user-data@1.2.0",
            "clocky:plugin/server-data@1.2.0",
        ]);
        assert_eq!(scope(&user, &current).unwrap(), Scope::User);
        assert_eq!(scope(&server, &current).unwrap(), Scope::Server);
        assert_eq!(
            scope(&names(&["wasi:io/error@0.2.0"]), &current).unwrap(),
            Scope::User
        );
        let refused = scope(&both, &current).unwrap_err().to_string();
        assert!(refused.contains("never both"), "{refused}");
        let refused = scope(&server, &Version::new(1, 1, 0))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("need clocky:plugin@1.2.0"), "{refused}");
    }

    #[test]
    fn only_older_or_equal_versions_of_the_same_major_are_served() {
        let host = host_version();
        assert!(supported(&host));
        assert!(supported(&Version::new(host.major, 0, 0)));
        assert!(!supported(&Version::new(host.major + 1, 0, 0)));
        assert!(!supported(&Version::new(host.major, host.minor + 1, 0)));
        assert!(!supported(&Version::new(0, 9, 0)));
        assert!(!supported(
            &Version::parse(&format!("{WORLD_VERSION}-rc.1")).expect("a version")
        ));
    }
}
