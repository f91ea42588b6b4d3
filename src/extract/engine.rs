//! What kind of pages an extractor reads (`format`), how it parses HTML (`engine`), and which
//! way a page's items were found (`Used`): the small enums the config and the stages name.

/// How pages are turned into items (`extract.engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Follow html5ever's tree builder on the token stream without building a tree, and hand
    /// every page it cannot follow exactly to the DOM engine. The same items as `Dom`, for less
    /// CPU.
    #[default]
    Stream,
    /// Build the full HTML5 document tree (html5ever) for every page and select in it.
    Dom,
}

impl Engine {
    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Stream => "stream",
            Engine::Dom => "dom",
        }
    }
}

/// What a listing's (or a detail page's) pages are (`extract.format`, `follow.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// HTML, read with CSS selectors.
    #[default]
    Html,
    /// JSON, read with JSONPath (RFC 9535).
    Json,
}

/// Which engine produced a page's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    /// The streaming pass.
    Stream,
    /// The document tree: `engine = "dom"`, a selector the stream cannot match, or a page the
    /// stream handed back.
    Dom,
    /// JSONPath, on a JSON page.
    Json,
}
