"""The C tokenizer's lines and comments: the self-check and the rule checks name lines of
the source, so a comment that spans lines must move every later token's line."""

from __future__ import annotations

from lassi_ee.c_syntax import tokenize


def _words(code: str) -> list[tuple[str, int]]:
    return [(t.text, t.line) for t in tokenize(code) if t.kind == "word"]


def test_a_block_comment_over_lines_moves_the_later_lines_and_is_dropped():
    code = "int a;\n/* one\n   two\n   three */ int b;\nint c;\n"
    assert _words(code) == [("int", 1), ("a", 1), ("int", 4), ("b", 4), ("int", 5), ("c", 5)]
    assert [t.text for t in tokenize(code)] == ["int", "a", ";", "int", "b", ";", "int", "c", ";"]


def test_a_block_comment_inside_a_directive_keeps_the_directive_one_token():
    code = "#define N /* the\n size */ 64\nint after;\n"
    tokens = tokenize(code)
    directive = next(t for t in tokens if t.kind == "directive")
    assert directive.line == 1 and directive.text.endswith("64")
    assert _words(code) == [("int", 3), ("after", 3)]


def test_an_unclosed_block_comment_runs_to_the_end_of_the_text():
    code = "int kept;\n/* never closed\nint lost;\n"
    assert _words(code) == [("int", 1), ("kept", 1)]
    directive_code = "#define X 1 /* never closed\nint lost;\n"
    assert [t.kind for t in tokenize(directive_code)] == ["directive"]
