//! Names for the fast tokenizer (`super::fast`): the atoms of common tag and attribute names,
//! and the start tags whose attributes html5ever 0.40's tree builder reads itself (so that the
//! tokenizer keeps all of theirs). This module holds data only; it decides nothing.

use html5ever::{LocalName, local_name};

/// Start tags whose attributes the tree builder itself looks at: the formatting elements
/// (compared and copied), `<html>` and `<body>` (merged), `<input>` (`type` in a table),
/// `<font>` (in SVG or MathML) and `<meta>` (a charset: the driver then feeds the tokenizer
/// anew, which drops a byte order mark there). The others it reads change nothing the stream
/// keeps: `<template shadowrootmode>` (a template is irregular anyway), `annotation-xml`'s
/// `encoding` (scraper's sink, like ours, never makes it an integration point) and `form`
/// (form association, which neither sink keeps). Any namespace: the tokenizer sees tags
/// before the tree builder places them.
pub(super) fn attributes_read_by_builder(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("a")
            | local_name!("b")
            | local_name!("big")
            | local_name!("body")
            | local_name!("code")
            | local_name!("em")
            | local_name!("font")
            | local_name!("html")
            | local_name!("i")
            | local_name!("input")
            | local_name!("meta")
            | local_name!("nobr")
            | local_name!("s")
            | local_name!("small")
            | local_name!("strike")
            | local_name!("strong")
            | local_name!("tt")
            | local_name!("u")
    )
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
