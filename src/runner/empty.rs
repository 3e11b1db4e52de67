//! Saying why a run selected nothing (nextest's "no tests to run"), so a typo'd path, filter or tag is seen
//! at once instead of passing a release gate with exit 0.

use libtest_mimic::Arguments;

/// `the paths hold no scenario`, or which of the selectors left none of the corpus.
pub fn why_nothing(corpus: usize, libtest: &Arguments, tags: &[String]) -> String {
    if corpus == 0 {
        return "the given paths hold no scenario file".to_string();
    }
    let mut by = Vec::new();
    if let Some(f) = &libtest.filter {
        let exact = if libtest.exact { " (--exact)" } else { "" };
        by.push(format!("the name filter `{f}`{exact}"));
    }
    if !libtest.skip.is_empty() {
        by.push(format!("--skip {}", libtest.skip.join(", ")));
    }
    if !tags.is_empty() {
        by.push(format!("--tag {}", tags.join(", ")));
    }
    if libtest.ignored {
        by.push("--ignored (only scenarios tagged `ignore`)".to_string());
    }
    let what = if by.is_empty() {
        "every scenario is tagged `ignore`".to_string()
    } else {
        format!("{} left none", by.join(" and "))
    };
    format!(
        "of the {corpus} scenario{} found, {what}",
        if corpus == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_what_selected_nothing() {
        let args = Arguments {
            filter: Some("ds62O".into()),
            ..Arguments::default()
        };
        assert_eq!(
            why_nothing(28, &args, &["nightlly".into()]),
            "of the 28 scenarios found, the name filter `ds62O` and --tag nightlly left none"
        );
        assert_eq!(
            why_nothing(0, &Arguments::default(), &[]),
            "the given paths hold no scenario file"
        );
    }
}
