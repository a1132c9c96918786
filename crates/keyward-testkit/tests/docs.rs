//! The repository's markdown holds together, and the publishable crates hold what they
//! include: every relative link (and its `#anchor`) points at something that exists, every
//! guide a crate includes into its rustdoc lives in that crate's `docs/` folder (so it is
//! packaged) and is listed in `docs/README.md`, no publishable crate includes a file from
//! outside itself, and the README's axum example is the one `keyward-axum`'s README
//! doc-tests.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use keyward_testkit::workspace_root;

/// Every `*.md` of the repository, outside build output, installed peers and hidden folders.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The lines of `text` outside fenced code blocks, with inline code spans removed.
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut kept = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                kept.push_str(part);
            }
        }
        lines.push(kept);
    }
    lines
}

/// The targets of the inline links `[text](target)` in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                targets.push(rest[..end].trim().to_owned());
                rest = &rest[end..];
            }
        }
    }
    targets
}

/// The anchors GitHub gives the headings of `text`: lower case, punctuation dropped
/// (except `-` and `_`), spaces as `-`, repeats numbered.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').trim();
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut n = 1;
        while seen.contains(&unique) {
            unique = format!("{slug}-{n}");
            n += 1;
        }
        seen.insert(unique);
    }
    seen
}

#[test]
fn relative_links_in_markdown_resolve() {
    let root = workspace_root();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.iter().any(|f| f.ends_with("README.md")), "no markdown found under {}", root.display());
    let mut broken = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            let shown = file.strip_prefix(&root).unwrap_or(file).display().to_string();
            if !resolved.exists() {
                broken.push(format!("{shown}: {target} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor
                && resolved.extension().is_some_and(|e| e == "md")
                && !anchors(&fs::read_to_string(&resolved).unwrap()).contains(anchor)
            {
                broken.push(format!("{shown}: {target} (no such heading)"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_sees_links_and_headings() {
    let text = "# The OAuth 1.0a provider\n\n## Flow state, and what each state error means\n\
                See [a](b.md#c) and `[not](a link)`.\n```\n[nor](this)\n```\n";
    assert_eq!(link_targets(text), ["b.md#c"]);
    let found = anchors(text);
    assert!(found.contains("the-oauth-10a-provider"), "{found:?}");
    assert!(found.contains("flow-state-and-what-each-state-error-means"), "{found:?}");
}

/// `(crate folder, guide file name)` for every `include_str!("../docs/NAME.md")` in a
/// crate's `src/lib.rs`.
fn included_guides(root: &Path) -> Vec<(String, String)> {
    let mut guides = Vec::new();
    let mut crates: Vec<_> = fs::read_dir(root.join("crates")).unwrap().map(|e| e.unwrap().path()).collect();
    crates.sort();
    for dir in crates {
        let Ok(lib) = fs::read_to_string(dir.join("src/lib.rs")) else { continue };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut rest = lib.as_str();
        while let Some(at) = rest.find("include_str!(\"") {
            rest = &rest[at + "include_str!(\"".len()..];
            let end = rest.find('"').unwrap();
            let included = &rest[..end];
            if included.ends_with(".md") && !included.ends_with("README.md") {
                guides.push((name.clone(), included.to_owned()));
            }
            rest = &rest[end..];
        }
    }
    guides
}

#[test]
fn guides_live_in_the_crate_that_includes_them_and_are_indexed() {
    let root = workspace_root();
    let guides = included_guides(&root);
    assert!(guides.len() >= 8, "expected the eight guides, found {guides:?}");
    let index = fs::read_to_string(root.join("docs/README.md")).unwrap();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let mut included = BTreeSet::new();
    for (krate, path) in &guides {
        let file = path.strip_prefix("../docs/").unwrap_or_else(|| {
            panic!("{krate} includes {path}: a guide must sit in the crate's own docs/ folder, or it is not packaged")
        });
        assert!(!file.contains('/'), "{krate} includes {path}: keep guides directly under docs/");
        let at = format!("crates/{krate}/docs/{file}");
        assert!(root.join(&at).is_file(), "{at} is missing");
        assert!(index.contains(&format!("(../{at})")), "docs/README.md does not list {at}");
        assert!(readme.contains(&format!("({at})")), "README.md does not list {at}");
        included.insert(at);
    }
    // The other way: every markdown file in a crate's docs/ is included, so it is doc-tested.
    for (krate, _) in &guides {
        for entry in fs::read_dir(root.join("crates").join(krate).join("docs")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let at = format!("crates/{krate}/docs/{name}");
            assert!(included.contains(&at), "{at} is not included by its crate's rustdoc");
        }
    }
    // The repository's docs/ is only the index.
    let loose: Vec<_> = fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    assert!(loose.is_empty(), "guides belong in their crate's docs/, not in docs/: {loose:?}");
}

/// The `.rs` files under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for path in entries.map(|e| e.unwrap().path()) {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `cargo package --no-verify` (what CI runs) does not compile the packages, so it would not
/// notice a crate that includes a file from outside itself, which a published crate does not
/// have. This does: every `include_str!`/`include_bytes!` in the library code (`src/`,
/// `build.rs`) of a publishable crate names a file inside that crate. Includes in a file's
/// `#[cfg(test)]` part are left out: only `cargo test` of the repository compiles them.
#[test]
fn publishable_crates_include_only_their_own_files() {
    let root = workspace_root();
    let mut checked = 0;
    let mut outside = Vec::new();
    for dir in fs::read_dir(root.join("crates")).unwrap().map(|e| e.unwrap().path()) {
        let Ok(manifest) = fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        if manifest.lines().any(|l| l.replace(' ', "") == "publish=false") {
            continue;
        }
        let crate_dir = dir.canonicalize().unwrap();
        let mut files = vec![dir.join("build.rs")];
        rust_files(&dir.join("src"), &mut files);
        for file in files.into_iter().filter(|f| f.is_file()) {
            let text = fs::read_to_string(&file).unwrap();
            let library = text.split("#[cfg(test)]").next().unwrap_or_default();
            for macro_name in ["include_str!(\"", "include_bytes!(\""] {
                let mut rest = library;
                while let Some(at) = rest.find(macro_name) {
                    rest = &rest[at + macro_name.len()..];
                    let included = &rest[..rest.find('"').unwrap()];
                    let target = file.parent().unwrap().join(included);
                    let shown = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
                    match target.canonicalize() {
                        Ok(t) if t.starts_with(&crate_dir) => checked += 1,
                        Ok(_) => outside.push(format!("{shown}: {included} is outside the crate")),
                        Err(_) => outside.push(format!("{shown}: {included} does not exist")),
                    }
                }
            }
        }
    }
    assert!(checked >= 9, "expected the guides, the README and the migrations; found {checked} includes");
    assert!(outside.is_empty(), "not packaged:\n{}", outside.join("\n"));
}

/// The ```rust blocks of a markdown text.
fn rust_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(String::new()),
            Some(block) if line.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn the_readme_example_is_the_one_keyward_axum_doc_tests() {
    let root = workspace_root();
    let readme = rust_blocks(&fs::read_to_string(root.join("README.md")).unwrap());
    let axum = rust_blocks(&fs::read_to_string(root.join("crates/keyward-axum/README.md")).unwrap());
    assert!(!readme.is_empty(), "README.md has no rust block");
    assert_eq!(
        readme, axum,
        "README.md's rust blocks differ from crates/keyward-axum/README.md's (which the crate \
         doc-tests): change both"
    );
}
