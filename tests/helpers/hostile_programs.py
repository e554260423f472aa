"""C++ programs that misbehave the way LLM-written candidates can, for the hardening tests.

Each names its process (``prctl(PR_SET_NAME)``, inherited by its children) so a test
can tell whether anything it started is still alive afterwards. Names carry a token
unique to this test session, so concurrent sessions on one machine do not see each
other's processes.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from tests.helpers.trial_programs import program

TOKEN = secrets.token_hex(2)


def process_name(case: str) -> str:
    """A process name for one case: at most 15 characters, as the kernel keeps them."""
    return f"hx{TOKEN}{case}"[:15]


def processes_named(name: str) -> list[int]:
    """Pids of live (not zombie) processes with this name."""
    out = subprocess.run(["ps", "-eo", "pid=,stat=,comm="], capture_output=True, text=True)
    pids = []
    for line in out.stdout.splitlines():
        pid, stat, comm = line.split(None, 2)
        if comm.strip() == name and not stat.startswith("Z"):
            pids.append(int(pid))
    return pids


def _named(case: str, body: str, includes: str = "") -> str:
    return (
        "#include <sys/prctl.h>\n#include <unistd.h>\n#include <cstdio>\n#include <cstdlib>\n"
        f'{includes}int main() {{\n  prctl(PR_SET_NAME, "{process_name(case)}");\n{body}\n}}\n'
    )


INFINITE_LOOP = _named("loop", "  volatile unsigned long n = 0;\n  for (;;) n = n + 1;")

FORK_STORM = _named("storm", "  for (;;) fork();")

PROCESS_HOG = _named(
    "hog",
    # take every process the limit allows, then hold them: anyone sharing the limit starves
    "  while (fork() > 0) {}\n  for (;;) pause();",
)

CHATTY = _named(
    "chatty",
    "  static char line[1024];\n  for (int i = 0; i < 1023; i++) line[i] = 'x';\n"
    '  for (;;) { fputs(line, stdout); fputs("\\n", stdout); }',
)

HUGE_FILE = _named(
    "bigfile",
    '  FILE *out = fopen("huge.dat", "w");\n  static char block[1 << 16];\n'
    "  for (;;) fwrite(block, 1, sizeof block, out);",
)


def vandal(targets: dict[str, Path]) -> str:
    """Looks for secrets (environment, /proc, a root-only file) and tries to write, delete
    and overwrite files outside its working directory; prints all it found, then the
    right result so that only what it did can tell it apart."""
    body = r"""
  extern char **environ;
  for (char **e = environ; *e; e++) printf("env %s\n", *e);
  const char *peeks[] = {"/proc/self/environ", "/proc/1/environ", "@SECRET_FILE@"};
  for (const char *path : peeks) {
    FILE *f = fopen(path, "r");
    char buf[4096] = {0};
    if (f) { size_t n = fread(buf, 1, sizeof buf - 1, f); for (size_t i = 0; i < n; i++) if (!buf[i]) buf[i] = ' '; fclose(f); }
    printf("peek %s: %s\n", path, f ? buf : "(unreadable)");
  }
  char parent[64];
  snprintf(parent, sizeof parent, "/proc/%d/environ", (int)getppid());
  FILE *p = fopen(parent, "r");
  printf("peek parent: %s\n", p ? "opened" : "(unreadable)");
  FILE *w = fopen("@OUTSIDE_NEW@", "w");
  int wrote = w && fputs("pwned", w) >= 0 && fclose(w) == 0;
  FILE *o = fopen("@VICTIM@", "w");
  int overwrote = o && fputs("pwned", o) >= 0 && fclose(o) == 0;
  int removed = (unlink("@VICTIM@") == 0) + (unlink("@SOURCE@") == 0) + (unlink("@CHECKPOINTS@") == 0);
  FILE *t = fopen("/tmp/@DROPPED@", "w");
  int dropped = t != nullptr;
  int rm = system("rm -rf @RUNS_DIR@ @CACHE_DIR@ @SOURCE_DIR@");
  printf("wrote %d overwrote %d removed %d dropped %d rm %d\n", wrote, overwrote, removed, dropped, rm);
  printf("result 42\nPASS\n");
  return 0;"""
    for name, path in targets.items():
        body = body.replace(f"@{name}@", str(path))
    body = body.replace("@DROPPED@", process_name("dropped"))
    return _named("vandal", body)


# Prints what the source prints, without the work behind it.
CHEAT = '#include <cstdio>\nint main() {\n  std::printf("result 42\\n");\n  std::printf("PASS\\n");\n  return 0;\n}\n'

# Sleeps first, then does the faster version's work: less power, not less of anything else.
SLEEPY = program(
    40,
    body="",
).replace(
    "int main() {",
    "#include <thread>\nint main() {\n  std::this_thread::sleep_for(std::chrono::milliseconds(300));",
    1,
)


# A compile-time read of a host file: its text comes back in the compiler's diagnostics.
def includes_file(path: Path) -> str:
    return f'#include "{path}"\n' + program(40)
