//! Which C++ classes of a dext's Mach-O executable define the DriverKit methods doctor cares about
//! (`NewUserClient_Impl`, `ExternalMethod_Impl`, `Start_Impl`), read from its symbol table with the `object`
//! crate: a thin Mach-O or a universal (fat) one, every architecture read and merged.
//!
//! DriverKit's `IMPL(Class, Method)` macro defines `Class::Method_Impl(...)`, so a class that overrides
//! `NewUserClient` has a symbol such as `__ZN10NullDriver18NewUserClient_ImplEjPP12IOUserClient`. Only the
//! nested-name prefix of the Itanium mangling is read (`_ZN` [CV qualifiers] `<len><name>`... `E`): that is
//! all that is needed to name the class and the method, and it needs no demangler crate.

use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};
use object::{FileKind, Object, ObjectSymbol};
use std::collections::{BTreeMap, BTreeSet};

/// The methods doctor looks for, as DriverKit's `IMPL` macro names them.
pub const NEW_USER_CLIENT: &str = "NewUserClient_Impl";
pub const EXTERNAL_METHOD: &str = "ExternalMethod_Impl";
pub const START: &str = "Start_Impl";
const WATCHED: &[&str] = &[NEW_USER_CLIENT, EXTERNAL_METHOD, START];

/// What the executable's symbol table says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutableSymbols {
    /// `arm64`, `x86_64`, ... one per slice.
    pub arches: Vec<String>,
    /// Every class with at least one C++ method symbol, with the watched methods it defines (possibly none).
    pub classes: BTreeMap<String, BTreeSet<&'static str>>,
    /// How many C++ symbols were read; 0 means stripped (nothing can be said about classes).
    pub cxx_symbols: usize,
}

impl ExecutableSymbols {
    /// No C++ symbol survived: the binary was stripped.
    pub fn stripped(&self) -> bool {
        self.cxx_symbols == 0
    }

    pub fn defines(&self, class: &str, method: &str) -> bool {
        self.classes.get(class).is_some_and(|m| m.contains(method))
    }

    /// The classes that define `method`.
    pub fn classes_with(&self, method: &str) -> Vec<&str> {
        self.classes
            .iter()
            .filter(|(_, m)| m.contains(method))
            .map(|(c, _)| c.as_str())
            .collect()
    }
}

/// Why the executable could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    #[error("not a Mach-O executable ({0}): expected the dext's executable, thin or universal")]
    NotMachO(String),
    #[error("a malformed Mach-O: {0}")]
    Malformed(String),
}

/// Read the symbol table of a thin or universal Mach-O held in `data`.
pub fn read(data: &[u8]) -> Result<ExecutableSymbols, SymbolsError> {
    let kind = FileKind::parse(data).map_err(|e| SymbolsError::NotMachO(e.to_string()))?;
    let mut out = ExecutableSymbols::default();
    match kind {
        FileKind::MachO32 | FileKind::MachO64 => slice(data, &mut out)?,
        FileKind::MachOFat32 => {
            let fat = MachOFatFile32::parse(data).map_err(malformed)?;
            for arch in fat.arches() {
                slice(arch.data(data).map_err(malformed)?, &mut out)?;
            }
        }
        FileKind::MachOFat64 => {
            let fat = MachOFatFile64::parse(data).map_err(malformed)?;
            for arch in fat.arches() {
                slice(arch.data(data).map_err(malformed)?, &mut out)?;
            }
        }
        other => return Err(SymbolsError::NotMachO(format!("{other:?}"))),
    }
    Ok(out)
}

fn malformed(e: object::Error) -> SymbolsError {
    SymbolsError::Malformed(e.to_string())
}

fn slice(data: &[u8], out: &mut ExecutableSymbols) -> Result<(), SymbolsError> {
    let file = object::File::parse(data).map_err(malformed)?;
    if !matches!(file.format(), object::BinaryFormat::MachO) {
        return Err(SymbolsError::NotMachO(format!("{:?}", file.format())));
    }
    out.arches.push(arch_name(file.architecture()));
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        // Only defined symbols: an undefined `IOService::Start_Impl` is a call into the framework.
        if sym.is_undefined() {
            continue;
        }
        // Mach-O prefixes C symbols with `_`: `__ZN...` is the C++ name `_ZN...`.
        let Some((class, method)) = name.strip_prefix('_').and_then(class_and_method) else {
            continue;
        };
        out.cxx_symbols += 1;
        let methods = out.classes.entry(class).or_default();
        if let Some(w) = WATCHED.iter().find(|w| **w == method) {
            methods.insert(w);
        }
    }
    Ok(())
}

fn arch_name(a: object::Architecture) -> String {
    match a {
        object::Architecture::Aarch64 => "arm64".into(),
        object::Architecture::X86_64 => "x86_64".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// `_ZN10NullDriver18NewUserClient_ImplEjPP12IOUserClient` → (`NullDriver`, `NewUserClient_Impl`). Nested
/// names only (a method of a class); namespaces are joined with `::` into the class. Anything this reader
/// does not follow (templates, substitutions, special names) gives `None`.
pub fn class_and_method(mangled: &str) -> Option<(String, String)> {
    let mut rest = mangled.strip_prefix("_ZN")?.as_bytes();
    // CV- and ref-qualifiers of the method: `_ZNK...` is a const method.
    while let Some((&c, tail)) = rest.split_first() {
        if matches!(c, b'K' | b'V' | b'r' | b'R' | b'O') {
            rest = tail;
        } else {
            break;
        }
    }
    let mut parts = Vec::new();
    loop {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            break;
        }
        let len: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        let name = rest.get(digits..digits + len)?;
        parts.push(std::str::from_utf8(name).ok()?.to_string());
        rest = &rest[digits + len..];
    }
    if rest.first() != Some(&b'E') || parts.len() < 2 {
        return None;
    }
    let method = parts.pop()?;
    Some((parts.join("::"), method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nested_name_prefix_gives_class_and_method() {
        assert_eq!(
            class_and_method("_ZN10NullDriver18NewUserClient_ImplEjPP12IOUserClient"),
            Some(("NullDriver".into(), "NewUserClient_Impl".into()))
        );
        assert_eq!(
            class_and_method("_ZNK2ns6Driver5countEv"),
            Some(("ns::Driver".into(), "count".into()))
        );
        // A free function, a length running past the end, and a template are not read.
        assert_eq!(class_and_method("_Z5startv"), None);
        assert_eq!(class_and_method("_ZN10Null"), None);
        assert_eq!(class_and_method("_ZN10NullDriverIiE5countEv"), None);
    }

    /// The executables `tests/fixtures/dext/build.sh` made with clang, ld64.lld, llvm-lipo and llvm-strip.
    fn fixture(rel: &str) -> ExecutableSymbols {
        let path = format!("{}/tests/fixtures/dext/{rel}", env!("CARGO_MANIFEST_DIR"));
        read(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn thin_universal_and_stripped_executables_are_read() {
        let thin = fixture("DNPPrinterDriver.dext/DNPPrinterDriver");
        assert_eq!(thin.arches, ["arm64"]);
        assert_eq!(thin.classes_with(NEW_USER_CLIENT), ["DNPPrinterDriver"]);
        assert_eq!(thin.classes_with(EXTERNAL_METHOD), ["DNPPrinterUserClient"]);
        assert!(thin.classes.contains_key("DNPPrinterNub") && !thin.stripped());
        let fat = fixture("wrong-class.dext/Contents/MacOS/DNPPrinterDriver");
        let mut arches = fat.arches.clone();
        arches.sort();
        assert_eq!(arches, ["arm64", "x86_64"]);
        assert_eq!(fat.classes, thin.classes);
        let stripped = fixture("stripped.dext/DNPPrinterDriver");
        assert!(stripped.stripped() && stripped.classes.is_empty());
    }

    #[test]
    fn bytes_that_are_not_mach_o_are_refused() {
        let e = read(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0").unwrap_err();
        assert!(e.to_string().contains("not a Mach-O"), "{e}");
        assert!(read(b"hello").is_err());
    }
}
