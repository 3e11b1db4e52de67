//! "Did you mean" hints: the nearest valid name to a misspelled one.

/// The candidate closest to `wrong` by Jaro-Winkler similarity, if any is reasonably close.
pub fn nearest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wrong_lc = wrong.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wrong_lc, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_close_names_and_refuses_far_ones() {
        assert_eq!(
            super::nearest("selectr", ["selector", "scalars"]),
            Some("selector")
        );
        assert_eq!(super::nearest("zzzz", ["selector", "scalars"]), None);
    }
}
