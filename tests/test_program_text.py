"""Two texts are the same program when only comments and layout differ."""

from __future__ import annotations

import pytest

from lassi_ee.tools.program_text import normalized, same_program

PROGRAM = """#include <cstdio>
#define N 10
int main() {
  int total = 0;  // the sum
  for (int i = 0; i < N; ++i) total += i;
  printf("total %d\\n", total);
  return 0;
}
"""


def test_comments_and_layout_do_not_make_a_new_program():
    restyled = """#include <cstdio>
#define N 10
/* a new banner comment */
int main()
{
    int total=0;
    for (int i=0; i<N; ++i)   total += i;   // reformatted
    printf("total %d\\n", total);
    return 0;
}
"""
    assert same_program(PROGRAM, restyled)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"total %d\\n"', '"total  %d\\n"'),  # a string literal is kept verbatim
        ("int total", "inttotal"),  # a space between two words is significant
        ("i < N", "i <= N"),
        ("#define N 10\nint main", "#define N 10 int main"),  # a directive ends at its line
        ("'\\n'", "' '"),
    ],
)
def test_what_the_compiler_sees_stays_apart(old, new):
    program = PROGRAM + "char c = '\\n';\n"
    changed = program.replace(old, new, 1)
    assert changed != program
    assert not same_program(program, changed)


def test_comment_markers_inside_strings_are_not_comments():
    a = 'const char* url = "http://x"; int y = 1;'
    b = 'const char* url = "http://x"; int y = 2;'
    assert not same_program(a, b)
    assert "http://x" in normalized(a)


def test_raw_strings_and_line_continuations():
    a = 'auto s = R"(keep  // this)"; int z = 0;'
    assert "keep  // this" in normalized(a)
    continued = "#define TWICE(x) \\\n  ((x) + (x))\nint w = TWICE(1);"
    assert same_program(continued, "#define TWICE(x) ((x) + (x))\nint w = TWICE(1);")
