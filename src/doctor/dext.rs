//! `doctor --dext PATH`, offline: a `.dext` bundle (Info.plist and executable at the bundle root, as
//! DriverKit bundles are laid out, or under `Contents/` and `Contents/MacOS/`), or its Info.plist alone.
//! Reads the `IOKitPersonalities` (the keys the kernel reads: IOClass, IOUserClass, IOProviderClass,
//! UserClientProperties, IOUserServerName and the matching keys) and the executable's symbol table
//! ([`super::dext_symbols`]). What the two together say is judged in [`super::dext_checks`].

use super::dext_symbols::{self, ExecutableSymbols};
use super::error::{DoctorError, line_column, read};
use crate::backends::replay::prop_from_plist;
use crate::lab::Prop;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Keys of a personality that are not matching keys (everything else in it is compared by the kernel).
const NOT_MATCHING: &[&str] = &[
    "IOClass",
    "IOUserClass",
    "IOUserServerName",
    "IOProviderClass",
    "UserClientProperties",
    "CFBundleIdentifier",
    "CFBundleIdentifierKernel",
    "IOMatchCategory",
    "IOProbeScore",
    "IOPersonalityPublisher",
];

/// One entry of `IOKitPersonalities`.
#[derive(Clone, Debug, PartialEq)]
pub struct Personality {
    /// Its key in `IOKitPersonalities`.
    pub name: String,
    pub io_class: Option<Prop>,
    pub user_class: Option<Prop>,
    pub provider_class: Option<Prop>,
    pub user_client_properties: Option<Prop>,
    /// IOProviderClass aside, what the kernel compares against the provider (idVendor, IOResourceMatch, ...).
    pub matching: BTreeMap<String, Prop>,
}

impl Personality {
    pub fn user_class_name(&self) -> Option<&str> {
        self.user_class.as_ref().and_then(Prop::as_str)
    }

    /// `UserClientProperties` → `IOUserClass`: the class of the user client the dext creates.
    pub fn user_client_class(&self) -> Option<&str> {
        self.user_client_properties
            .as_ref()?
            .as_dict()?
            .get("IOUserClass")?
            .as_str()
    }
}

/// The executable, when the bundle has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Executable {
    pub path: PathBuf,
    pub symbols: ExecutableSymbols,
}

/// What `--dext PATH` read.
#[derive(Clone, Debug, PartialEq)]
pub struct DextBundle {
    /// The path given.
    pub source: String,
    pub info_plist: PathBuf,
    pub bundle_id: Option<String>,
    pub personalities: Vec<Personality>,
    /// `None` when only an Info.plist was given: the symbol checks say they could not run.
    pub executable: Option<Executable>,
}

impl DextBundle {
    pub fn load(path: &Path) -> Result<DextBundle, DoctorError> {
        let (info_plist, root) = if path.is_dir() {
            let candidates = [path.join("Info.plist"), path.join("Contents/Info.plist")];
            let found = candidates.iter().find(|p| p.is_file()).cloned();
            let Some(p) = found else {
                return Err(DoctorError::syntax(
                    path,
                    1,
                    None,
                    "a .dext bundle needs Info.plist at its root (or Contents/Info.plist); found neither",
                ));
            };
            (p, Some(path.to_path_buf()))
        } else {
            (path.to_path_buf(), None)
        };
        let bytes = read(&info_plist, crate::input::SMALL_TEXT)?;
        // Building a plist::Value recurses per level: refuse deep nesting first (issue 18).
        use crate::backends::replay::plist_depth::{MAX_PLIST_DEPTH, check_depth};
        if let Err(deep) = check_depth(&bytes, MAX_PLIST_DEPTH) {
            let (line, column) = line_column(&bytes, deep.offset.unwrap_or(0));
            return Err(DoctorError::syntax(
                &info_plist,
                line,
                Some(column),
                format!("nested more than {MAX_PLIST_DEPTH} levels deep: not a bundle's Info.plist"),
            ));
        }
        let plist = plist::Value::from_reader(std::io::Cursor::new(&bytes)).map_err(|e| {
            let text = e.to_string();
            let offset = text
                .rfind("(offset ")
                .and_then(|i| text[i + 8..].split(')').next()?.parse::<usize>().ok());
            let (line, column) = line_column(&bytes, offset.unwrap_or(0));
            DoctorError::syntax(
                &info_plist,
                line,
                Some(column),
                format!("not a plist ({text}): expected the dext's Info.plist"),
            )
        })?;
        let Prop::Dict(top) = prop_from_plist(&plist) else {
            return Err(DoctorError::syntax(
                &info_plist,
                1,
                None,
                "the top level is not a dictionary: expected the dext's Info.plist",
            ));
        };
        let at = |key: &str, what: &str| {
            let (line, column) = key_place(&bytes, key);
            DoctorError::syntax(&info_plist, line, column, format!("`{key}`: {what}"))
        };
        let personalities = match top.get("IOKitPersonalities") {
            Some(Prop::Dict(d)) => d
                .iter()
                .map(|(name, p)| match p {
                    Prop::Dict(p) => Ok(personality(name, p)),
                    _ => Err(at(name, "expected a personality dictionary")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(at(
                    "IOKitPersonalities",
                    "expected a dictionary of personalities",
                ));
            }
            None => {
                return Err(DoctorError::syntax(
                    &info_plist,
                    1,
                    None,
                    "no IOKitPersonalities: a dext's Info.plist names what it matches and which class the kernel instantiates there",
                ));
            }
        };
        let bundle_id = top
            .get("CFBundleIdentifier")
            .and_then(Prop::as_str)
            .map(String::from);
        let executable = match root {
            None => None,
            Some(root) => {
                let name = top
                    .get("CFBundleExecutable")
                    .and_then(Prop::as_str)
                    .ok_or_else(|| {
                        DoctorError::syntax(
                            &info_plist,
                            1,
                            None,
                            "no CFBundleExecutable string: expected the name of the dext's executable",
                        )
                    })?;
                let candidates = [root.join(name), root.join("Contents/MacOS").join(name)];
                let Some(exe) = candidates.iter().find(|p| p.is_file()) else {
                    let (line, column) = key_place(&bytes, "CFBundleExecutable");
                    return Err(DoctorError::syntax(
                        &info_plist,
                        line,
                        column,
                        format!(
                            "CFBundleExecutable is {name:?}, but neither {} nor {} exists",
                            candidates[0].display(),
                            candidates[1].display()
                        ),
                    ));
                };
                let data = read(exe, crate::input::EXECUTABLE)?;
                let symbols = dext_symbols::read(&data)
                    .map_err(|e| DoctorError::syntax(exe, 1, None, e.to_string()))?;
                Some(Executable {
                    path: exe.clone(),
                    symbols,
                })
            }
        };
        Ok(DextBundle {
            source: path.display().to_string(),
            info_plist,
            bundle_id,
            personalities,
            executable,
        })
    }
}

fn personality(name: &str, p: &BTreeMap<String, Prop>) -> Personality {
    Personality {
        name: name.to_string(),
        io_class: p.get("IOClass").cloned(),
        user_class: p.get("IOUserClass").cloned(),
        provider_class: p.get("IOProviderClass").cloned(),
        user_client_properties: p.get("UserClientProperties").cloned(),
        matching: p
            .iter()
            .filter(|(k, _)| !NOT_MATCHING.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// Where `<key>key</key>` is written, for error places.
fn key_place(bytes: &[u8], key: &str) -> (usize, Option<usize>) {
    let form = format!("<key>{key}</key>");
    match bytes.windows(form.len()).position(|w| w == form.as_bytes()) {
        Some(at) => {
            let (l, c) = line_column(bytes, at);
            (l, Some(c))
        }
        None => (1, None),
    }
}
