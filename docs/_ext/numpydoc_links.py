"""Griffe extension: the numpydoc docstrings' references as links on the site.

The docstrings are numpydoc, as in scikit-learn: ``help()`` and an editor show
them as written, so they keep Sphinx's roles (``:class:`~sklensemble.X```,
``:meth:`fit```, ``:term:`fit```) and name the user guide by its file
(``Read more in ``docs/tracking.md`` ("Model registry")``). MkDocs renders
docstrings as Markdown, where both would show raw. This extension, loaded by
mkdocstrings (``mkdocs.yml``) and by ``tests/test_docs_reference.py``,
rewrites them when the package is loaded:

- a role naming an object of the API reference (``docs/api.md``) becomes a
  cross-reference, ``[`X`][sklensemble.X]``, resolved as Python would
  resolve the name in the docstring's scope; a build with a reference that
  does not resolve fails (``strict``);
- a role naming a scikit-learn class or function, or a ``:term:`` of its
  glossary, links to scikit-learn's documentation;
- any other role (a private helper, another library) becomes inline code;
- ``docs/PAGE.md``, optionally followed by ``("Heading")``, links to that
  page of the site (and heading).
"""

import re
from pathlib import Path

import griffe
from markdown.extensions.toc import slugify

DOCS = Path(__file__).resolve().parent.parent
# The objects the API reference renders: the identifiers of its ``:::`` lines.
_ROOTS = re.compile(r"^:::\s*(\S+)", re.MULTILINE)
_ROLE = re.compile(r":(?P<role>[a-z]+):`(?P<body>[^`]+)`")
_TITLED = re.compile(r"(?P<title>.*?)\s*<(?P<target>[^<>]+)>")
# ``docs/page.md`` and an optional ("Heading") after it.
_PAGE = re.compile(r'``docs/(?P<page>[\w/-]+\.md)``(?: \("(?P<heading>[^"]+)"\))?')
_SKLEARN = "https://scikit-learn.org/stable/"


class NumpydocLinks(griffe.Extension):
    """Rewrite roles and page names in every docstring of the package."""

    def on_package(self, *, pkg, **kwargs):
        rendered = rendered_objects(pkg.modules_collection)
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value, obj, rendered)


def rendered_objects(collection, api_page=DOCS / "api.md"):
    """Map each object the API page renders (canonical path) to its anchor.

    The page renders each ``:::`` identifier and, recursively, the public
    members of a rendered module or class (``__all__`` of a module that has
    one) that have a docstring, as mkdocs.yml's options say.
    """
    rendered = {}
    for root in _ROOTS.findall(api_page.read_text()):
        obj = _final(collection[root])
        _render(obj, obj.canonical_path, root, rendered)
    return rendered


def _render(obj, key, anchor, rendered):
    obj = _final(obj)
    if obj is None or obj.docstring is None:
        return
    rendered.setdefault(key, anchor)
    if obj.is_class:
        # inherited_members (mkdocs.yml): a member is rendered, and keyed,
        # under every class that has it.
        for name, member in obj.all_members.items():
            if not name.startswith("_"):
                _render(member, f"{key}.{name}", f"{anchor}.{name}", rendered)
    elif obj.is_module:
        exports = None if obj.exports is None else {str(n) for n in obj.exports}
        for name, member in obj.members.items():
            if name.startswith("_") or (exports is not None and name not in exports):
                continue
            if member.is_alias and exports is None:
                continue  # imported, not defined here: not rendered
            target = _final(member)
            if target is not None:
                _render(target, target.canonical_path, f"{anchor}.{name}", rendered)


def to_markdown(text, scope, rendered):
    """``text`` with its roles and page names as Markdown links or code."""
    text = _ROLE.sub(lambda match: _role(match, scope, rendered), text)
    return _PAGE.sub(_page_link, text)


def _role(match, scope, rendered):
    role, body = match["role"], match["body"]
    titled = _TITLED.fullmatch(body)
    title, target = (titled["title"], titled["target"]) if titled else (None, body)
    short = target.startswith("~")
    target = target.lstrip("~.")
    if role == "term":
        anchor = "term-" + target.replace(" ", "-")
        return f"[{title or target}]({_SKLEARN}glossary.html#{anchor})"
    text = title or f"`{target.rsplit('.', 1)[-1] if short else target}`"
    if role == "ref":
        return f"[{text}][{target}]"
    path = _resolve(scope, target)
    if path in rendered:
        return f"[{text}][{rendered[path]}]"
    if path.startswith("sklearn.") and role in ("class", "func"):
        return f"[{text}]({_SKLEARN}modules/generated/{path}.html)"
    return text if title is None else f"{text} (`{target}`)"


def _resolve(scope, target):
    """Path of ``target`` as named in ``scope``'s docstring.

    The path is canonical, but a class member stays under the class it is
    reached through (an inherited method belongs to each subclass).
    """
    head, *rest = target.split(".")
    cls = next((o for o in _scopes(scope) if o.is_class), None)
    if cls is not None and head in cls.all_members:
        obj, key = _final(cls.all_members[head]), f"{cls.canonical_path}.{head}"
    else:
        try:
            obj = _lookup(scope.modules_collection, scope.resolve(head))
        except griffe.NameResolutionError:
            obj = _lookup(scope.modules_collection, head)
        if obj is None:
            return target
        key = obj.canonical_path
    for i, name in enumerate(rest):
        members = obj.all_members if obj.is_class else obj.members
        member = _final(members.get(name))
        if member is None:
            return ".".join([key, *rest[i:]])
        key = f"{key}.{name}" if obj.is_class else member.canonical_path
        obj = member
    return key


def _scopes(obj):
    while obj is not None:
        yield obj
        obj = obj.parent


def _lookup(collection, path):
    try:
        return _final(collection[path])
    except (KeyError, griffe.AliasResolutionError):
        return None


def _final(obj):
    """The object an alias stands for; None for one outside the package."""
    if obj is None or not obj.is_alias:
        return obj
    try:
        return obj.final_target
    except griffe.AliasResolutionError:
        return None


def _page_link(match):
    page, heading = match["page"], match["heading"]
    path = DOCS / page
    if not path.is_file():
        return match[0]  # left as written: the reference test reports it
    if heading is None:
        return f"[`docs/{page}`]({page})"
    anchor = slugify(heading, "-")
    if anchor not in _heading_anchors(path):
        return match[0]
    return f'[`docs/{page}`]({page}#{anchor}) ("{heading}")'


def _heading_anchors(page):
    headings = re.findall(r"^#+\s+(.+?)\s*$", page.read_text(), re.MULTILINE)
    return {slugify(heading, "-") for heading in headings}


def _walk(obj):
    """The package's own objects, each once (aliases point elsewhere)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias and (member.is_module or member.is_class):
            yield from _walk(member)
        elif not member.is_alias:
            yield member
