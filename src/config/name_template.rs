//! `download.name`: a file name made from an item's fields (`"{alt}{ext}"`), checked when the
//! config is loaded and rendered for each file, made safe to use as a name in `download.dir`.
//!
//! It owns the template's rules and the cleaning of a name; it touches no file.

use std::fmt;

use super::keys;
use super::url_template::{Piece, closest, split_template};

/// The longest file name made from a template, in bytes: under the 255 of common file systems
/// with room for the temporary name's `.<name>.<pid>.<n>.part`.
pub const MAX_NAME_BYTES: usize = 200;

/// A `download.name` template whose braces and text are checked; [`NameTemplate::check`] holds
/// its placeholders to the item's fields once they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    /// As written in the config.
    source: String,
}

impl NameTemplate {
    /// Checks `template`'s braces, and its folders: `/` may separate path components (`"{title}/
    /// {n}{ext}"`, a folder per gallery), but the template may not start with one, hold `\`, an
    /// empty component, or a component that is `.` or `..` as written (the folder is `dir`,
    /// and nothing may leave it).
    pub fn new(template: &str) -> Result<NameTemplate, String> {
        let key = keys::DOWNLOAD_NAME.path;
        let pieces = split_template(template).map_err(|err| format!("`{key}`: {err}"))?;
        let mut text_only = String::new();
        for piece in &pieces {
            match piece {
                Piece::Text(text) if text.contains('\\') => {
                    return Err(format!(
                        "`{key}` separates folders with `/`, not `\\` ({template:?})"
                    ));
                }
                Piece::Text(text) => text_only.push_str(text),
                // Stands for a value: a component made of it is not empty, `.` or `..`.
                Piece::Placeholder(_) => text_only.push('*'),
            }
        }
        if text_only.starts_with('/') {
            return Err(format!(
                "`{key}` is a name inside `download.dir`, not an absolute path ({template:?}): \
                 put the folder in `dir`"
            ));
        }
        if text_only
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(format!(
                "`{key}` has an empty, `.` or `..` folder ({template:?}): each part between `/` \
                 names a folder inside `download.dir`, and nothing may leave it"
            ));
        }
        Ok(NameTemplate {
            source: template.to_string(),
        })
    }

    /// Checks that every placeholder is one of the item's `fields` or `{ext}`, and that one at
    /// least is a field (a constant name would give every file one name).
    pub fn check(&self, fields: &[&str]) -> Result<(), String> {
        let (key, template) = (keys::DOWNLOAD_NAME.path, &self.source);
        let mut uses_a_field = false;
        for piece in split_template(template)? {
            match piece {
                Piece::Placeholder("ext" | "n") => {}
                Piece::Placeholder(name) if fields.contains(&name) => uses_a_field = true,
                Piece::Placeholder(name) => {
                    let hint = closest(name, fields, &[])
                        .map(|known| format!(": did you mean `{{{known}}}`?"))
                        .unwrap_or_default();
                    return Err(format!(
                        "`{key}` names `{{{name}}}`, which is neither a field nor `{{ext}}` or \
                         `{{n}}`{hint}"
                    ));
                }
                Piece::Text(_) => {}
            }
        }
        if !uses_a_field {
            return Err(format!(
                "`{key}` must use at least one field, such as \"{{title}}{{ext}}\": otherwise \
                 every file gets the same name ({template:?})"
            ));
        }
        Ok(())
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the template names a file by its position in the item (`{n}`): then an item's
    /// files are told apart by it, and get no `-2`, `-3` suffix.
    pub fn uses_position(&self) -> bool {
        split_template(&self.source)
            .is_ok_and(|pieces| pieces.iter().any(|p| matches!(p, Piece::Placeholder("n"))))
    }

    /// The file name (a relative path, components joined by `/`) the template gives to the
    /// `n`th file (1-based) of an item: `{ext}` is `ext`, `{n}` is `n`, any other `{field}` the
    /// item's value from `fields` (an error when it has none), each value stripped of path
    /// separators (`/` and `\` become `_`), NUL and control characters. Each component is
    /// trimmed, loses its leading dots (no hidden file, no `..`), has each run of dots made one,
    /// and is cut to [`MAX_NAME_BYTES`] on a character boundary (the last keeping the
    /// extension). A component that ends up empty is an error: the download stage then names
    /// the file by its URL.
    pub fn render(
        &self,
        fields: &dyn Fn(&str) -> Option<String>,
        ext: &str,
        n: usize,
    ) -> Result<String, String> {
        let mut components = vec![String::new()];
        for piece in split_template(&self.source)? {
            let current = components.last_mut().expect("one component at least");
            match piece {
                Piece::Text(text) => {
                    let mut parts = text.split('/');
                    current.push_str(parts.next().unwrap_or_default());
                    components.extend(parts.map(str::to_string));
                }
                Piece::Placeholder("ext") => current.push_str(ext),
                Piece::Placeholder("n") => current.push_str(&n.to_string()),
                Piece::Placeholder(field) => {
                    let value =
                        fields(field).ok_or_else(|| format!("the field {field:?} is null"))?;
                    current.extend(value.chars().filter(|c| !c.is_control()).map(|c| match c {
                        '/' | '\\' => '_',
                        c => c,
                    }));
                }
            }
        }
        let last = components.len() - 1;
        let cleaned: Vec<String> = components
            .into_iter()
            .enumerate()
            .map(|(i, raw)| clean_component(&raw, if i == last { ext } else { "" }))
            .collect::<Result<_, _>>()?;
        Ok(cleaned.join("/"))
    }
}

/// One component of a rendered name, made safe (see [`NameTemplate::render`]); `ext` is the
/// extension the last component keeps when cut.
fn clean_component(raw: &str, ext: &str) -> Result<String, String> {
    let mut clean = String::with_capacity(raw.len());
    for c in raw.trim().trim_start_matches('.').chars() {
        if !(c == '.' && clean.ends_with('.')) {
            clean.push(c);
        }
    }
    if clean.is_empty() || clean == ext || clean == ext.trim_start_matches('.') {
        return Err(format!("the name is empty once cleaned ({raw:?})"));
    }
    Ok(cap_name(clean, ext))
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for NameTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<NameTemplate, D::Error> {
        let text = String::deserialize(deserializer)?;
        NameTemplate::new(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for NameTemplate {
    /// As written in the config.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// `name` cut to [`MAX_NAME_BYTES`] on a character boundary, keeping `ext` when it ends it.
fn cap_name(name: String, ext: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let keep = if !ext.is_empty() && name.ends_with(ext) && ext.len() < MAX_NAME_BYTES {
        ext
    } else {
        ""
    };
    let mut cut = MAX_NAME_BYTES - keep.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{keep}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_template(template: &str, alt: Option<&str>, ext: &str) -> Result<String, String> {
        let fields = |name: &str| (name == "alt").then(|| alt.map(str::to_string)).flatten();
        NameTemplate::new(template)?.render(&fields, ext, 1)
    }

    fn check_name_template(template: &str, fields: &[&str]) -> Result<(), String> {
        NameTemplate::new(template)?.check(fields)
    }

    #[test]
    fn template_names_are_sanitised() {
        let ok = |alt: &str| from_template("{alt}{ext}", Some(alt), ".jpg").unwrap();
        assert_eq!(ok("Cover of A Light"), "Cover of A Light.jpg");
        assert_eq!(ok("../../etc/passwd"), "_._etc_passwd.jpg");
        assert_eq!(ok("a\\b/c"), "a_b_c.jpg");
        assert_eq!(ok("  .hidden "), "hidden .jpg");
        assert_eq!(ok("a\nb\tc\u{7f}\u{0}d"), "abcd.jpg");
        assert_eq!(ok("dots...and..more"), "dots.and.more.jpg");
        assert_eq!(
            from_template("{{x}}-{alt}{ext}", Some("a"), ".png").unwrap(),
            "{x}-a.png"
        );
        // Long names are cut on a character boundary, keeping the extension.
        let long = ok(&"é".repeat(150));
        assert!(
            long.len() <= MAX_NAME_BYTES && long.ends_with(".jpg"),
            "{long}"
        );
        assert_eq!(long, format!("{}.jpg", "é".repeat(98)));
        let no_ext = from_template("{alt}", Some(&"ü".repeat(150)), "").unwrap();
        assert_eq!(no_ext, "ü".repeat(100));
        for (alt, says) in [
            (Some("   "), "empty"),
            (Some(".."), "empty"),
            (Some("..."), "empty"),
            (None, "the field \"alt\" is null"),
        ] {
            let err = from_template("{alt}{ext}", alt, ".jpg").unwrap_err();
            assert!(err.contains(says), "{alt:?}: {err}");
        }
    }

    #[test]
    fn folders_come_from_the_template_and_values_never_make_one() {
        let fields = |name: &str| match name {
            "title" => Some("../../Spring/Gallery ".to_string()),
            "empty" => Some(" . ".to_string()),
            _ => None,
        };
        let render = |template: &str, n| {
            NameTemplate::new(template)
                .unwrap()
                .render(&fields, ".jpg", n)
        };
        assert_eq!(
            render("{title}/{n}{ext}", 2).unwrap(),
            "_._Spring_Gallery/2.jpg"
        );
        assert_eq!(
            render("g/{title}/{n}{ext}", 1).unwrap(),
            "g/_._Spring_Gallery/1.jpg"
        );
        let err = render("{empty}/{n}{ext}", 1).unwrap_err();
        assert!(err.contains("empty once cleaned"), "{err}");
        assert!(
            NameTemplate::new("{title}/{n}{ext}")
                .unwrap()
                .uses_position()
        );
        assert!(!NameTemplate::new("{title}{ext}").unwrap().uses_position());
    }

    #[test]
    fn templates_are_checked_at_config_time() {
        let fields = ["title", "alt"];
        assert_eq!(check_name_template("{alt}{ext}", &fields), Ok(()));
        assert_eq!(
            check_name_template("covers/{title}/{n}{ext}", &fields),
            Ok(())
        );
        assert_eq!(check_name_template("{title}/{n}{ext}", &fields), Ok(()));
        for (template, says) in [
            (
                "{atl}{ext}",
                "`download.name` names `{atl}`, which is neither a field nor `{ext}` or `{n}`: did you mean \
                 `{alt}`?",
            ),
            ("/covers/{alt}{ext}", "not an absolute path"),
            ("covers/../{alt}{ext}", "`..` folder"),
            ("covers//{alt}{ext}", "empty"),
            ("{alt}/./{n}{ext}", "`.`"),
            ("covers\\{alt}{ext}", "not `\\`"),
            ("{ext}", "must use at least one field"),
            ("{n}{ext}", "must use at least one field"),
            ("cover.jpg", "must use at least one field"),
            ("{alt", "`download.name`: unclosed `{`"),
        ] {
            let err = check_name_template(template, &fields).unwrap_err();
            assert!(err.contains(says), "{template}: {err}");
        }
    }
}
