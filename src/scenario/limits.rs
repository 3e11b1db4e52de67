//! How much a scenario, driver or lab file may ask of the loader: its size on disk, and the YAML
//! budget (values, nesting, anchors and aliases) serde-saphyr enforces while parsing. Files are
//! untrusted (they come with bug reports); these limits keep a hostile one from costing more than a
//! refusal. Owns the numbers and the words for a breach; knows nothing of what the files mean.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Budget, Error as YamlError, Options};

/// A file larger than this is refused before it is parsed. The largest shipped file is a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// YAML values (scalars, lists, maps) in one file.
pub const MAX_YAML_NODES: usize = 100_000;
/// Nesting of lists and maps (a `repeat` inside a `repeat` costs about three levels).
pub const MAX_YAML_DEPTH: usize = 48;
/// `*alias` uses, `&anchor` definitions, and the values aliases may replay in total: the bounds that
/// make an alias bomb ("billion laughs") a quick refusal instead of an exponential expansion.
pub const MAX_YAML_ALIASES: usize = 1_000;
pub const MAX_YAML_ANCHORS: usize = 1_000;
pub const MAX_YAML_REPLAYED: usize = 20_000;

/// The parser options every file is read with.
pub(crate) fn yaml_options() -> Options {
    let mut budget = Budget::default();
    budget.max_nodes = MAX_YAML_NODES;
    budget.max_depth = MAX_YAML_DEPTH;
    budget.max_aliases = MAX_YAML_ALIASES;
    budget.max_anchors = MAX_YAML_ANCHORS;
    budget.max_documents = 1;
    budget.max_inclusion_depth = 0;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_YAML_REPLAYED;
    options
}

/// A person's words for a limit serde-saphyr enforced, or `None` for any other error.
pub(crate) fn breach_message(err: &YamlError) -> Option<String> {
    const BOMB: &str = "a file this size needs far fewer; is it an alias bomb?";
    let mut err = err;
    while let YamlError::AliasError { error, .. } | YamlError::WithSnippet { error, .. } = err {
        err = error;
    }
    Some(match err {
        YamlError::Budget { breach, .. } => match breach {
            BudgetBreach::Nodes { .. } => format!(
                "the file has more than {MAX_YAML_NODES} YAML values (counting what its aliases expand to): {BOMB}"
            ),
            BudgetBreach::Aliases { .. } => {
                format!("the file uses more than {MAX_YAML_ALIASES} aliases (`*name`): {BOMB}")
            }
            BudgetBreach::Anchors { .. } => {
                format!("the file defines more than {MAX_YAML_ANCHORS} anchors (`&name`)")
            }
            BudgetBreach::Depth { .. } => format!(
                "lists and maps are nested more than {MAX_YAML_DEPTH} deep: flatten the file"
            ),
            BudgetBreach::Documents { .. } => {
                "the file holds more than one YAML document (`---`): one scenario or driver a file"
                    .to_string()
            }
            BudgetBreach::AliasAnchorRatio { .. } => {
                format!("the file uses many more aliases than anchors: {BOMB}")
            }
            other => format!("the file is too large or complex to load ({other:?})"),
        },
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. } => {
            format!("aliases in the file expand to more than {MAX_YAML_REPLAYED} values: {BOMB}")
        }
        YamlError::RecursiveReferencesRequireWeakTypes { .. } => {
            "an alias refers to the anchor it is inside (`&x [*x]`): a value cannot contain itself"
                .to_string()
        }
        YamlError::AliasReplayStackDepthExceeded { .. } => {
            format!("aliases nest inside aliases too deeply: {BOMB}")
        }
        _ => return None,
    })
}
