//! The element sets and name tables of html5ever's tree builder, for the stream engine's copy of
//! its rules ([`super::builder`]).
//!
//! Each set is html5ever 0.40's (`tree_builder/tag_sets.rs`, `tree_builder/data.rs` and the
//! adjustment tables in `tree_builder/mod.rs`), transcribed name for name, so that a rule written
//! with them decides exactly as html5ever does. This module holds data only; it decides nothing.

use html5ever::{LocalName, QualName, local_name, namespace_prefix, ns};

/// Whether `name` is the HTML element `local`.
pub(super) fn is_html(name: &QualName, local: &LocalName) -> bool {
    name.ns == ns!(html) && name.local == *local
}

/// An HTML element in one of the listed local names.
macro_rules! html_set {
    ($name:ident = $($tag:tt)|+) => {
        pub(super) fn $name(name: &QualName) -> bool {
            name.ns == ns!(html) && matches!(name.local, $(local_name!($tag))|+)
        }
    };
}

html_set!(
    html_default_scope = "applet"
        | "caption"
        | "html"
        | "table"
        | "td"
        | "th"
        | "marquee"
        | "object"
        | "select"
        | "template"
);
html_set!(table_scope = "html" | "table" | "template");
html_set!(table_body_context = "tbody" | "tfoot" | "thead" | "template" | "html");
html_set!(table_row_context = "tr" | "template" | "html");
html_set!(td_th = "td" | "th");
html_set!(heading = "h1" | "h2" | "h3" | "h4" | "h5" | "h6");
html_set!(
    cursory_implied_end =
        "dd" | "dt" | "li" | "option" | "optgroup" | "p" | "rb" | "rp" | "rt" | "rtc"
);
html_set!(table_outer = "table" | "tbody" | "tfoot" | "thead" | "tr");
html_set!(
    special = "address"
        | "applet"
        | "area"
        | "article"
        | "aside"
        | "base"
        | "basefont"
        | "bgsound"
        | "blockquote"
        | "body"
        | "br"
        | "button"
        | "caption"
        | "center"
        | "col"
        | "colgroup"
        | "dd"
        | "details"
        | "dir"
        | "div"
        | "dl"
        | "dt"
        | "embed"
        | "fieldset"
        | "figcaption"
        | "figure"
        | "footer"
        | "form"
        | "frame"
        | "frameset"
        | "h1"
        | "h2"
        | "h3"
        | "h4"
        | "h5"
        | "h6"
        | "head"
        | "header"
        | "hgroup"
        | "hr"
        | "html"
        | "iframe"
        | "img"
        | "input"
        | "isindex"
        | "li"
        | "link"
        | "listing"
        | "main"
        | "marquee"
        | "menu"
        | "meta"
        | "nav"
        | "noembed"
        | "noframes"
        | "noscript"
        | "object"
        | "ol"
        | "p"
        | "param"
        | "plaintext"
        | "pre"
        | "script"
        | "section"
        | "select"
        | "source"
        | "style"
        | "summary"
        | "table"
        | "tbody"
        | "td"
        | "template"
        | "textarea"
        | "tfoot"
        | "th"
        | "thead"
        | "title"
        | "tr"
        | "track"
        | "ul"
        | "wbr"
        | "xmp"
);

/// A set of local names (any namespace: the rules that use these look at tag tokens).
macro_rules! local_set {
    ($(#[$doc:meta])* $name:ident = $($tag:tt)|+) => {
        $(#[$doc])*
        pub(super) fn $name(name: &LocalName) -> bool {
            matches!(*name, $(local_name!($tag))|+)
        }
    };
}

local_set!(
    /// Start tags that "in head" handles, wherever they appear before the body ends.
    head_content = "base" | "basefont" | "bgsound" | "link" | "meta" | "noframes" | "script"
        | "style" | "template" | "title"
);
local_set!(
    /// Start tags that close a `<p>` and open a block.
    block_start = "address" | "article" | "aside" | "blockquote" | "center" | "details"
        | "dialog" | "dir" | "div" | "dl" | "fieldset" | "figcaption" | "figure" | "footer"
        | "header" | "hgroup" | "main" | "menu" | "nav" | "ol" | "p" | "search" | "section"
        | "summary" | "ul"
);
local_set!(
    /// End tags that close their element when it is in scope.
    block_end = "address" | "article" | "aside" | "blockquote" | "button" | "center"
        | "details" | "dialog" | "dir" | "div" | "dl" | "fieldset" | "figcaption" | "figure"
        | "footer" | "header" | "hgroup" | "listing" | "main" | "menu" | "nav" | "ol" | "pre"
        | "search" | "section" | "select" | "summary" | "ul"
);
local_set!(
    /// Formatting elements other than `<a>` and `<nobr>`.
    formatting = "b" | "big" | "code" | "em" | "font" | "i" | "s" | "small" | "strike"
        | "strong" | "tt" | "u"
);
local_set!(
    /// Headings.
    heading_name = "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
);
local_set!(
    /// Table parts that start a new row group, column group or caption.
    table_section = "caption" | "col" | "colgroup" | "tbody" | "tfoot" | "thead"
);
local_set!(
    /// End tags "in table" ignores.
    ignored_in_table = "body" | "caption" | "col" | "colgroup" | "html" | "tbody" | "td"
        | "tfoot" | "th" | "thead" | "tr"
);
local_set!(
    /// End tags "in caption" ignores.
    ignored_in_caption = "body" | "col" | "colgroup" | "html" | "tbody" | "td" | "tfoot"
        | "th" | "thead" | "tr"
);
local_set!(
    /// End tags "in table body" ignores.
    ignored_in_table_body = "body" | "caption" | "col" | "colgroup" | "html" | "td" | "th"
        | "tr"
);
local_set!(
    /// End tags "in row" ignores.
    ignored_in_row = "body" | "caption" | "col" | "colgroup" | "html" | "td" | "th"
);
local_set!(
    /// End tags "in cell" ignores.
    ignored_in_cell = "body" | "caption" | "col" | "colgroup" | "html"
);

local_set!(
    /// Start tags whose attributes the tree builder itself looks at: the formatting elements
    /// (compared and copied), `<html>` and `<body>` (merged), `<input>` (`type` in a table) and
    /// `<font>` (in SVG or MathML).
    attributes_read_by_builder = "a" | "b" | "big" | "body" | "code" | "em" | "font" | "html"
        | "i" | "input" | "nobr" | "s" | "small" | "strike" | "strong" | "tt" | "u"
);
local_set!(
    /// The elements of the head whose `charset`, `http-equiv` and `content` the tree builder
    /// looks at: where they name an encoding, html5ever's driver feeds its tokenizer anew.
    may_name_encoding = "base" | "basefont" | "bgsound" | "link" | "meta"
);

/// Which attributes of a start tag the tree builder needs, besides those the selectors and
/// fields read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BuilderReads {
    /// None.
    Nothing,
    /// Every one ([`attributes_read_by_builder`]).
    All,
    /// `charset`, `http-equiv` and `content` ([`may_name_encoding`]).
    EncodingHints,
}

impl BuilderReads {
    /// What the tree builder reads of a start tag named `name`.
    pub(super) fn of(name: &LocalName) -> BuilderReads {
        if attributes_read_by_builder(name) {
            BuilderReads::All
        } else if may_name_encoding(name) {
            BuilderReads::EncodingHints
        } else {
            BuilderReads::Nothing
        }
    }

    /// Whether the tree builder reads an attribute of this name (as the tokenizer reads it,
    /// before lower-casing).
    pub(super) fn attribute(self, name: &[u8]) -> bool {
        match self {
            BuilderReads::Nothing => false,
            BuilderReads::All => true,
            BuilderReads::EncodingHints => [&b"charset"[..], b"http-equiv", b"content"]
                .iter()
                .any(|hint| hint.eq_ignore_ascii_case(name)),
        }
    }
}

/// MathML's text integration points.
pub(super) fn mathml_text_integration_point(name: &QualName) -> bool {
    name.ns == ns!(mathml)
        && matches!(
            name.local,
            local_name!("mi")
                | local_name!("mo")
                | local_name!("mn")
                | local_name!("ms")
                | local_name!("mtext")
        )
}

/// SVG's HTML integration points (MathML's `annotation-xml` is never modelled).
pub(super) fn svg_html_integration_point(name: &QualName) -> bool {
    name.ns == ns!(svg)
        && matches!(
            name.local,
            local_name!("foreignObject") | local_name!("desc") | local_name!("title")
        )
}

/// The default scope's boundaries.
pub(super) fn default_scope(name: &QualName) -> bool {
    html_default_scope(name)
        || mathml_text_integration_point(name)
        || svg_html_integration_point(name)
}

/// The list item scope's boundaries.
pub(super) fn list_item_scope(name: &QualName) -> bool {
    default_scope(name)
        || (name.ns == ns!(html) && matches!(name.local, local_name!("ol") | local_name!("ul")))
}

/// The button scope's boundaries.
pub(super) fn button_scope(name: &QualName) -> bool {
    default_scope(name) || is_html(name, &local_name!("button"))
}

/// An SVG element name as the tree builder spells it (`clippath` becomes `clipPath`).
pub(super) fn adjust_svg_tag_name(name: &LocalName) -> Option<LocalName> {
    Some(match *name {
        local_name!("altglyph") => local_name!("altGlyph"),
        local_name!("altglyphdef") => local_name!("altGlyphDef"),
        local_name!("altglyphitem") => local_name!("altGlyphItem"),
        local_name!("animatecolor") => local_name!("animateColor"),
        local_name!("animatemotion") => local_name!("animateMotion"),
        local_name!("animatetransform") => local_name!("animateTransform"),
        local_name!("clippath") => local_name!("clipPath"),
        local_name!("feblend") => local_name!("feBlend"),
        local_name!("fecolormatrix") => local_name!("feColorMatrix"),
        local_name!("fecomponenttransfer") => local_name!("feComponentTransfer"),
        local_name!("fecomposite") => local_name!("feComposite"),
        local_name!("feconvolvematrix") => local_name!("feConvolveMatrix"),
        local_name!("fediffuselighting") => local_name!("feDiffuseLighting"),
        local_name!("fedisplacementmap") => local_name!("feDisplacementMap"),
        local_name!("fedistantlight") => local_name!("feDistantLight"),
        local_name!("fedropshadow") => local_name!("feDropShadow"),
        local_name!("feflood") => local_name!("feFlood"),
        local_name!("fefunca") => local_name!("feFuncA"),
        local_name!("fefuncb") => local_name!("feFuncB"),
        local_name!("fefuncg") => local_name!("feFuncG"),
        local_name!("fefuncr") => local_name!("feFuncR"),
        local_name!("fegaussianblur") => local_name!("feGaussianBlur"),
        local_name!("feimage") => local_name!("feImage"),
        local_name!("femerge") => local_name!("feMerge"),
        local_name!("femergenode") => local_name!("feMergeNode"),
        local_name!("femorphology") => local_name!("feMorphology"),
        local_name!("feoffset") => local_name!("feOffset"),
        local_name!("fepointlight") => local_name!("fePointLight"),
        local_name!("fespecularlighting") => local_name!("feSpecularLighting"),
        local_name!("fespotlight") => local_name!("feSpotLight"),
        local_name!("fetile") => local_name!("feTile"),
        local_name!("feturbulence") => local_name!("feTurbulence"),
        local_name!("foreignobject") => local_name!("foreignObject"),
        local_name!("glyphref") => local_name!("glyphRef"),
        local_name!("lineargradient") => local_name!("linearGradient"),
        local_name!("radialgradient") => local_name!("radialGradient"),
        local_name!("textpath") => local_name!("textPath"),
        _ => return None,
    })
}

/// An attribute name on an SVG element as the tree builder spells it (`viewbox` → `viewBox`).
pub(super) fn adjust_svg_attribute(name: &LocalName) -> Option<QualName> {
    let local = match *name {
        local_name!("attributename") => local_name!("attributeName"),
        local_name!("attributetype") => local_name!("attributeType"),
        local_name!("basefrequency") => local_name!("baseFrequency"),
        local_name!("baseprofile") => local_name!("baseProfile"),
        local_name!("calcmode") => local_name!("calcMode"),
        local_name!("clippathunits") => local_name!("clipPathUnits"),
        local_name!("diffuseconstant") => local_name!("diffuseConstant"),
        local_name!("edgemode") => local_name!("edgeMode"),
        local_name!("filterunits") => local_name!("filterUnits"),
        local_name!("glyphref") => local_name!("glyphRef"),
        local_name!("gradienttransform") => local_name!("gradientTransform"),
        local_name!("gradientunits") => local_name!("gradientUnits"),
        local_name!("kernelmatrix") => local_name!("kernelMatrix"),
        local_name!("kernelunitlength") => local_name!("kernelUnitLength"),
        local_name!("keypoints") => local_name!("keyPoints"),
        local_name!("keysplines") => local_name!("keySplines"),
        local_name!("keytimes") => local_name!("keyTimes"),
        local_name!("lengthadjust") => local_name!("lengthAdjust"),
        local_name!("limitingconeangle") => local_name!("limitingConeAngle"),
        local_name!("markerheight") => local_name!("markerHeight"),
        local_name!("markerunits") => local_name!("markerUnits"),
        local_name!("markerwidth") => local_name!("markerWidth"),
        local_name!("maskcontentunits") => local_name!("maskContentUnits"),
        local_name!("maskunits") => local_name!("maskUnits"),
        local_name!("numoctaves") => local_name!("numOctaves"),
        local_name!("pathlength") => local_name!("pathLength"),
        local_name!("patterncontentunits") => local_name!("patternContentUnits"),
        local_name!("patterntransform") => local_name!("patternTransform"),
        local_name!("patternunits") => local_name!("patternUnits"),
        local_name!("pointsatx") => local_name!("pointsAtX"),
        local_name!("pointsaty") => local_name!("pointsAtY"),
        local_name!("pointsatz") => local_name!("pointsAtZ"),
        local_name!("preservealpha") => local_name!("preserveAlpha"),
        local_name!("preserveaspectratio") => local_name!("preserveAspectRatio"),
        local_name!("primitiveunits") => local_name!("primitiveUnits"),
        local_name!("refx") => local_name!("refX"),
        local_name!("refy") => local_name!("refY"),
        local_name!("repeatcount") => local_name!("repeatCount"),
        local_name!("repeatdur") => local_name!("repeatDur"),
        local_name!("requiredextensions") => local_name!("requiredExtensions"),
        local_name!("requiredfeatures") => local_name!("requiredFeatures"),
        local_name!("specularconstant") => local_name!("specularConstant"),
        local_name!("specularexponent") => local_name!("specularExponent"),
        local_name!("spreadmethod") => local_name!("spreadMethod"),
        local_name!("startoffset") => local_name!("startOffset"),
        local_name!("stddeviation") => local_name!("stdDeviation"),
        local_name!("stitchtiles") => local_name!("stitchTiles"),
        local_name!("surfacescale") => local_name!("surfaceScale"),
        local_name!("systemlanguage") => local_name!("systemLanguage"),
        local_name!("tablevalues") => local_name!("tableValues"),
        local_name!("targetx") => local_name!("targetX"),
        local_name!("targety") => local_name!("targetY"),
        local_name!("textlength") => local_name!("textLength"),
        local_name!("viewbox") => local_name!("viewBox"),
        local_name!("viewtarget") => local_name!("viewTarget"),
        local_name!("xchannelselector") => local_name!("xChannelSelector"),
        local_name!("ychannelselector") => local_name!("yChannelSelector"),
        local_name!("zoomandpan") => local_name!("zoomAndPan"),
        _ => return None,
    };
    Some(QualName::new(None, ns!(), local))
}

/// An attribute name on a MathML element as the tree builder spells it.
pub(super) fn adjust_mathml_attribute(name: &LocalName) -> Option<QualName> {
    (*name == local_name!("definitionurl"))
        .then(|| QualName::new(None, ns!(), local_name!("definitionURL")))
}

/// A namespaced attribute on a foreign element (`xlink:href` becomes `href` in the XLink
/// namespace, with the prefix `xlink`).
pub(super) fn adjust_foreign_attribute(name: &LocalName) -> Option<QualName> {
    Some(match *name {
        local_name!("xlink:actuate") => xlink(local_name!("actuate")),
        local_name!("xlink:arcrole") => xlink(local_name!("arcrole")),
        local_name!("xlink:href") => xlink(local_name!("href")),
        local_name!("xlink:role") => xlink(local_name!("role")),
        local_name!("xlink:show") => xlink(local_name!("show")),
        local_name!("xlink:title") => xlink(local_name!("title")),
        local_name!("xlink:type") => xlink(local_name!("type")),
        local_name!("xml:lang") => QualName::new(
            Some(namespace_prefix!("xml")),
            ns!(xml),
            local_name!("lang"),
        ),
        local_name!("xml:space") => QualName::new(
            Some(namespace_prefix!("xml")),
            ns!(xml),
            local_name!("space"),
        ),
        local_name!("xmlns") => QualName::new(
            Some(namespace_prefix!("")),
            ns!(xmlns),
            local_name!("xmlns"),
        ),
        local_name!("xmlns:xlink") => QualName::new(
            Some(namespace_prefix!("xmlns")),
            ns!(xmlns),
            local_name!("xlink"),
        ),
        _ => return None,
    })
}

fn xlink(local: LocalName) -> QualName {
    QualName::new(Some(namespace_prefix!("xlink")), ns!(xlink), local)
}

/// The atom of a common tag or attribute name, written in lower case, without hashing it (the
/// fast tokenizer's shortcut; any other name is interned as html5ever interns it).
pub(super) fn common_name(name: &[u8]) -> Option<LocalName> {
    Some(match name {
        b"a" => local_name!("a"),
        b"abbr" => local_name!("abbr"),
        b"action" => local_name!("action"),
        b"address" => local_name!("address"),
        b"align" => local_name!("align"),
        b"alt" => local_name!("alt"),
        b"article" => local_name!("article"),
        b"aside" => local_name!("aside"),
        b"async" => local_name!("async"),
        b"b" => local_name!("b"),
        b"base" => local_name!("base"),
        b"blockquote" => local_name!("blockquote"),
        b"body" => local_name!("body"),
        b"border" => local_name!("border"),
        b"br" => local_name!("br"),
        b"button" => local_name!("button"),
        b"caption" => local_name!("caption"),
        b"center" => local_name!("center"),
        b"charset" => local_name!("charset"),
        b"class" => local_name!("class"),
        b"code" => local_name!("code"),
        b"col" => local_name!("col"),
        b"colgroup" => local_name!("colgroup"),
        b"colspan" => local_name!("colspan"),
        b"content" => local_name!("content"),
        b"crossorigin" => local_name!("crossorigin"),
        b"dd" => local_name!("dd"),
        b"defer" => local_name!("defer"),
        b"div" => local_name!("div"),
        b"dl" => local_name!("dl"),
        b"dt" => local_name!("dt"),
        b"em" => local_name!("em"),
        b"fieldset" => local_name!("fieldset"),
        b"figure" => local_name!("figure"),
        b"footer" => local_name!("footer"),
        b"for" => local_name!("for"),
        b"form" => local_name!("form"),
        b"h1" => local_name!("h1"),
        b"h2" => local_name!("h2"),
        b"h3" => local_name!("h3"),
        b"h4" => local_name!("h4"),
        b"h5" => local_name!("h5"),
        b"h6" => local_name!("h6"),
        b"head" => local_name!("head"),
        b"header" => local_name!("header"),
        b"height" => local_name!("height"),
        b"hr" => local_name!("hr"),
        b"href" => local_name!("href"),
        b"html" => local_name!("html"),
        b"i" => local_name!("i"),
        b"id" => local_name!("id"),
        b"iframe" => local_name!("iframe"),
        b"img" => local_name!("img"),
        b"input" => local_name!("input"),
        b"label" => local_name!("label"),
        b"lang" => local_name!("lang"),
        b"legend" => local_name!("legend"),
        b"li" => local_name!("li"),
        b"link" => local_name!("link"),
        b"loading" => local_name!("loading"),
        b"main" => local_name!("main"),
        b"maxlength" => local_name!("maxlength"),
        b"media" => local_name!("media"),
        b"meta" => local_name!("meta"),
        b"method" => local_name!("method"),
        b"name" => local_name!("name"),
        b"nav" => local_name!("nav"),
        b"noscript" => local_name!("noscript"),
        b"ol" => local_name!("ol"),
        b"onclick" => local_name!("onclick"),
        b"option" => local_name!("option"),
        b"p" => local_name!("p"),
        b"path" => local_name!("path"),
        b"placeholder" => local_name!("placeholder"),
        b"pre" => local_name!("pre"),
        b"property" => local_name!("property"),
        b"rel" => local_name!("rel"),
        b"role" => local_name!("role"),
        b"rowspan" => local_name!("rowspan"),
        b"script" => local_name!("script"),
        b"section" => local_name!("section"),
        b"select" => local_name!("select"),
        b"size" => local_name!("size"),
        b"small" => local_name!("small"),
        b"source" => local_name!("source"),
        b"span" => local_name!("span"),
        b"src" => local_name!("src"),
        b"srcset" => local_name!("srcset"),
        b"strong" => local_name!("strong"),
        b"style" => local_name!("style"),
        b"svg" => local_name!("svg"),
        b"tabindex" => local_name!("tabindex"),
        b"table" => local_name!("table"),
        b"target" => local_name!("target"),
        b"tbody" => local_name!("tbody"),
        b"td" => local_name!("td"),
        b"textarea" => local_name!("textarea"),
        b"tfoot" => local_name!("tfoot"),
        b"th" => local_name!("th"),
        b"thead" => local_name!("thead"),
        b"time" => local_name!("time"),
        b"title" => local_name!("title"),
        b"tr" => local_name!("tr"),
        b"type" => local_name!("type"),
        b"u" => local_name!("u"),
        b"ul" => local_name!("ul"),
        b"valign" => local_name!("valign"),
        b"value" => local_name!("value"),
        b"width" => local_name!("width"),
        _ => return None,
    })
}
